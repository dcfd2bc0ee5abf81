"""The controller's event bus: subscribers get every event published, in order; the latest
events (``controller.core.feed.Ring``, bounded) are kept so that a subscriber can start with
what happened since a given event or time.

A burst of routes is a few events: ``routes`` publishes a (link, family, cause)'s event at
once, then merges the next ones into one held for ROUTES_EVERY seconds; held events go out
when that time is up, or before any other event (the feed keeps its order).

Link status changes are published per field (``status``, ``bgp_v4_status``,
``bgp_v6_status``) as they happen; the first status seen for a link that existed at start-up
is not a change. The other kinds are shaped by ``controller.core.feed``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from controller.core.feed import RING_SIZE, Ring, Since, merge_routes

Json = dict[str, Any]
Statuses = tuple[str, str, str]  # link status, BGP v4 status, BGP v6 status
STATUS_FIELDS = ("status", "bgp_v4_status", "bgp_v6_status")
ROUTES_EVERY = 1.0  # seconds: at most one routes event per (link, family, cause) as often
RouteKey = tuple[str, str, str]


class EventBus:
    def __init__(self, ring_size: int = RING_SIZE, routes_every: float = ROUTES_EVERY) -> None:
        self._subscribers: set[asyncio.Queue[Json]] = set()
        self._last: dict[str, Statuses] = {}  # link id -> statuses last published
        self.ring = Ring(ring_size)
        self.routes_every = routes_every
        self._held: dict[RouteKey, Json] = {}  # routes events waiting for their time
        self._sent: dict[RouteKey, float] = {}  # when each key's last one went out

    async def subscribe(self, since: Since | None = None) -> asyncio.Queue[Json]:
        """A queue of the events from now on; with ``since``, the kept ones it admits
        first (nothing is published in between: no await here)."""
        q: asyncio.Queue[Json] = asyncio.Queue()
        for ev in self.ring.since(since) if since is not None else ():
            q.put_nowait(ev)
        self._subscribers.add(q)
        return q

    async def unsubscribe(self, q: asyncio.Queue[Json]) -> None:
        self._subscribers.discard(q)

    def replay(self, since: Since) -> list[Json]:
        return self.ring.since(since)

    def publish(self, event: Json) -> None:
        self.flush()  # held routes events happened before this one
        self._emit(event)

    def _emit(self, event: Json) -> None:
        event = self.ring.add(event, time.time())
        for q in list(self._subscribers):
            q.put_nowait(event)

    def routes(self, event: Json) -> None:
        """A routes event: out now, or merged into the one held for its key (O(reasons))."""
        key = (str(event.get("link_id")), str(event.get("family")), str(event.get("cause")))
        held = self._held.get(key)
        if held is not None:
            self._held[key] = merge_routes(held, event)
            return
        now = time.monotonic()
        wait = self._sent.get(key, -self.routes_every) + self.routes_every - now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            wait = 0.0  # no loop to come back later: out now
        if wait <= 0:
            self.flush()
            self._sent[key] = now
            self._emit(event)
            return
        self._held[key] = event
        loop.call_later(wait, self._flush_key, key)

    def _flush_key(self, key: RouteKey) -> None:
        event = self._held.pop(key, None)
        if event is not None:
            self._sent[key] = time.monotonic()
            self._emit(event)

    def flush(self) -> None:
        """Publish the held routes events now (before another event, or at close)."""
        for key in list(self._held):
            self._flush_key(key)

    def know(self, link_id: str, statuses: Statuses) -> None:
        """The link's statuses at start-up: what later changes are measured against."""
        self._last[link_id] = statuses

    def forget(self, link_id: str) -> None:
        self._last.pop(link_id, None)

    def status(self, link_id: str, link_name: str, statuses: Statuses) -> None:
        """Publish the fields that differ from the link's last statuses."""
        old = self._last.get(link_id)
        if old == statuses:
            return
        self._last[link_id] = statuses
        for field, before, after in zip(STATUS_FIELDS, old or (None,) * 3, statuses,
                                        strict=True):
            if before != after:
                self.publish({"type": "status", "link_id": link_id, "link_name": link_name,
                              "field": field, "old": before, "new": after})
