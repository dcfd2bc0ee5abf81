"""The lab-only HTTP API (/lab/v1/...): nodes, routes, customer announcements, faults.

Scaleway's API has no such resources; they are how a rehearsal plays the customer's and the
circuit's part. Mounted by the daemon next to the v1beta1 routes (same token, same errors);
the partner's side and the event stream are ``partner_api`` and ``events_api``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from controller.api.http import json_body
from controller.api.middleware import json_response
from controller.core.model import ArgumentError, Link, NotFound, PreconditionFailed
from controller.service.ports import speaker_name
from lab.dataplane import faults, iproute
from lab.routers import registry
from lab.routers.kind import CustomerRouter

if TYPE_CHECKING:
    from lab.daemon.main import LabDaemon


class LabApi:
    def __init__(self, daemon: LabDaemon):
        self.d = daemon

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/lab/v1/nodes", self.h_nodes)
        app.router.add_get("/lab/v1/routes", self.h_routes)
        app.router.add_post("/lab/v1/customer/announce", self.h_announce)
        app.router.add_post("/lab/v1/customer/withdraw", self.h_withdraw)
        app.router.add_get("/lab/v1/customer/routes", self.h_customer_routes)
        app.router.add_post("/lab/v1/faults/cut", self.h_cut)
        app.router.add_post("/lab/v1/faults/restore", self.h_restore)
        app.router.add_post("/lab/v1/faults/reset", self.h_reset)
        app.router.add_get("/lab/v1/faults", self.h_faults)

    def openapi(self) -> dict[str, Any]:
        return {}  # not in the document: the lab's CLI and tests are their only clients

    async def h_nodes(self, request: web.Request) -> web.Response:
        nodes = [{"name": n.name, "netns": n.netns, "role": n.role,
                  "addresses": self.d.topo.node_addresses(n)} for n in self.d.topo.nodes]
        return json_response({"lab": self.d.lab, "nodes": nodes})

    async def h_routes(self, request: web.Request) -> web.Response:
        wanted = request.query.get("node")
        names = [n.name for n in self.d.topo.nodes]
        if wanted is not None and wanted not in names:
            raise NotFound("node", wanted)
        out = {}
        for n in self.d.topo.nodes:
            if wanted in (None, n.name):
                out[n.name] = await _kernel_routes(n.netns)
        return json_response({"routes": out})

    def _customer(self, body: dict[str, Any]) -> CustomerRouter:
        name = body.get("customer")
        if name is None:
            if len(self.d.customers) != 1:
                raise ArgumentError.one("customer", "required",
                                        f"the lab has {len(self.d.customers)} customers: "
                                        f"name one of {', '.join(sorted(self.d.customers))}")
            return next(iter(self.d.customers.values()))
        if name not in self.d.customers:
            raise NotFound("customer", str(name))
        return self.d.customers[name]

    # --- events --------------------------------------------------------------------------
    def _link_arg(self, router: CustomerRouter, body: dict[str, Any]) -> dict[str, Any]:
        link = body.get("link")
        if link is None:
            return {}
        kind = registry.get(self.d.topo.customer(router.name).router)
        if not kind.per_link_sessions:
            able = ", ".join(k.name for k in registry.kinds() if k.per_link_sessions)
            raise ArgumentError.one("link", "constraint",
                                    f"per-link announcements need a customer router kind with "
                                    f"per-link sessions ({able}); this one is {kind.name}")
        if not any(s.link == link for s in router.sessions):
            raise NotFound("customer_link", str(link))
        return {"link": link}

    async def h_announce(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        router = self._customer(body)
        n = await router.announce(_list(body, "prefixes"), _list(body, "communities"),
                                  **self._link_arg(router, body))
        return json_response({"announced": n})

    async def h_withdraw(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        router = self._customer(body)
        n = await router.withdraw(_list(body, "prefixes"), **self._link_arg(router, body))
        return json_response({"withdrawn": n})

    async def h_customer_routes(self, request: web.Request) -> web.Response:
        router = self._customer(dict(request.query))
        loop = asyncio.get_running_loop()
        learned = await loop.run_in_executor(None, router.learned)
        sessions = await loop.run_in_executor(None, router.sessions_state)
        details = await loop.run_in_executor(None, router.session_details)
        out = {"announced": router.announced(), "learned": learned, "sessions": sessions}
        if details is not None:
            out["session_details"] = details
        return json_response(out)

    def _fault_link(self, body: dict[str, Any]) -> Link:
        link_ref = body.get("link_id")
        links = self.d.ctrl.links()
        if link_ref is None and len(links) == 1:
            return links[0]
        match = [lk for lk in links if link_ref in (lk.id, lk.name)]
        if not match:
            raise NotFound("link", str(link_ref))
        return match[0]

    def _fault_target(self, body: dict[str, Any]) -> list[tuple[str, str, str]]:
        link = self._fault_link(body)
        family = body.get("family", "both")
        if family not in ("ipv4", "ipv6", "both"):
            raise ArgumentError.one("family", "constraint", "must be ipv4, ipv6 or both")
        fams = ("ipv4", "ipv6") if family == "both" else (family,)
        placement = self.d.wiring.placement(link.id)
        if placement is None:
            raise PreconditionFailed("not_provisioned", "the link has no data plane yet")
        return [(placement.scw_netns, link.peer_bgp_config.address(f), f) for f in fams]

    async def h_cut(self, request: web.Request) -> web.Response:
        """``mode: bgp`` (default) drops the session's BGP packets only; ``mode: link`` drops
        everything on the link's interface (a silent circuit failure)."""
        body = await json_body(request)
        targets = self._fault_target(body)
        mode = body.get("mode", "bgp")
        if mode not in ("bgp", "link"):
            raise ArgumentError.one("mode", "constraint", "must be bgp or link")
        ifname = None
        if mode == "link":
            name = self.d.wiring.link_name(self._fault_link(body).id) or ""
            ifname = self.d.topo.link(name).scw_ifname
        for netns, peer, _fam in targets:
            faults.cut(netns, peer, ifname)
        return json_response({"cut": [f for _, _, f in targets], "mode": mode})

    async def h_restore(self, request: web.Request) -> web.Response:
        targets = self._fault_target(await json_body(request))
        for netns, peer, _fam in targets:
            faults.restore(netns, peer)
        return json_response({"restored": [f for _, _, f in targets]})

    async def h_reset(self, request: web.Request) -> web.Response:
        """A loud failure: the session is closed with a NOTIFICATION and kept down (cut)."""
        body = await json_body(request)
        targets = self._fault_target(body)
        link = self._fault_link(body)
        for netns, peer, _fam in targets:
            faults.cut(netns, peer)
            if self.d.hub.connected(speaker_name(link.id)):
                await self.d.hub.teardown(speaker_name(link.id), peer)
        return json_response({"reset": [f for _, _, f in targets]})

    async def h_faults(self, request: web.Request) -> web.Response:
        out = []
        for link in self.d.ctrl.links():
            placement = self.d.wiring.placement(link.id)
            if placement is None:
                continue
            for peer in faults.active_cuts(placement.scw_netns):
                fam = "ipv6" if ":" in peer else "ipv4"
                out.append({"link_id": link.id, "link_name": link.name, "family": fam,
                            "peer": peer})
        return json_response({"faults": out})


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ArgumentError.one(key, "format", "must be a list")
    return value


async def _kernel_routes(netns: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await asyncio.to_thread(iproute.routes, netns)]
