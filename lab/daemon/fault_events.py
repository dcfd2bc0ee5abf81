"""Faults on the controller's event bus: every fault applied through ``POST
/lab/v1/faults/<action>`` (cut, reset, restore, kill, stop-node, start-node, and any action
added later) publishes one ``fault`` event once it succeeded.

A middleware rather than a call in each handler: a fault kind added to ``lab_api`` is in the
feed without touching it. ``fault_event`` (pure) shapes the event from the request's body
and the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Json = dict[str, Any]
FAULTS_PATH = "/lab/v1/faults/"
# Request fields copied into the event as they are (the rest is the answer's).
_FIELDS = ("family", "mode", "node", "daemon", "direction")
log = logging.getLogger("controller")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_event(action: str, body: Json, answer: Json,
                link: tuple[str, str] | None) -> Json | None:
    """The ``fault`` event of a successful fault request; None when it changed nothing
    (a restore with nothing to restore). ``link`` is (id, name) of the link it named."""
    ev: Json = {"type": "fault", "action": action}
    if link is not None:
        ev |= {"link_id": link[0], "link_name": link[1]}
    ev |= {k: body[k] for k in _FIELDS if isinstance(body.get(k), str | int | float)}
    if action == "cut":
        ev["families"] = answer.get("cut") or []
        ev["mode"] = answer.get("mode", ev.get("mode", "bgp"))
    elif action == "reset":
        ev["families"] = answer.get("reset") or []
    elif action == "restore":
        cuts = answer.get("restored_cuts") or []
        # Whatever lists the answer has (cuts, daemons, nodes, and kinds added later):
        # none holding anything means nothing was restored.
        lists = {k: v for k, v in answer.items() if isinstance(v, list) and k != "restored"}
        if not any(lists.values()):
            return None
        ev |= {"restored_cuts": [], "restarted": [], "started_nodes": []} | lists
        names = {str(c.get("link_name")) for c in cuts}
        if link is None and len(names) == 1:
            ev["link_name"] = names.pop()
            ev["link_id"] = cuts[0].get("link_id")
    elif action == "kill":
        ev["killed"] = answer.get("killed") or []
    elif action in ("stop-node", "start-node"):
        ev["nodes"] = answer.get("stopped") or answer.get("started") or []
    else:  # a kind this module does not know yet: its answer as it is
        ev["result"] = answer
    return ev


def middleware(publish: Callable[[Json], None],
               link_of: Callable[[Json], tuple[str, str] | None]) -> Any:
    """The aiohttp middleware publishing fault events; ``link_of(body)`` names the link a
    request means (None: it names none, or an unknown one)."""

    @web.middleware
    async def fault_events(request: web.Request, handler: Handler) -> web.StreamResponse:
        resp = await handler(request)
        if (request.method != "POST" or not request.path.startswith(FAULTS_PATH)
                or resp.status != 200 or not isinstance(resp, web.Response)):
            return resp
        try:
            raw = await request.read()  # aiohttp keeps the body the handler read
            body = json.loads(raw) if raw.strip() else {}
            answer = json.loads(resp.text or "{}")
            if isinstance(body, dict) and isinstance(answer, dict):
                action = request.path[len(FAULTS_PATH):].strip("/")
                ev = fault_event(action, body, answer, link_of(body))
                if ev is not None:
                    publish(ev)
        except Exception:  # the fault is applied: a feed problem must not fail it
            log.exception("cannot publish the fault event of %s", request.path)
        return resp

    return fault_events
