"""The controller's event bus: subscribers get every event published, in order; the latest
events (``controller.core.feed.Ring``, bounded) are kept so that a subscriber can start with
what happened since a given event or time.

Link status changes are published per field (``status``, ``bgp_v4_status``,
``bgp_v6_status``) as they happen; the first status seen for a link that existed at start-up
is not a change. The other kinds are shaped by ``controller.core.feed``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from controller.core.feed import RING_SIZE, Ring, Since

Json = dict[str, Any]
Statuses = tuple[str, str, str]  # link status, BGP v4 status, BGP v6 status
STATUS_FIELDS = ("status", "bgp_v4_status", "bgp_v6_status")


class EventBus:
    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self._subscribers: set[asyncio.Queue[Json]] = set()
        self._last: dict[str, Statuses] = {}  # link id -> statuses last published
        self.ring = Ring(ring_size)

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
        event = self.ring.add(event, time.time())
        for q in list(self._subscribers):
            q.put_nowait(event)

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
