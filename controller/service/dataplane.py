"""The controller's data-plane state: BGP sessions, learned routes, and what is applied.

Over 400 lines: the event batching, the applying and the restart of lost speakers (whose
sessions and routes it flushes) share the applied state.

Reconciliation (``controller.core.reconcile``, pure) turns the inventory and the learned
routes into the desired kernel tables and announcements; this module applies the difference
to the tables and the speakers, and keeps what it applied. BGP events are queued and drained
in batches under the controller's lock, so that 10,000 routes cost a few reconciliations, not
10,000. Replay gating: after a (re)start, or when a bridge reconnects, nothing is applied until
the speakers' snapshots are in, so that a restarted controller does not blink the VPC table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from controller.core import feed, reconcile, status
from controller.core.events import (
    Announced,
    BridgeHello,
    EndOfRib,
    Event,
    ReplayDone,
    Route,
    RouteUpdate,
    SessionState,
)
from controller.core.inventory import Inventory
from controller.core.liveness import Liveness
from controller.core.model import SCW_ASN, Link
from controller.core.prefixes import family_of
from controller.drivers.exabgp_config import NeighborConfig
from controller.service.bus import EventBus, Statuses
from controller.service.ports import (
    Diagnose,
    Hub,
    LinkPlacement,
    Speakers,
    Tables,
    Wiring,
    speaker_name,
)
from controller.service.records import Records, link_key

log = logging.getLogger("controller")
FAMILIES = reconcile.FAMILIES
# Up to this many prefixes, a partial reconciliation looks up which links learned them
# (O(links x prefixes) dict lookups) instead of building every link's view.
_FEW_PREFIXES = 64
Applied = dict[str, dict[str, tuple[str, ...]]]  # netns -> prefix -> gateways
WATCH_INTERVAL = 0.25  # seconds between two looks at the speakers' PIDs


class _Mark:
    """What the controller itself queues among a speaker's events, to keep them in order."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


DISCONNECTED = _Mark("bridge disconnected")
DEAD = _Mark("process dead")
RESTARTED = _Mark("restarted")
Item = Event | _Mark | None


