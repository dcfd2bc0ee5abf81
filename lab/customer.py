"""The customer's router when it is ExaBGP: announces the on-prem prefixes, installs what it learns.

This is the customer's side of the link, not Scaleway's: it accepts everything Scaleway sends
(its own policy is not the lab's subject) and announces what the scenario or the user asks,
optionally tagged with a preference community.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.events import Announced, Event, ReplayDone, RouteUpdate, SessionState
from controller.exabgp_config import NeighborConfig, render_config
from controller.kernel import KernelRoute, RouteTable
from controller.model import SCW_ASN, ArgumentError
from controller.prefixes import PrefixError, family_of, parse_prefix
from controller.reconcile import diff
from controller.store import Store

log = logging.getLogger("lab.customer")
SPEAKER = "customer"
COMMUNITY_CHOICES = ("12876:42050", "12876:42100", "12876:42200")


@dataclass(frozen=True)
class CustomerSession:
    family: str
    local_address: str  # customer side, no prefix length
    peer_address: str  # Scaleway side


def validate_announcement(prefixes: Iterable[Any], communities: Iterable[Any]) -> tuple[
        list[str], tuple[str, ...]]:
    details = []
    clean: list[str] = []
    for i, p in enumerate(prefixes):
        try:
            clean.append(str(parse_prefix(p)))
        except PrefixError as exc:
            details.append({"argument_name": f"prefixes.{i}", "reason": "constraint",
                            "help_message": str(exc)})
    comms = tuple(communities)
    for i, c in enumerate(comms):
        parts = c.split(":") if isinstance(c, str) else []
        if len(parts) != 2 or not all(x.isdigit() and int(x) < 65536 for x in parts):
            details.append({"argument_name": f"communities.{i}", "reason": "format",
                            "help_message": f"{c!r} is not a community ASN:VALUE"})
    if details:
        raise ArgumentError(details)
    return clean, comms


class CustomerRouter:
    def __init__(self, store: Store, hub: Any, netns: str, asn: int,
                 sessions: Sequence[CustomerSession], base_announce: Sequence[str],
                 hold_time: int, md5_password: str | None,
                 bridge_command: Callable[[str], list[str]]):
        self.store, self.hub, self.netns, self.asn = store, hub, netns, asn
        self.sessions = list(sessions)
        self.base: dict[str, tuple[str, ...]] = {p: () for p in base_announce}
        self.hold_time, self.md5_password = hold_time, md5_password
        self._bridge_command = bridge_command
        self.table = RouteTable(netns)
        self.learned: dict[str, dict[str, tuple[str, ...]]] = {}  # peer -> prefix -> gateways
        self.applied_table: dict[str, tuple[str, ...]] = {}
        self.applied: dict[str, dict[str, tuple[str, ...]]] = {}  # peer -> prefix -> communities
        self.state: dict[str, str] = {}
        self.lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replaying = False

    # --- configuration -------------------------------------------------------------------
    def config_text(self) -> str:
        v4 = next((s.local_address for s in self.sessions if s.family == "ipv4"), None)
        router_id = v4 or "198.51.100.1"
        neighbors = [NeighborConfig(
            peer_address=s.peer_address, local_address=s.local_address, router_id=router_id,
            local_as=self.asn, peer_as=SCW_ASN, family=s.family, hold_time=self.hold_time,
            md5_password=self.md5_password) for s in self.sessions]
        return render_config(neighbors, self._bridge_command(SPEAKER))

    def desired(self) -> dict[str, tuple[str, ...]]:
        out = dict(self.base)
        for d in self.store.all("customer_route"):
            out[d["prefix"]] = tuple(d["communities"])
        for d in self.store.all("customer_withdrawn"):
            out.pop(d["prefix"], None)
        return out

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        routes = await loop.run_in_executor(None, self.table.list)
        self.applied_table = {p: tuple(r.gateways) for p, r in routes.items()}
        self._task = asyncio.create_task(self._install_loop())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()

    # --- announcements ----------------------------------------------------------------------
    async def announce(self, prefixes: Sequence[Any], communities: Sequence[Any]) -> int:
        clean, comms = validate_announcement(prefixes, communities)
        async with self.lock:
            with self.store.transaction() as tx:
                for p in clean:
                    tx.put("customer_route", p, {"prefix": p, "communities": list(comms)})
                    tx.delete("customer_withdrawn", p)
            await self._sync_announcements()
        return len(clean)

    async def withdraw(self, prefixes: Sequence[Any]) -> int:
        clean, _ = validate_announcement(prefixes, ())
        async with self.lock:
            with self.store.transaction() as tx:
                for p in clean:
                    tx.delete("customer_route", p)
                    if p in self.base:  # a scenario prefix stays withdrawn until re-announced
                        tx.put("customer_withdrawn", p, {"prefix": p})
            await self._sync_announcements()
        return len(clean)

    async def _sync_announcements(self) -> None:
        if not self.hub.connected(SPEAKER):
            return  # the bridge's replay on connect triggers a sync
        want_all = self.desired()
        for s in self.sessions:
            want = {p: c for p, c in want_all.items() if family_of(p) == s.family}
            have = self.applied.setdefault(s.peer_address, {})
            gone = [p for p in have if p not in want]
            if gone:
                await self.hub.withdraw(SPEAKER, s.peer_address, gone)
            by_comm: dict[tuple[str, ...], list[str]] = {}
            for p, c in want.items():
                if have.get(p) != c:
                    by_comm.setdefault(c, []).append(p)
            for comm, plist in by_comm.items():
                await self.hub.announce(SPEAKER, s.peer_address, plist, list(comm))
            self.applied[s.peer_address] = want

    def announced(self) -> list[dict[str, Any]]:
        return [{"prefix": p, "communities": list(c)} for p, c in sorted(self.desired().items())]

    # --- events --------------------------------------------------------------------------------
    def on_connect(self) -> None:
        """The bridge (re)connected: its replay is the complete state; install after it."""
        self.applied.clear()
        self.learned.clear()
        self.state.clear()
        self._replaying = True

    def on_event(self, event: Event) -> None:
        if isinstance(event, ReplayDone):
            self._replaying = False
            self._dirty.set()
            asyncio.get_running_loop().create_task(self._locked_sync())
        elif isinstance(event, Announced):
            self.applied[event.peer] = {p: tuple(c) for p, c in event.prefixes}
        elif isinstance(event, SessionState):
            if event.state in ("up", "down"):
                self.state[event.peer] = event.state
            if event.state == "down" and self.learned.pop(event.peer, None) is not None:
                self._mark_dirty()  # ExaBGP sends no withdraws on session loss
        elif isinstance(event, RouteUpdate):
            table = self.learned.setdefault(event.peer, {})
            for r in event.announced:
                table[r.prefix] = (r.next_hop,)
            for _fam, p in event.withdrawn:
                table.pop(p, None)
            self._mark_dirty()

    def _mark_dirty(self) -> None:
        if not self._replaying:
            self._dirty.set()

    async def _locked_sync(self) -> None:
        async with self.lock:
            await self._sync_announcements()

    async def _install_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            want: dict[str, tuple[str, ...]] = {}
            for table in self.learned.values():
                want.update(table)
            add, remove = diff(self.applied_table, want)
            routes = [KernelRoute(p, gws) for p, gws in add.items()]
            try:
                await loop.run_in_executor(None, self.table.apply, routes, remove)
            except Exception:
                log.exception("customer route install failed")
                continue
            for p in remove:
                self.applied_table.pop(p, None)
            self.applied_table.update(add)
