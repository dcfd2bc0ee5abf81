"""The controller: owns the InterLink resources and makes the data plane match them.

Every change (an API call or a batch of BGP events) runs under one asyncio lock:
validate + mutate the inventory (pure), persist, then reconcile (pure) and apply the
difference to the speakers (ExaBGP API) and the kernel tables (netlink). BGP events are
queued and drained in batches so that 10,000 routes cost a few reconciliations, not 10,000.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from controller.core import reconcile, status
from controller.core.catalog import Catalog
from controller.core.catalog import load as load_catalog
from controller.core.events import (
    Announced,
    EndOfRib,
    Event,
    ReplayDone,
    Route,
    RouteUpdate,
    SessionState,
)
from controller.core.inventory import Inventory
from controller.core.model import (
    SCW_ASN,
    Link,
    Vpc,
    link_from_dict,
    policy_from_dict,
    vpc_from_dict,
)
from controller.core.prefixes import PrefixFilter
from controller.drivers.exabgp_config import NeighborConfig, render_config
from controller.drivers.store import Store

log = logging.getLogger("controller")
FAMILIES = reconcile.FAMILIES


@dataclass(frozen=True)
class LinkPlacement:
    """Where a link lives in the lab: its Scaleway router and the VPC router's view of it."""

    scw_netns: str
    transit_address: Mapping[str, str]  # family -> scw router address the VPC router routes via


class Tables(Protocol):
    def apply(self, add: Iterable[Any], remove: Iterable[str]) -> Any: ...
    def list(self) -> dict[str, Any]: ...


class Hub(Protocol):
    def connected(self, speaker: str) -> bool: ...
    async def announce(self, speaker: str, neighbor: str, prefixes: list[str],
                       communities: list[str] = ...) -> None: ...
    async def withdraw(self, speaker: str, neighbor: str, prefixes: list[str]) -> None: ...


class Wiring(Protocol):
    """The data plane behind the resources (the lab): where links and VPCs live, and
    creating or removing that plumbing when links are provisioned or VPCs change."""

    def placement(self, link: Link) -> LinkPlacement | None: ...
    def vpc_netns(self, vpc: Vpc) -> str | None: ...
    async def provision(self, link: Link) -> None: ...
    async def unprovision(self, link: Link) -> None: ...
    async def refresh(self, inv: Inventory) -> None: ...


class Speakers(Protocol):
    """Process management of the Scaleway-side ExaBGP speakers."""

    def ensure(self, name: str, netns: str, config_text: str) -> None: ...
    def stop(self, name: str) -> None: ...


def speaker_name(link_id: str) -> str:
    return f"scw-{link_id[:8]}"