class DataPlane:
    def __init__(self, inv: Inventory, lock: asyncio.Lock, records: Records, bus: EventBus,
                 hub: Hub, speakers: Speakers, table_for: Callable[[str], Tables],
                 wiring: Wiring, diagnose: Diagnose | None = None):
        self.inv, self.lock, self.records, self.bus = inv, lock, records, bus
        self.hub, self.speakers, self.wiring = hub, speakers, wiring
        self._table_for, self._diagnose = table_for, diagnose
        self.sessions: dict[tuple[str, str], bool] = {}  # (link id, family) -> up
        self.down_reason: dict[tuple[str, str], str] = {}  # what BGP said when it went down
        self.rib: dict[str, dict[str, dict[str, Route]]] = {}  # link -> family -> prefix
        self.applied_tables: Applied = {}
        self.applied_announce: dict[tuple[str, str], frozenset[str]] = {}
        self.desired = reconcile.Desired()
        self.rejected: dict[str, dict[str, str]] = {}  # link id -> prefix -> why
        # What each (link, family) heard since the last routes events: published, one
        # event each, once the batch is applied and the verdicts are known.
        self._news: dict[tuple[str, str], feed.RouteNews] = {}
        self._events: asyncio.Queue[tuple[str, Item]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._restarts: set[asyncio.Task[None]] = set()
        self.liveness = Liveness()
        self._closing = False
        self._speaker_link: dict[str, str] = {}  # speaker name -> link id
        self._configs: dict[str, tuple[NeighborConfig, ...]] = {}  # speaker -> its sessions
        self._replaying: set[str] = set()  # speakers whose snapshot is not in yet
        self._pending: set[str] = set()  # prefixes touched while replaying
        self._full_pending = False
        self.replayed = asyncio.Event()  # set once every speaker's snapshot is in

    # --- start / stop -----------------------------------------------------------------------------
    async def start(self, replay_deadline: float) -> None:
        """Adopt what the kernel holds, (re)start speakers, then reconcile once they replayed.

        Until every speaker's bridge has replayed its snapshot (or ``replay_deadline`` passed)
        nothing is removed from the kernel: a restarted controller must not blink the VPC table.
        """
        loop = asyncio.get_running_loop()
        for netns in self._all_netns():
            self.applied_tables[netns] = await loop.run_in_executor(
                None, self._table_for(netns).routes)
        self._replaying = {speaker_name(lk.id) for lk in self.inv.links.values()
                           if lk.lifecycle == "provisioned"}
        for link in self.inv.links.values():
            self.bus.know(link.id, self.statuses(link))
        async with self.lock:
            await self.reconcile_all()
        if not self._replaying:
            self.replayed.set()
        self._worker = asyncio.create_task(self._drain_events())
        self._watchdog = asyncio.create_task(self._watch())
        loop.call_later(replay_deadline, self._replay_deadline)

    def _replay_deadline(self) -> None:
        if self._replaying:
            log.warning("no snapshot from %s in time: reconciling without it",
                        ", ".join(sorted(self._replaying)))
            self._replaying.clear()
            self._events.put_nowait(("", None))  # wakes the worker for a full reconcile

    async def close(self, stop_speakers: bool) -> None:
        self._closing = True  # from now on a bridge going away is no loss
        self.bus.flush()
        for task in (self._worker, self._watchdog, *self._restarts):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if stop_speakers:
            for name in list(self._configs):
                self.speakers.stop(name)

    async def stop_speaker(self, link_id: str) -> None:
        name = speaker_name(link_id)
        self._configs.pop(name, None)
        self.liveness.stopped(name)  # before: its bridge leaving must not look like a loss
        await asyncio.get_running_loop().run_in_executor(None, self.speakers.stop, name)

    def forget(self, link_id: str) -> None:
        """The link is gone: so is what its sessions taught us."""
        self.rib.pop(link_id, None)
        for fam in FAMILIES:
            self.sessions.pop((link_id, fam), None)
            self.applied_announce.pop((link_id, fam), None)
        self.bus.forget(link_id)

    # --- where things live ------------------------------------------------------------------------
    def _placements(self) -> dict[str, LinkPlacement]:
        """Link id -> placement, for the links that have a data plane."""
        return {lid: p for lid in self.inv.links
                if (p := self.wiring.placement(lid)) is not None}

    def _vpc_netns(self) -> dict[str, str]:
        return {vid: ns for vid in self.inv.vpcs if (ns := self.wiring.vpc_netns(vid)) is not None}

    def _all_netns(self) -> set[str]:
        return ({p.scw_netns for p in self._placements().values()}
                | set(self._vpc_netns().values()))

    # --- status -----------------------------------------------------------------------------------
    def statuses(self, link: Link) -> Statuses:
        v4 = status.bgp_status(link.routing_policy_v4_id is not None,
                               self.sessions.get((link.id, "ipv4"), False))
        v6 = status.bgp_status(link.routing_policy_v6_id is not None,
                               self.sessions.get((link.id, "ipv6"), False))
        return status.link_status(link.lifecycle, (v4, v6)), v4, v6

    def link_json(self, link: Link) -> dict[str, Any]:
        return link.to_api(*self.statuses(link))

    def publish_status_changes(self) -> None:
        for link in self.inv.links.values():
            self.bus.status(link.id, link.name, self.statuses(link))

    def stats(self, link: Link) -> dict[str, Any]:
        """Route counters per family: learned, filtered, advertised, installed."""
        placement = self.wiring.placement(link.id)
        vpc_netns = (self.wiring.vpc_netns(link.vpc_id)
                     if link.vpc_id is not None and link.vpc_id in self.inv.vpcs else None)
        # What the kernel holds (the applied table), not the last full computation.
        vpc_table = self.applied_tables.get(vpc_netns or "", {})
        out: dict[str, Any] = {"link_id": link.id}
        for fam in FAMILIES:
            learned = self.rib.get(link.id, {}).get(fam, {})
            rejected = {p: why for p, why in self.rejected.get(link.id, {}).items()
                        if p in learned}
            reasons: dict[str, int] = {}
            for why in rejected.values():
                reasons[why] = reasons.get(why, 0) + 1
            gw = (placement.transit_address.get(fam),) if placement else None
            out[fam] = {
                "session": "up" if self.sessions.get((link.id, fam)) else "down",
                "received": len(learned),
                "accepted": len(learned) - len(rejected),
                "rejected": len(rejected),
                "rejected_reasons": reasons,
                "advertised": len(self.applied_announce.get((link.id, fam), ())),
                "installed": sum(1 for p in learned if vpc_table.get(p) == gw),
            }
            if not self.sessions.get((link.id, fam)) and link.policy_id(fam):
                diagnosis = self._diagnose(speaker_name(link.id), fam) if self._diagnose else None
                reason = diagnosis or self.down_reason.get((link.id, fam))
                if reason:
                    out[fam]["reason"] = reason
        return out

    # --- reconciliation ---------------------------------------------------------------------------
    def _views(self, prefixes: set[str] | None = None, link_id: str | None = None
               ) -> tuple[list[reconcile.LinkView], dict[str, list[str]]]:
        """Every link's view; given a few ``prefixes``, only the views of the links that
        learned one of them (and of ``link_id``): the others take no part in placing them,
        and a change of one link at 100 links would build 100 views for its 2 prefixes."""
        links: Iterable[Link] = self.inv.links.values()
        if prefixes is not None and len(prefixes) <= _FEW_PREFIXES:
            ids = {lid for lid, fams in self.rib.items()
                   if any(p in fams.get(family_of(p), ()) for p in prefixes)}
            if link_id is not None:
                ids.add(link_id)
            links = [lk for lid in ids if (lk := self.inv.links.get(lid)) is not None]
        transit = {lid: p.transit_address for lid, p in self._placements().items()}
        views = reconcile.link_views(links, self.inv.policies, transit, self._vpc_netns())
        return views, {v.id: v.subnets() for v in self.inv.vpcs.values()}

    def _desired_by_netns(self, desired: reconcile.Desired, vpc_only: bool = False) -> Applied:
        """The tables per namespace; ``vpc_only``: the VPC routers' alone (a propagation
        switch changes no Scaleway router's table)."""
        vpc_ns = self._vpc_netns()
        out: Applied = ({ns: {} for ns in vpc_ns.values()} if vpc_only
                        else {ns: {} for ns in self._all_netns()})
        for vpc_id, table in desired.vpc_tables.items():
            if vpc_id in vpc_ns:
                out[vpc_ns[vpc_id]].update(table)
        if vpc_only:
            return out
        link_ns = {lid: p.scw_netns for lid, p in self._placements().items()}
        for link_id, table in desired.scw_tables.items():
            if link_id in link_ns:
                out[link_ns[link_id]].update(table)
        return out

    async def reconcile_all(self) -> None:
        """Make speakers, tables and announcements match the inventory (under the lock)."""
        await self._ensure_speakers()
        if self._replaying:
            self._full_pending = True  # done when the last replay ends
            return
        views, subnets = self._views()
        self.desired = reconcile.compute(views, subnets, self.rib)
        before, self.rejected = self.rejected, self.desired.rejected
        await self._apply_tables(self._desired_by_netns(self.desired), scope=None)
        await self._apply_announcements()
        self.publish_status_changes()
        self._publish_verdict_changes(before)

    def _learned(self, link_id: str) -> set[str]:
        """The prefixes the link's sessions taught us, both families."""
        return {p for fam in self.rib.get(link_id, {}).values() for p in fam}

    async def reconcile_link(self, link_id: str) -> None:
        """Only this link's own settings changed (under the lock: its policies, its VPC,
        its provisioning): its sessions, the verdicts and VPC tables of the prefixes it
        learned (for every link that learned them: they compete for the same table entries)
        and its announcements. Other links' verdicts do not depend on its settings, so no
        other route is matched again."""
        prefixes = self._learned(link_id)
        await self._ensure_speakers()  # a removed session takes its routes out of the RIB
        if self._replaying:
            self._full_pending = True
            return
        before = {lid: dict(why) for lid, why in self.rejected.items()}
        views, subnets = self._views(prefixes, link_id)
        partial = reconcile.compute_prefixes(views, subnets, self.rib, prefixes)
        self._set_verdicts(prefixes, partial.rejected)
        await self._apply_link(link_id, prefixes, views, subnets, partial)
        self._publish_verdict_changes(before)

    async def _apply_link(self, link_id: str, prefixes: set[str],
                          views: list[reconcile.LinkView], subnets: dict[str, list[str]],
                          partial: reconcile.Desired, vpc_only: bool = False) -> None:
        """Apply a partial computation of ``link_id``'s ``prefixes``: the tables for them
        (``vpc_only``: the VPC routers' alone), the link's announcements, the statuses."""
        await self._apply_tables(self._desired_by_netns(partial, vpc_only), scope=prefixes)
        for view in views:
            if view.link_id == link_id:
                self.desired.announce.update(reconcile.link_announcements(view, subnets))
        await self._apply_announcements()
        self.publish_status_changes()

    def _set_verdicts(self, prefixes: set[str], rejected: reconcile.Verdicts) -> None:
        """``rejected``, computed for ``prefixes``, replaces what was known of them."""
        for link_id in list(self.rejected):
            for p in prefixes & self.rejected[link_id].keys():
                del self.rejected[link_id][p]
        for link_id, why in rejected.items():
            self.rejected.setdefault(link_id, {}).update(why)

    async def reconcile_propagation(self, link_id: str) -> None:
        """Only the link's propagation switch changed (under the lock). Verdicts do not depend
        on it and ``self.rejected`` holds the current one of every route, so no policy is
        matched again: the VPC tables are diffed for the link's prefixes only (one batch)
        and its announcements follow. The routers' tables do not change (``carrying``)."""
        if self._replaying:
            self._full_pending = True
            return
        prefixes = self._learned(link_id)
        views, subnets = self._views(prefixes, link_id)
        partial = reconcile.compute_prefixes(views, subnets, self.rib, prefixes,
                                             known=self.rejected)
        await self._apply_link(link_id, prefixes, views, subnets, partial, vpc_only=True)

    async def _reconcile_prefixes(self, prefixes: set[str]) -> None:
        views, subnets = self._views(prefixes)
        partial = reconcile.compute_prefixes(views, subnets, self.rib, prefixes)
        self._set_verdicts(prefixes, partial.rejected)
        await self._apply_tables(self._desired_by_netns(partial), scope=prefixes)
        self.publish_status_changes()

    # --- the feed: sessions and routes ------------------------------------------------------------
    def _policy_name(self, link: Link, family: str) -> str | None:
        policy = self.inv.policies.get(link.policy_id(family) or "")
        return policy.name if policy is not None else None

    def _publish_session(self, link_id: str, family: str, state: str, reason: str = "") -> None:
        link = self.inv.links.get(link_id)
        if link is None:
            return
        ev: dict[str, Any] = {"type": "session", "link_id": link_id, "link_name": link.name,
                              "family": family, "state": state}
        if reason:
            ev["reason"] = feed.session_reason(reason)
        self.bus.publish(ev)

    def _publish_routes(self) -> None:
        """One routes event per (link, family) that heard something: O(what it heard)."""
        news, self._news = self._news, {}
        for (link_id, fam), heard in news.items():
            link = self.inv.links.get(link_id)
            if link is None:
                continue
            table = self.rib.get(link_id, {}).get(fam, {})
            rejected = self.rejected.get(link_id, {})
            ev = feed.route_event(
                link_id, link.name, fam,
                ((p, rejected.get(p)) for p in heard.received if p in table),
                heard.withdrawn, self._policy_name(link, fam), heard.cause)
            if ev is not None:
                self.bus.routes(ev)

    def _publish_verdict_changes(self, before: dict[str, dict[str, str]]) -> None:
        """Routes whose verdict a full reconciliation changed (a policy edited, a VPC
        attached): only rejected ones can change, so this costs O(rejected), not O(routes).
        Prefixes heard in the pending batch are that batch's routes event's."""
        for link_id, fams in self.rib.items():
            was, now = before.get(link_id, {}), self.rejected.get(link_id, {})
            link = self.inv.links.get(link_id)
            if link is None or not (was or now):
                continue
            candidates = sorted(was.keys() | now.keys())
            for fam, table in fams.items():
                heard = self._news.get((link_id, fam))
                prefixes = [p for p in candidates if p in table
                            and (heard is None or p not in heard.received)]
                ev = feed.route_event(link_id, link.name, fam,
                                      feed.verdict_changes(prefixes, was, now),
                                      policy=self._policy_name(link, fam), cause="reconcile")
                if ev is not None:
                    self.bus.routes(ev)

    async def _apply_tables(self, desired: Applied, scope: set[str] | None) -> None:
        loop = asyncio.get_running_loop()
        jobs = []
        for netns, want in desired.items():
            have = self.applied_tables.setdefault(netns, {})
            add, remove = reconcile.diff(have, want, scope)
            if not add and not remove:
                continue
            emptied = reconcile.emptied(have, add, remove)
            jobs.append(loop.run_in_executor(None, self._table_for(netns).apply, add, remove,
                                             emptied))
            for p in remove:
                have.pop(p, None)
            have.update(add)
        for failures in await asyncio.gather(*jobs):
            if failures:
                log.warning("kernel refused %d routes, first: %s", len(failures), failures[0])

    async def _apply_announcements(self) -> None:
        for link in self.inv.links.values():
            speaker = speaker_name(link.id)
            if not self.hub.connected(speaker):
                continue  # its bridge replays what ExaBGP announces when it connects
            for fam in FAMILIES:
                want = self.desired.announce.get((link.id, fam), frozenset())
                have = self.applied_announce.get((link.id, fam), frozenset())
                neighbor = link.peer_bgp_config.address(fam)
                if have - want:
                    await self.hub.withdraw(speaker, neighbor, sorted(have - want))
                if want - have:
                    await self.hub.announce(speaker, neighbor, sorted(want - have))
                self.applied_announce[(link.id, fam)] = want

    @staticmethod
    def _neighbors(link: Link) -> tuple[NeighborConfig, ...]:
        """The link's BGP sessions as its speaker must hold them: one per family with a
        routing policy (without one the session does not exist)."""
        peer, scw = link.peer_bgp_config, link.scw_bgp_config
        return _neighbor_configs(
            link.routing_policy_v4_id is not None, link.routing_policy_v6_id is not None,
            peer.asn, peer.ipv4, peer.ipv6, scw.ipv4, scw.ipv6, link.hold_time,
            link.md5_password)

    async def _ensure_speakers(self) -> None:
        loop = asyncio.get_running_loop()
        placements = self._placements()
        for link in self.inv.links.values():
            name = speaker_name(link.id)
            self._speaker_link[name] = link.id
            if link.lifecycle not in ("provisioned", "ready") or link.id not in placements:
                continue
            neighbors = self._neighbors(link)
            if self._configs.get(name) == neighbors:
                continue
            known = name in self._configs and name in self.liveness.running
            self._configs[name] = neighbors
            netns = placements[link.id].scw_netns
            if neighbors:
                started = await loop.run_in_executor(None, self._ensure, name, netns,
                                                     neighbors)
                if not known or started:
                    self.liveness.started(name, fresh=started)
            else:  # no session at all: ExaBGP will not run without a neighbor
                self.liveness.stopped(name)
                await loop.run_in_executor(None, self.speakers.stop, name)
            # A session removed from the config no longer exists: forget what it taught us.
            for fam in FAMILIES:
                if link.policy_id(fam) is None:
                    self._session_down(link.id, fam, "no routing policy attached for "
                                       f"{fam}: the session is removed")
                    self.applied_announce.pop((link.id, fam), None)

    def _ensure(self, name: str, netns: str, neighbors: tuple[NeighborConfig, ...]) -> bool:
        """``Speakers.ensure``; True if that started the process (blocking)."""
        was_running = self.speakers.alive(name)
        self.speakers.ensure(name, netns, neighbors)
        return not was_running

    # --- lost speakers ----------------------------------------------------------------------------
    async def _watch(self) -> None:
        """Look at the PIDs of the speakers we run: a dead ExaBGP whose bridge lingers (or
        a disconnect we missed) is found within WATCH_INTERVAL."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            names = sorted(self.liveness.running - self.liveness.restarting)
            if not names:
                continue
            try:
                dead = await loop.run_in_executor(None, self._dead, names)
            except Exception:
                log.exception("cannot check the speakers' processes")
                continue
            for name in dead:
                self._events.put_nowait((name, DEAD))

    def _dead(self, names: list[str]) -> list[str]:
        return [n for n in names if not self.speakers.alive(n)]

    def _speaker_lost(self, speaker: str, why: str) -> set[str]:
        """Its sessions are down and what they taught us is gone; a restart is scheduled."""
        log.warning("speaker %s lost (%s): restarting it", speaker, why)
        self._replaying.discard(speaker)  # its replay will never come
        touched: set[str] = set()
        link_id = self._speaker_link.get(speaker)
        for fam in FAMILIES if link_id else ():
            assert link_id is not None
            reason = f"Scaleway speaker restarted ({why})"
            touched |= self._session_down(link_id, fam, reason)
            self.applied_announce.pop((link_id, fam), None)
            self.down_reason[(link_id, fam)] = reason
        delay = self.liveness.restart_delay(speaker, time.monotonic())
        task = asyncio.create_task(self._restart(speaker, delay))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)
        return touched

    async def _restart(self, speaker: str, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        async with self.lock:
            await self._restart_locked(speaker)

    async def _restart_locked(self, speaker: str) -> None:
        """Stop whatever remains of ``speaker`` by PID, start it with its current sessions;
        its events are stale until RESTARTED comes out of the queue (after the old ones)."""
        neighbors = self._configs.get(speaker)
        placement = self.wiring.placement(self._speaker_link.get(speaker, ""))
        if self._closing or not neighbors or placement is None:
            self.liveness.stopped(speaker)  # not ours to run any more
            return
        self.liveness.restarting.add(speaker)

        def restart() -> None:
            self.speakers.stop(speaker)
            self.speakers.ensure(speaker, placement.scw_netns, neighbors)
        try:
            await asyncio.get_running_loop().run_in_executor(None, restart)
        except Exception:
            log.exception("cannot restart speaker %s", speaker)  # found dead again: retried
        self._events.put_nowait((speaker, RESTARTED))

    async def node_replaced(self, netns: str) -> None:
        """A node's network namespace was made anew (a restarted container): what was applied
        to its table is gone with the old one; apply it all again."""
        async with self.lock:
            self.applied_tables.pop(netns, None)
            await self.reconcile_all()

    async def kick(self, link_id: str, families: Iterable[str]) -> list[str]:
        """Make the link's speaker try its down sessions of ``families`` at once.

        ExaBGP's reconnect backoff grows to 60 s while a peer is unreachable, and
        ``teardown`` only acts on established sessions: a reload without the neighbors, then
        with them, gives them new peers with no backoff (a restart when no other session
        would be left). Sessions that are up are left alone. Returns the families kicked."""
        fams = list(dict.fromkeys(families))
        bad = [f for f in fams if f not in FAMILIES]
        if bad:
            raise ValueError(f"unknown families {bad}: expected some of {list(FAMILIES)}")
        async with self.lock:
            link = self.inv.link(link_id)  # unknown link: its error, nothing done
            name = speaker_name(link.id)
            neighbors = self._configs.get(name, ())
            placement = self.wiring.placement(link.id)
            if (not neighbors or placement is None or self.liveness.stale(name)
                    or name not in self.liveness.running):
                return []
            down = {n.family for n in neighbors
                    if n.family in fams and not self.sessions.get((link.id, n.family))}
            if not down:
                return []
            keep = tuple(n for n in neighbors if n.family not in down)
            if not keep:
                await self._restart_locked(name)
            else:
                def reload() -> None:
                    self.speakers.ensure(name, placement.scw_netns, keep)
                    self.speakers.ensure(name, placement.scw_netns, neighbors)
                await asyncio.get_running_loop().run_in_executor(None, reload)
            return sorted(down)

    # --- BGP events -------------------------------------------------------------------------------
    def on_event(self, speaker: str, event: Event) -> None:
        """Called by the hub for every event of a Scaleway-side speaker, in order."""
        self._events.put_nowait((speaker, event))

    def on_connect(self, speaker: str) -> None:
        """A bridge (re)connected: its snapshot replay follows and is the complete state."""
        self._events.put_nowait((speaker, None))

    def on_disconnect(self, speaker: str) -> None:
        """A bridge's connection ended: unless we stopped it, its speaker is lost."""
        if not self._closing:
            self._events.put_nowait((speaker, DISCONNECTED))

    def _session_down(self, link_id: str, family: str, reason: str = "") -> set[str]:
        was_up = self.sessions.get((link_id, family))
        self.sessions[(link_id, family)] = False
        self._news.pop((link_id, family), None)  # what it said went with it
        if was_up:
            self._publish_session(link_id, family, "down", reason)
        learned = self.rib.get(link_id, {}).pop(family, {})
        return set(learned)

    def _link_family(self, speaker: str, peer: str) -> tuple[Link, str] | None:
        link = self.inv.links.get(self._speaker_link.get(speaker, ""))
        if link is None:
            return None
        for fam in FAMILIES:
            if link.peer_bgp_config.address(fam) == peer:
                return link, fam
        return None

    async def _drain_events(self, coalesce: float = 0.01) -> None:
        while True:
            batch = [await self._events.get()]
            if self._events.empty() and isinstance(batch[0][1], RouteUpdate):
                # Routes come in bursts of small UPDATEs: a few ms of patience turns hundreds
                # of reconciliations into a handful, leaving the CPU to the speakers.
                await asyncio.sleep(coalesce)
            while not self._events.empty():
                batch.append(self._events.get_nowait())
            try:
                async with self.lock:
                    await self._handle_batch(batch)
            except Exception:
                log.exception("failed to handle %d BGP events", len(batch))

    async def _handle_batch(self, batch: list[tuple[str, Item]]) -> None:
        touched: set[str] = set()
        full = False
        announce = False  # only announcements to (re)send: no full reconciliation needed
        for speaker, ev in batch:
            if ev is None and not speaker:
                full = True  # the replay deadline passed
                continue
            if ev is RESTARTED:
                self.liveness.restarted(speaker)
                continue
            if self.liveness.stale(speaker):
                continue  # the lost process's last words, or its respawned bridge's
            if isinstance(ev, _Mark):
                if self.liveness.lost(speaker):
                    touched |= self._speaker_lost(speaker, ev.what)
                    full = True
                continue
            if isinstance(ev, BridgeHello):
                if self.liveness.hello(speaker, ev.fresh):
                    touched |= self._speaker_lost(speaker, "bridge respawned, state unknown")
                    full = True
                continue
            if ev is None:
                # Forget what this speaker taught us (its replay is the complete state) and
                # apply nothing until the replay is done, so a restart does not blink routes.
                self._replaying.add(speaker)
                link_id = self._speaker_link.get(speaker)
                for fam in FAMILIES if link_id else ():
                    touched |= set(self.rib.get(link_id or "", {}).pop(fam, {}))
                    self._news.pop((link_id or "", fam), None)
                    self.applied_announce.pop((link_id or "", fam), None)
                continue
            if isinstance(ev, ReplayDone):
                self._replaying.discard(speaker)
                link = self.inv.links.get(self._speaker_link.get(speaker, ""))
                for fam in FAMILIES if link else ():
                    assert link is not None
                    if link.peer_bgp_config.address(fam) not in ev.peers:
                        touched |= self._session_down(  # unknown to ExaBGP
                            link.id, fam, "not known to the speaker after its replay")
                # Its routes are in ``touched`` (dropped at its connect, then replayed) and
                # what was deferred meanwhile is ``_full_pending``: announcements remain.
                announce = True
                continue
            if isinstance(ev, EndOfRib):
                continue
            peer = getattr(ev, "peer", None)
            found = self._link_family(speaker, peer) if peer else None
            if found is None:
                continue
            link, fam = found
            if isinstance(ev, SessionState):
                if ev.state == "up" and not self.sessions.get((link.id, fam)):
                    self.sessions[(link.id, fam)] = True
                    self._publish_session(link.id, fam, "up")
                    self.liveness.healthy(speaker)
                    announce = True  # a fresh session needs our announcements
                    if link.lifecycle == "ready":  # self-hosted: BGP up = provisioned
                        self.inv.mark_provisioned(link.id)
                        self.records.save(link_key(link))
                        full = True  # it carries routes from now on
                    self.applied_announce.pop((link.id, fam), None)
                elif ev.state == "down":
                    if ev.reason and "[removed]" not in ev.reason:  # a kick's reload says so
                        self.down_reason[(link.id, fam)] = ev.reason
                    if self.sessions.get((link.id, fam)):
                        touched |= self._session_down(link.id, fam, ev.reason)
            elif isinstance(ev, RouteUpdate):
                table = self.rib.setdefault(link.id, {}).setdefault(fam, {})
                heard = self._news.get((link.id, fam))
                if heard is None:
                    heard = self._news[(link.id, fam)] = feed.RouteNews()
                if speaker in self._replaying:
                    heard.cause = "replay"
                for route in ev.announced:
                    table[route.prefix] = route
                    touched.add(route.prefix)
                    heard.receive(route.prefix)
                for _family, prefix in ev.withdrawn:
                    if table.pop(prefix, None) is not None:
                        touched.add(prefix)
                        heard.withdraw(prefix)
            elif isinstance(ev, Announced):
                self.applied_announce[(link.id, fam)] = frozenset(
                    p for p, _communities in ev.prefixes)
                announce = True
        self._pending |= touched
        if self._replaying:
            return
        touched, self._pending = self._pending, set()
        self.replayed.set()
        if full or self._full_pending:
            self._full_pending = False
            await self.reconcile_all()
        else:
            # self.desired is current (every change reconciles it): what a fresh session
            # or a speaker's replay needs is a diff of the announcements, O(links), not a
            # full computation (200 sessions coming up at 100 links made it O(links^2)).
            if touched:
                await self._reconcile_prefixes(touched)
            if announce:
                await self._apply_announcements()
                self.publish_status_changes()
        self._publish_routes()


@functools.lru_cache(maxsize=4096)
def _neighbor_configs(v4: bool, v6: bool, peer_as: int, peer_v4: str, peer_v6: str,
                      scw_v4: str, scw_v6: str, hold_time: int, md5: str | None
                      ) -> tuple[NeighborConfig, ...]:
    """``DataPlane._neighbors`` from the facts it depends on: a full reconciliation asks it
    of every link, and validating addresses is most of its cost (cached, an invalid
    session still raises each time)."""
    peer, scw = {"ipv4": peer_v4, "ipv6": peer_v6}, {"ipv4": scw_v4, "ipv6": scw_v6}
    out = []
    for fam, on in (("ipv4", v4), ("ipv6", v6)):
        if not on:
            continue
        n = NeighborConfig(
            peer_address=peer[fam].split("/")[0], local_address=scw[fam].split("/")[0],
            router_id=scw_v4.split("/")[0], local_as=SCW_ASN, peer_as=peer_as, family=fam,
            hold_time=hold_time, md5_password=md5)
        n.validate()  # an invalid session fails the change here, not in the speaker
        out.append(n)
    return tuple(out)
