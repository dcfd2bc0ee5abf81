"""The customer's router when it is ExaBGP: announces the on-prem prefixes, installs what it learns.

This is the customer's side of the link, not Scaleway's: it accepts everything Scaleway sends
(its own policy is not the lab's subject) and announces what the scenario or the user asks,
optionally tagged with a preference community, per link if asked (one session per link and
family). Its ExaBGP process is one of the lab's speakers (``RouterContext.ensure_speaker``),
started or adopted like Scaleway's; its bridge's events come through ``RouterContext.listen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controller.core.events import (
    Announced,
    BridgeHello,
    Event,
    ReplayDone,
    RouteUpdate,
    SessionState,
)
from controller.core.model import SCW_ASN
from controller.core.prefixes import family_of
from controller.drivers.exabgp_config import NeighborConfig
from controller.drivers.kernel import KernelRoute, RouteTable
from controller.drivers.procs import process_alive
from controller.drivers.speaker import SpeakerNotConnected, exabgp_executable
from lab.routers.announcements import AnnouncementBook, split_base, validate_announcement
from lab.routers.daemon_router import DaemonError, check_password, wait_until
from lab.routers.kind import RouterContext, RouterDown, RouterKind
from lab.scenario.topology import CustomerWiring

log = logging.getLogger("lab.routers.exabgp")
SPEAKER = "customer"  # the speaker of the customer named "customer"; others: customer-<name>
DAEMON = "exabgp"
WATCH = 0.25  # seconds between two looks at the ExaBGP process


def speaker_for(customer: str) -> str:
    return SPEAKER if customer == SPEAKER else f"{SPEAKER}-{customer}"


class ExabgpRouter:
    def __init__(self, customer: CustomerWiring, ctx: RouterContext):
        self.ctx, self.name, self.speaker = ctx, customer.name, speaker_for(customer.name)
        self.netns, self.asn = customer.netns, customer.asn
        self.sessions = list(customer.sessions)
        self.md5_password = check_password(customer.md5_password)
        general, per_link = split_base(customer.announce)
        self.book = AnnouncementBook(ctx.store, customer.name, general, per_link)
        self.table: RouteTable | None = None  # opened by start(): it enters the netns
        self._learned: dict[str, dict[str, tuple[str, ...]]] = {}  # peer -> prefix -> gateways
        self.applied_table: dict[str, tuple[str, ...]] = {}
        self.applied: dict[str, dict[str, tuple[str, ...]]] = {}  # peer -> prefix -> communities
        self.state: dict[str, str] = {}
        self.lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._replaying = False
        self._unlisten: Callable[[], None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.dead = False  # its ExaBGP died: sessions down, learned routes removed
        self._expect_fresh = False  # we started its ExaBGP: the first hello is fresh

    # --- configuration -------------------------------------------------------------------
    def neighbors(self) -> list[NeighborConfig]:
        v4 = next((s.local_address for s in self.sessions if s.family == "ipv4"), None)
        router_id = v4 or "198.51.100.1"
        return [NeighborConfig(
            peer_address=s.peer_address, local_address=s.local_address, router_id=router_id,
            local_as=self.asn, peer_as=SCW_ASN, family=s.family, hold_time=self.ctx.hold_time,
            md5_password=self.md5_password) for s in self.sessions]

    async def _ensure_speaker(self) -> None:
        started = self.ctx.speaker_pid(self.speaker) is None
        if started:
            self._expect_fresh = True  # the new process's bridge says a fresh hello
        await asyncio.to_thread(self.ctx.ensure_speaker, self.speaker, self.netns,
                                self.neighbors())

    async def _resync(self) -> None:
        """ExaBGP respawned its bridge: commands in flight were lost and the new bridge knows
        nothing of what ExaBGP announces, so the book and the wire may differ. Restart the
        process (its sessions flap, as a real router's would on a control-plane restart)
        and let the new bridge's replay bring the book back. All under the lock: commands
        asked meanwhile wait for it and find the router running again, not down."""
        async with self.lock:
            pid = self.ctx.speaker_pid(self.speaker)
            if pid is not None:
                log.warning("customer %s: ExaBGP respawned its API process; restarting it "
                            "to resynchronise its announcements", self.name)
                await asyncio.to_thread(_crash, pid, 5.0)
            self._died()
            await self._ensure_speaker()
            self.dead = False

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        # Listen first: an adopted speaker's bridge may reconnect at any moment.
        self._unlisten = self.ctx.listen(self.speaker, self)
        self.table = table = await asyncio.to_thread(RouteTable, self.netns)
        routes = await asyncio.to_thread(table.list)
        self.applied_table = {p: tuple(r.gateways) for p, r in routes.items()}
        self._task = asyncio.create_task(self._install_loop(table))
        await self._ensure_speaker()
        self._watch = asyncio.create_task(self._watch_loop())

    async def update(self, customer: CustomerWiring) -> None:
        self.netns, self.sessions = customer.netns, list(customer.sessions)
        await self._ensure_speaker()

    async def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        for task in (self._task, self._watch):
            if task:
                task.cancel()
        if self.table is not None:
            self.table.close()

    # --- announcements ----------------------------------------------------------------------
    async def announce(self, prefixes: Sequence[Any], communities: Sequence[Any],
                       link: str | None = None) -> int:
        clean, comms = validate_announcement(prefixes, communities)  # bad input first
        async with self.lock:  # a restart by the lab (``_resync``) is waited for
            self._check_alive()  # before the book: a refused command changes nothing
            self.book.announce(clean, comms, link)
            with contextlib.suppress(SpeakerNotConnected):  # its replay will resync
                await self._sync_announcements()
        return len(clean)

    async def withdraw(self, prefixes: Sequence[Any], link: str | None = None) -> int:
        asked, _ = validate_announcement(prefixes, ())
        async with self.lock:
            self._check_alive()
            clean = self.book.withdraw(asked, link)
            with contextlib.suppress(SpeakerNotConnected):  # its replay will resync
                await self._sync_announcements()
        return len(clean)

    async def _sync_announcements(self) -> None:
        hub = self.ctx.hub
        if not hub.connected(self.speaker):
            return  # the bridge's replay on connect triggers a sync
        for s in self.sessions:
            want = {p: c for p, c in self.book.desired(s.link).items()
                    if family_of(p) == s.family}
            have = self.applied.setdefault(s.peer_address, {})
            gone = [p for p in have if p not in want]
            if gone:
                await hub.withdraw(self.speaker, s.peer_address, gone)
            by_comm: dict[tuple[str, ...], list[str]] = {}
            for p, c in want.items():
                if have.get(p) != c:
                    by_comm.setdefault(c, []).append(p)
            for comm, plist in by_comm.items():
                await hub.announce(self.speaker, s.peer_address, plist, list(comm))
            self.applied[s.peer_address] = want

    # --- views ---------------------------------------------------------------------------------
    def learned(self) -> list[dict[str, Any]]:
        if self.dead:
            return []
        return [{"prefix": p, "via": gws[0]} for p, gws in sorted(self.applied_table.items())]

    def sessions_state(self) -> dict[str, str]:
        if self.dead:
            return {s.peer_address: "down" for s in self.sessions}
        return dict(self.state)

    def session_details(self) -> None:
        return None  # ExaBGP tells the states only

    def announced(self) -> list[dict[str, Any]]:
        return self.book.as_list()

    # --- its process ---------------------------------------------------------------------------
    @property
    def main_daemon(self) -> str:
        return DAEMON

    def daemons(self) -> dict[str, int | None]:
        return {DAEMON: self.ctx.speaker_pid(self.speaker)}

    def kill(self, daemon: str) -> int:
        if daemon != DAEMON:
            raise ValueError(f"the exabgp router runs {DAEMON} only, not {daemon!r}")
        pid = self.ctx.speaker_pid(self.speaker)
        if pid is None:
            raise RouterDown(self.netns, DAEMON)
        with contextlib.suppress(DaemonError):  # gone before the answer, if it goes at all
            _crash(pid, 2.0)
        self._died()
        return pid

    async def node_replaced(self) -> None:
        """The route table's socket lives in the old namespace: a new one, nothing applied."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.table is not None:
            self.table.close()
        self.table = table = await asyncio.to_thread(RouteTable, self.netns)
        self.applied_table = {}
        self._task = asyncio.create_task(self._install_loop(table))
        self._dirty.set()

    async def restart(self) -> list[str]:
        if self.ctx.speaker_pid(self.speaker) is not None:
            return []
        await self._ensure_speaker()  # its bridge's replay brings the announcements back
        self.dead = False
        return [DAEMON]

    async def reconnect(self, peers: Sequence[str]) -> None:
        """``teardown`` resets ExaBGP's connect backoff (up to 60 s after a long cut)."""
        for peer in peers:
            with contextlib.suppress(SpeakerNotConnected):
                await self.ctx.hub.teardown(self.speaker, peer)

    def _check_alive(self) -> None:
        if self.dead or self.ctx.speaker_pid(self.speaker) is None:
            self._died()
            raise RouterDown(self.netns, DAEMON)

    def _died(self) -> None:
        """What a dead router holds: no session, no learned route (ExaBGP installed none
        itself: the lab removes them)."""
        if not self.dead:
            log.warning("customer %s: %s is not running", self.name, DAEMON)
        self.dead = True
        self.state = {s.peer_address: "down" for s in self.sessions}
        self.applied.clear()
        if self._learned:
            self._learned.clear()
            self._dirty.set()

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH)
            if not self.dead and self.ctx.speaker_pid(self.speaker) is None:
                self._died()

    # --- events (SpeakerListener) ----------------------------------------------------------------
    def on_connect(self) -> None:
        """The bridge (re)connected: its replay is the complete state; install after it."""
        self.dead = False
        self.applied.clear()
        self._learned.clear()
        self.state.clear()
        self._replaying = True

    def on_event(self, event: Event) -> None:
        if isinstance(event, BridgeHello):
            if event.fresh and not self._expect_fresh:
                asyncio.get_running_loop().create_task(self._resync())
            self._expect_fresh = False
        elif isinstance(event, ReplayDone):
            self._replaying = False
            self._dirty.set()
            asyncio.get_running_loop().create_task(self._locked_sync())
        elif isinstance(event, Announced):
            self.applied[event.peer] = {p: tuple(c) for p, c in event.prefixes}
        elif isinstance(event, SessionState):
            if event.state in ("up", "down"):
                self.state[event.peer] = event.state
            if event.state == "down" and self._learned.pop(event.peer, None) is not None:
                self._mark_dirty()  # ExaBGP sends no withdraws on session loss
        elif isinstance(event, RouteUpdate):
            table = self._learned.setdefault(event.peer, {})
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
            with contextlib.suppress(SpeakerNotConnected):  # it died meanwhile
                await self._sync_announcements()

    async def _install_loop(self, table: RouteTable) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            want: dict[str, tuple[str, ...]] = {}
            for learned in self._learned.values():
                want.update(learned)
            add = {p: gws for p, gws in want.items() if self.applied_table.get(p) != gws}
            remove = [p for p in self.applied_table if p not in want]
            routes = [KernelRoute(p, gws) for p, gws in add.items()]
            try:
                await asyncio.to_thread(table.apply, routes, remove)
            except Exception:
                log.exception("customer route install failed")
                continue
            for p in remove:
                self.applied_table.pop(p, None)
            self.applied_table.update(add)


def _crash(pid: int, timeout: float) -> None:
    """SIGKILL ``pid`` (a crash: no NOTIFICATION, its bridge thread ends with it), then wait
    until every thread of it has exited; DaemonError if it outlives ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(pid), timeout, f"ExaBGP {pid} to exit")


def exabgp_available() -> bool:
    return Path(exabgp_executable()).exists()


KIND = RouterKind(name="exabgp", available=exabgp_available, kernel_proto="bgp",
                  per_link_sessions=True, factory=ExabgpRouter)