class Controller:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        speakers: Speakers,
        table_for: Callable[[str], Tables],
        wiring: Wiring,
        bridge_command: Callable[[str], list[str]],
        kernel_route: Callable[[str, tuple[str, ...]], Any],
        catalog: Catalog | None = None,
        diagnose: Callable[[Link, str], str | None] | None = None,
    ):
        self.store, self.hub, self.speakers = store, hub, speakers
        self._table_for, self.wiring = table_for, wiring
        self._bridge_command, self._kernel_route = bridge_command, kernel_route
        self.catalog = catalog if catalog is not None else load_catalog()
        self._tasks: set[asyncio.Task[None]] = set()
        # Why a session is down, when BGP itself cannot say (a TCP-MD5 mismatch is silent).
        self._diagnose = diagnose
        self.down_reason: dict[tuple[str, str], str] = {}
        self.inv = Inventory()
        self.lock = asyncio.Lock()
        self.sessions: dict[tuple[str, str], bool] = {}  # (link id, family) -> up
        self.rib: dict[str, dict[str, dict[str, Route]]] = {}
        self.applied_tables: dict[str, dict[str, tuple[str, ...]]] = {}  # netns -> table
        self.applied_announce: dict[tuple[str, str], frozenset[str]] = {}
        self.desired = reconcile.Desired()
        self.rejected: dict[str, dict[str, str]] = {}
        self._last_status: dict[str, tuple[str, str, str]] = {}
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._events: asyncio.Queue[tuple[str, Event | None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._speaker_link: dict[str, str] = {}
        self._configs: dict[str, str] = {}
        self._history: list[dict[str, Any]] = []
        self._replaying: set[str] = set()
        self._pending: set[str] = set()
        self._full_pending = False
        self.replayed = asyncio.Event()  # set once every speaker's snapshot is in

    # --- start / stop -----------------------------------------------------------------------------
    def load(self) -> None:
        for d in self.store.all("routing_policy"):
            p = policy_from_dict(d)
            self.inv.policies[p.id] = p
        for d in self.store.all("vpc"):
            v = vpc_from_dict(d)
            self.inv.vpcs[v.id] = v
        for d in self.store.all("link"):
            lk = link_from_dict(d)
            self.inv.links[lk.id] = lk

    async def start(self, replay_deadline: float = 5.0) -> None:
        """Adopt what the kernel holds, (re)start speakers, then reconcile once they replayed.

        Until every speaker's bridge has replayed its snapshot (or ``replay_deadline`` passed)
        nothing is removed from the kernel: a restarted controller must not blink the VPC table.
        """
        loop = asyncio.get_running_loop()
        for netns in self._all_netns():
            routes = await loop.run_in_executor(None, self._table_for(netns).list)
            self.applied_tables[netns] = {p: tuple(r.gateways) for p, r in routes.items()}
        self._replaying = {speaker_name(lk.id) for lk in self.inv.links.values()
                           if lk.lifecycle == "provisioned"}
        for link in self.inv.links.values():
            self._last_status[link.id] = self._statuses(link)
        async with self.lock:
            await self._reconcile_all()
        if not self._replaying:
            self.replayed.set()
        self._worker = asyncio.create_task(self._drain_events())
        loop.call_later(replay_deadline, self._replay_deadline)

    def _replay_deadline(self) -> None:
        if self._replaying:
            log.warning("no snapshot from %s in time: reconciling without it",
                        ", ".join(sorted(self._replaying)))
            self._replaying.clear()
            self._events.put_nowait(("", None))  # wakes the worker for a full reconcile

    async def close(self, stop_speakers: bool = True) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if stop_speakers:
            for name in list(self._configs):
                self.speakers.stop(name)

    def _placements(self) -> dict[str, LinkPlacement]:
        """Link id -> placement, for the links that have a data plane."""
        out = {}
        for lk in self.inv.links.values():
            placement = self.wiring.placement(lk)
            if placement is not None:
                out[lk.id] = placement
        return out

    def _vpc_netns(self) -> dict[str, str]:
        out = {}
        for v in self.inv.vpcs.values():
            netns = self.wiring.vpc_netns(v)
            if netns is not None:
                out[v.id] = netns
        return out

    def _all_netns(self) -> set[str]:
        return ({p.scw_netns for p in self._placements().values()}
                | set(self._vpc_netns().values()))

    def rename_netns(self, renamed: dict[str, str]) -> None:
        """The lab renamed namespaces (old -> new): what we applied there is still there."""
        for old, new in renamed.items():
            if old in self.applied_tables:
                self.applied_tables[new] = self.applied_tables.pop(old)

    # --- persistence ------------------------------------------------------------------------------
    def _persist(self, links: Iterable[Link] = (), policies: Iterable[Any] = (),
                 vpcs: Iterable[Vpc] = (), deleted: Iterable[tuple[str, str]] = ()) -> None:
        with self.store.transaction() as tx:
            for lk in links:
                tx.put("link", lk.id, asdict(lk))
            for p in policies:
                tx.put("routing_policy", p.id, asdict(p))
            for v in vpcs:
                tx.put("vpc", v.id, asdict(v))
            for kind, obj_id in deleted:
                tx.delete(kind, obj_id)

    def seed(self, vpcs: Iterable[Vpc], policies: Iterable[Any], links: Iterable[Link]) -> None:
        """First start of a lab: the scenario's resources, stored in one transaction."""
        with self.store.transaction() as tx:
            for v in vpcs:
                self.inv.vpcs[v.id] = v
                tx.put("vpc", v.id, asdict(v))
            for p in policies:
                self.inv.policies[p.id] = p
                tx.put("routing_policy", p.id, asdict(p))
            for lk in links:
                self.inv.links[lk.id] = lk
                tx.put("link", lk.id, asdict(lk))

    # --- status -----------------------------------------------------------------------------------
    def _statuses(self, link: Link) -> tuple[str, str, str]:
        v4 = status.bgp_status(link.routing_policy_v4_id is not None,
                               self.sessions.get((link.id, "ipv4"), False))
        v6 = status.bgp_status(link.routing_policy_v6_id is not None,
                               self.sessions.get((link.id, "ipv6"), False))
        return status.link_status(link.lifecycle, (v4, v6)), v4, v6

    def link_json(self, link: Link) -> dict[str, Any]:
        st, v4, v6 = self._statuses(link)
        return link.to_api(st, v4, v6)

    def _publish_status_changes(self) -> None:
        for link in self.inv.links.values():
            new = self._statuses(link)
            old = self._last_status.get(link.id)
            if old == new:
                continue
            self._last_status[link.id] = new
            names = ("status", "bgp_v4_status", "bgp_v6_status")
            for field, before, after in zip(names, old or (None,) * 3, new, strict=True):
                if before != after:
                    self.publish({"type": "status", "link_id": link.id, "link_name": link.name,
                                  "field": field, "old": before, "new": after})

    def publish(self, event: dict[str, Any]) -> None:
        event = {"time": time.time(), **event}
        self._history = [*self._history[-999:], event]
        for q in list(self._subscribers):
            q.put_nowait(event)

    async def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    async def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(q)

    # --- reconciliation ---------------------------------------------------------------------------
    def _views(self) -> tuple[list[reconcile.LinkView], dict[str, list[str]]]:
        placements, vpc_ns = self._placements(), self._vpc_netns()
        views = []
        for lk in sorted(self.inv.links.values(), key=lambda x: x.created_at):
            placement = placements.get(lk.id)
            if placement is None:
                continue  # no data plane yet (requested, refused, ...): nothing to do
            pol: dict[str, reconcile.PolicyView | None] = {}
            for fam in FAMILIES:
                pid = lk.policy_id(fam)
                p = self.inv.policies.get(pid) if pid else None
                pol[fam] = (reconcile.PolicyView(PrefixFilter.compile(p.prefix_filter_in),
                                                 tuple(p.prefix_filter_out)) if p else None)
            wired = lk.vpc_id in vpc_ns and all(placement.transit_address.get(f)
                                               for f in FAMILIES)
            views.append(reconcile.LinkView(
                link_id=lk.id, order=lk.created_at, vpc_id=lk.vpc_id if wired else None,
                propagation=lk.enable_route_propagation,
                provisioned=lk.lifecycle == "provisioned", policies=pol,
                peer_address={f: lk.peer_bgp_config.address(f) for f in FAMILIES},
                transit_address={f: a for f, a in placement.transit_address.items() if a}))
        subnets = {v.id: v.subnets() for v in self.inv.vpcs.values()}
        return views, subnets

    def _table_netns(self) -> tuple[dict[str, str], dict[str, str]]:
        """(vpc id -> netns, link id -> netns) for the tables in a Desired."""
        return self._vpc_netns(), {lid: p.scw_netns for lid, p in self._placements().items()}

    def _desired_by_netns(
            self, desired: reconcile.Desired) -> dict[str, dict[str, tuple[str, ...]]]:
        vpc_ns, link_ns = self._table_netns()
        out: dict[str, dict[str, tuple[str, ...]]] = {ns: {} for ns in self._all_netns()}
        for vpc_id, table in desired.vpc_tables.items():
            if vpc_id in vpc_ns:
                out[vpc_ns[vpc_id]].update(table)
        for link_id, table in desired.scw_tables.items():
            if link_id in link_ns:
                out[link_ns[link_id]].update(table)
        return out

    async def _reconcile_all(self) -> None:
        await self._ensure_speakers()
        if self._replaying:
            self._full_pending = True  # done when the last replay ends
            return
        views, subnets = self._views()
        self.desired = reconcile.compute(views, subnets, self.rib)
        self.rejected = self.desired.rejected
        await self._apply_tables(self._desired_by_netns(self.desired), scope=None)
        await self._apply_announcements()
        self._publish_status_changes()

    async def _reconcile_prefixes(self, prefixes: set[str]) -> None:
        views, subnets = self._views()
        partial = reconcile.compute_prefixes(views, subnets, self.rib, prefixes)
        for link_id in list(self.rejected):
            for p in prefixes & self.rejected[link_id].keys():
                del self.rejected[link_id][p]
        for link_id, why in partial.rejected.items():
            self.rejected.setdefault(link_id, {}).update(why)
        await self._apply_tables(self._desired_by_netns(partial), scope=prefixes)
        self._publish_status_changes()

    async def _apply_tables(self, desired: dict[str, dict[str, tuple[str, ...]]],
                            scope: set[str] | None) -> None:
        loop = asyncio.get_running_loop()
        jobs = []
        for netns, want in desired.items():
            have = self.applied_tables.setdefault(netns, {})
            add, remove = reconcile.diff(have, want, scope)
            if not add and not remove:
                continue
            routes = [self._kernel_route(p, gws) for p, gws in add.items()]
            table = self._table_for(netns)
            jobs.append(loop.run_in_executor(None, table.apply, routes, remove))
            for p in remove:
                have.pop(p, None)
            have.update(add)
        for result in await asyncio.gather(*jobs):
            failures = getattr(result, "failures", None)
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

    def _speaker_config(self, link: Link) -> str:
        neighbors = []
        for fam in FAMILIES:
            if link.policy_id(fam) is None:
                continue  # no policy of that family: the session does not exist
            local = link.scw_bgp_config.address(fam)
            neighbors.append(NeighborConfig(
                peer_address=link.peer_bgp_config.address(fam), local_address=local,
                router_id=link.scw_bgp_config.address("ipv4"), local_as=SCW_ASN,
                peer_as=link.peer_bgp_config.asn, family=fam, hold_time=link.hold_time,
                md5_password=link.md5_password))
        return render_config(neighbors, self._bridge_command(speaker_name(link.id)))

    async def _ensure_speakers(self) -> None:
        loop = asyncio.get_running_loop()
        placements = self._placements()
        for link in self.inv.links.values():
            name = speaker_name(link.id)
            self._speaker_link[name] = link.id
            if link.lifecycle not in ("provisioned", "ready") or link.id not in placements:
                continue
            text = self._speaker_config(link)
            if self._configs.get(name) == text:
                continue
            self._configs[name] = text
            netns = placements[link.id].scw_netns
            if link.routing_policy_v4_id or link.routing_policy_v6_id:
                await loop.run_in_executor(None, self.speakers.ensure, name, netns, text)
            else:  # no session at all: ExaBGP will not run without a neighbor
                await loop.run_in_executor(None, self.speakers.stop, name)
            # A session removed from the config no longer exists: forget what it taught us.
            for fam in FAMILIES:
                if link.policy_id(fam) is None:
                    self._session_down(link.id, fam)
                    self.applied_announce.pop((link.id, fam), None)

    # --- BGP events -------------------------------------------------------------------------------
    def on_event(self, speaker: str, event: Event) -> None:
        """Called by the hub for every event of a Scaleway-side speaker, in order."""
        self._events.put_nowait((speaker, event))

    def on_connect(self, speaker: str) -> None:
        """A bridge (re)connected: its snapshot replay follows and is the complete state."""
        self._events.put_nowait((speaker, None))

    def _session_down(self, link_id: str, family: str) -> set[str]:
        self.sessions[(link_id, family)] = False
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

    async def _handle_batch(self, batch: list[tuple[str, Event | None]]) -> None:
        touched: set[str] = set()
        full = False
        for speaker, ev in batch:
            if ev is None and not speaker:
                full = True  # the replay deadline passed
                continue
            if ev is None:
                # Forget what this speaker taught us (its replay is the complete state) and
                # apply nothing until the replay is done, so a restart does not blink routes.
                self._replaying.add(speaker)
                link_id = self._speaker_link.get(speaker)
                for fam in FAMILIES if link_id else ():
                    touched |= set(self.rib.get(link_id or "", {}).pop(fam, {}))
                    self.applied_announce.pop((link_id or "", fam), None)
                continue
            if isinstance(ev, ReplayDone):
                self._replaying.discard(speaker)
                link = self.inv.links.get(self._speaker_link.get(speaker, ""))
                for fam in FAMILIES if link else ():
                    assert link is not None
                    if link.peer_bgp_config.address(fam) not in ev.peers:
                        touched |= self._session_down(link.id, fam)  # unknown to ExaBGP
                full = True
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
                    full = True  # a fresh session needs our announcements
                    if link.lifecycle == "ready":  # self-hosted: BGP up = provisioned
                        self.inv.mark_provisioned(link.id)
                        self._persist(links=[link])
                    self.applied_announce.pop((link.id, fam), None)
                elif ev.state == "down":
                    if ev.reason:
                        self.down_reason[(link.id, fam)] = ev.reason
                    if self.sessions.get((link.id, fam)):
                        touched |= self._session_down(link.id, fam)
            elif isinstance(ev, RouteUpdate):
                table = self.rib.setdefault(link.id, {}).setdefault(fam, {})
                for route in ev.announced:
                    table[route.prefix] = route
                    touched.add(route.prefix)
                for _family, prefix in ev.withdrawn:
                    if table.pop(prefix, None) is not None:
                        touched.add(prefix)
            elif isinstance(ev, Announced):
                self.applied_announce[(link.id, fam)] = frozenset(
                    p for p, _communities in ev.prefixes)
                full = True
        self._pending |= touched
        if self._replaying:
            return
        touched, self._pending = self._pending, set()
        self.replayed.set()
        if full or self._full_pending:
            self._full_pending = False
            await self._reconcile_all()
        elif touched:
            await self._reconcile_prefixes(touched)

    # --- API: links -------------------------------------------------------------------------------
    async def list_links(self) -> list[dict[str, Any]]:
        return [self.link_json(lk) for lk in self.inv.links.values()]

    async def get_link(self, link_id: str) -> dict[str, Any]:
        return self.link_json(self.inv.link(link_id))

    async def _link_op(self, fn: Callable[[], Link], rewire: bool = False) -> dict[str, Any]:
        async with self.lock:
            before = {lid: _snapshot(lk) for lid, lk in self.inv.links.items()}
            link = fn()
            try:
                self._persist(links=[link])
            except Exception:
                self.inv.links[link.id] = link_from_dict(before[link.id])
                raise
            if rewire:  # the link's VPC changed: its router may need a path to the new one
                await self.wiring.refresh(self.inv)
            await self._reconcile_all()
            return self.link_json(link)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    async def create_link(self, body: dict[str, Any], region: str) -> dict[str, Any]:
        async with self.lock:
            link = self.inv.create_link(body, region, self.catalog)
            try:
                self._persist(links=[link])
            except Exception:
                del self.inv.links[link.id]
                raise
            if link.lifecycle == "ready":  # self-hosted: nothing to wait for, wire it now
                self._spawn(self._provision(link.id))
            return self.link_json(link)

    async def approve_link(self, pairing_key: str) -> dict[str, Any]:
        async with self.lock:
            link = self.inv.link_by_pairing_key(pairing_key)
            before = _snapshot(link)
            self.inv.approve_link(pairing_key)
            try:
                self._persist(links=[link])
            except Exception:
                self.inv.links[link.id] = link_from_dict(before)
                raise
            self._spawn(self._provision(link.id))
            return self.link_json(link)

    async def _provision(self, link_id: str) -> None:
        """The partner's side is done: build the link's plumbing and speakers, then go live."""
        link = self.inv.links.get(link_id)
        if link is None:
            return
        try:
            await self.wiring.provision(link)
        except Exception as exc:
            log.exception("provisioning link %s failed", link_id)
            async with self.lock:
                link.lifecycle = "failed"
                self._persist(links=[link])
                self.publish({"type": "error", "link_id": link_id, "message": str(exc)})
                self._publish_status_changes()
            return
        async with self.lock:
            if link.lifecycle == "provisioning":
                self.inv.mark_provisioned(link_id)
                self._persist(links=[link])
            await self._reconcile_all()

    async def refuse_link(self, pairing_key: str, reason: str | None) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.refuse_link(pairing_key, reason))

    async def expire_link(self, link_id: str) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.expire_link(link_id))

    async def delete_link(self, link_id: str) -> dict[str, Any]:
        async with self.lock:
            link = self.inv.delete_link(link_id)
            answer = self.link_json(link)
            if link.lifecycle == "deprovisioning":
                self._persist(links=[link])
                self._spawn(self._deprovision(link_id))
            else:  # never provisioned: gone at once
                self._persist(deleted=[("link", link_id)])
            self._publish_status_changes()
            return answer

    async def _deprovision(self, link_id: str) -> None:
        link = self.inv.links.get(link_id)
        if link is None:
            return
        name = speaker_name(link_id)
        await asyncio.get_running_loop().run_in_executor(None, self.speakers.stop, name)
        self._configs.pop(name, None)
        try:
            await self.wiring.unprovision(link)
        except Exception:
            log.exception("tearing down link %s failed; removing it anyway", link_id)
        async with self.lock:
            self.inv.finish_delete(link_id)
            self._persist(deleted=[("link", link_id)])
            self.rib.pop(link_id, None)
            for fam in FAMILIES:
                self.sessions.pop((link_id, fam), None)
                self.applied_announce.pop((link_id, fam), None)
            self._last_status.pop(link_id, None)
            await self._reconcile_all()

    async def update_link(self, link_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.update_link(link_id, body))

    async def attach_vpc(self, link_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.attach_vpc(link_id, body), rewire=True)

    async def detach_vpc(self, link_id: str) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.detach_vpc(link_id), rewire=True)

    async def attach_routing_policy(self, link_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.attach_policy(link_id, body))

    async def detach_routing_policy(self, link_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.detach_policy(link_id, body))

    async def set_routing_policy(self, link_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.set_policy(link_id, body))

    async def enable_route_propagation(self, link_id: str) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.set_propagation(link_id, True))

    async def disable_route_propagation(self, link_id: str) -> dict[str, Any]:
        return await self._link_op(lambda: self.inv.set_propagation(link_id, False))

    async def link_stats(self, link_id: str) -> dict[str, Any]:
        link = self.inv.link(link_id)
        placement = self.wiring.placement(link)
        vpc = self.inv.vpcs.get(link.vpc_id or "")
        vpc_netns = self.wiring.vpc_netns(vpc) if vpc else None
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
                reason = self._diagnose(link, fam) if self._diagnose else None
                reason = reason or self.down_reason.get((link.id, fam))
                if reason:
                    out[fam]["reason"] = reason
        return out

    # --- API: routing policies --------------------------------------------------------------------
    async def list_policies(self) -> list[dict[str, Any]]:
        return [p.to_api() for p in self.inv.policies.values()]

    async def get_policy(self, policy_id: str) -> dict[str, Any]:
        return self.inv.policy(policy_id).to_api()

    async def create_policy(self, body: dict[str, Any], region: str) -> dict[str, Any]:
        async with self.lock:
            policy = self.inv.create_policy(body, region)
            try:
                self._persist(policies=[policy])
            except Exception:
                del self.inv.policies[policy.id]
                raise
            return policy.to_api()

    async def update_policy(self, policy_id: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            old = _snapshot(self.inv.policy(policy_id))
            policy = self.inv.update_policy(policy_id, body)
            try:
                self._persist(policies=[policy])
            except Exception:
                self.inv.policies[policy_id] = policy_from_dict(old)
                raise
            if self.inv.links_using_policy(policy_id):
                await self._reconcile_all()  # edits apply at once to every link using it
            return policy.to_api()

    async def delete_policy(self, policy_id: str) -> None:
        async with self.lock:
            policy = self.inv.delete_policy(policy_id)
            try:
                self._persist(deleted=[("routing_policy", policy_id)])
            except Exception:
                self.inv.policies[policy_id] = policy
                raise

    # --- API: VPCs --------------------------------------------------------------------------------
    async def list_vpcs(self) -> list[dict[str, Any]]:
        return [v.to_api() for v in self.inv.vpcs.values()]

    async def get_vpc(self, vpc_id: str) -> dict[str, Any]:
        return self.inv.vpc(vpc_id).to_api()

    async def list_private_networks(self) -> list[dict[str, Any]]:
        return [pn.to_api() for v in self.inv.vpcs.values() for pn in v.private_networks]

    async def get_private_network(self, pn_id: str) -> dict[str, Any]:
        _vpc, pn = self.inv.private_network(pn_id)
        return pn.to_api()

    async def _vpc_op(self, fn: Callable[[], Any], vpc_id: Callable[[Any], str],
                      deleted: bool = False) -> Any:
        """Mutate, persist the VPC record, then make the data plane follow (routers, subnets)."""
        async with self.lock:
            before = {v.id: _snapshot(v) for v in self.inv.vpcs.values()}
            result = fn()
            vid = vpc_id(result)
            try:
                if vid in self.inv.vpcs:
                    self._persist(vpcs=[self.inv.vpcs[vid]])
                else:
                    self._persist(deleted=[("vpc", vid)])
            except Exception:
                self.inv.vpcs = {k: vpc_from_dict(d) for k, d in before.items()}
                raise
            await self.wiring.refresh(self.inv)
            await self._reconcile_all()
            return None if deleted else result.to_api()

    async def create_vpc(self, body: dict[str, Any], region: str) -> dict[str, Any]:
        out: dict[str, Any] = await self._vpc_op(
            lambda: self.inv.create_vpc(body, region), lambda v: v.id)
        return out

    async def delete_vpc(self, vpc_id: str) -> None:
        await self._vpc_op(lambda: self.inv.delete_vpc(vpc_id), lambda v: v.id, deleted=True)

    async def create_private_network(self, body: dict[str, Any], region: str) -> dict[str, Any]:
        out: dict[str, Any] = await self._vpc_op(
            lambda: self.inv.create_private_network(body, region), lambda pn: pn.vpc_id)
        return out

    async def delete_private_network(self, pn_id: str) -> None:
        await self._vpc_op(lambda: self.inv.delete_private_network(pn_id),
                           lambda pn: pn.vpc_id, deleted=True)

    # --- API: catalog ----------------------------------------------------------------------------
    async def list_pops(self) -> list[dict[str, Any]]:
        return self.catalog.list_pops()

    async def get_pop(self, pop_id: str) -> dict[str, Any]:
        return self.catalog.pop(pop_id).to_api()

    async def list_partners(self) -> list[dict[str, Any]]:
        return self.catalog.list_partners()

    async def get_partner(self, partner_id: str) -> dict[str, Any]:
        return self.catalog.partner(partner_id).to_api()

    async def list_dedicated_connections(self) -> list[dict[str, Any]]:
        return self.catalog.list_connections()

    async def get_dedicated_connection(self, connection_id: str) -> dict[str, Any]:
        return self.catalog.connection(connection_id).to_api()


def _snapshot(obj: Any) -> dict[str, Any]:
    return asdict(obj)
