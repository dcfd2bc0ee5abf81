"""The lab's side of the controller's ``Wiring`` port: where links and VPCs live, and building
or removing their plumbing as links are provisioned and VPCs change.

The effective scenario (the file plus what the API added) is the single source of truth: it
is stored, turned into a Topology, and the namespaces are synced to it. Resource ids map to
scenario names through two stored tables, so a restarted controller finds everything again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from controller.core.catalog import Catalog
from controller.core.model import Link, Vpc
from controller.drivers.store import Store
from controller.service.ports import LinkPlacement
from lab.dataplane.build import LabBuildError
from lab.dataplane.sync import SyncReport, sync
from lab.routers import registry
from lab.scenario import world
from lab.scenario.addressing import build_topology
from lab.scenario.dump import scenario_to_dict
from lab.scenario.model import (
    FORBIDDEN_PREFIXES,
    TRANSIT_V4,
    TRANSIT_V6,
    Scenario,
    ScenarioError,
)
from lab.scenario.parse import parse_scenario
from lab.scenario.topology import Topology

log = logging.getLogger("lab.daemon.wiring")
OnChange = Callable[[Topology], Awaitable[None]]
# A change of the effective scenario: pure but for the id tables it updates.
Change = Callable[[Scenario], Scenario]

# What no private network may overlap (the controller's ``reserved``): the host's networks
# and the transit networks between Scaleway and VPC routers, with room to grow (/20, /48).
RESERVED_PREFIXES = (*FORBIDDEN_PREFIXES, TRANSIT_V4.supernet(new_prefix=20),
                     TRANSIT_V6.supernet(new_prefix=48))


class LabWiring:
    def __init__(self, lab: str, store: Store, scenario: Scenario):
        self.lab, self.store = lab, store
        saved = store.get("lab", "scenario")
        self.scenario = parse_scenario(saved, "stored scenario") if saved else scenario
        # Names once given never change: a grown lab keeps them (older state: none stored).
        self.topo = build_topology(self.scenario, lab, store.get("lab", "node_names"))
        self.link_names: dict[str, str] = dict(store.get("lab", "link_names") or {})
        self.vpc_names: dict[str, str] = dict(store.get("lab", "vpc_names") or {})
        self.auto_customers: dict[str, str] = dict(store.get("lab", "auto_customers") or {})
        self.lock = asyncio.Lock()  # one sync at a time
        self._queue: list[tuple[Change, asyncio.Future[None]]] = []
        self._placements: dict[str, tuple[str, Topology, LinkPlacement]] = {}
        self.on_change: OnChange | None = None  # the daemon follows customers
        self.catalog: Catalog | None = None  # the controller's: dedicated connections' capacity

    # --- lookups (Wiring port) ------------------------------------------------------------
    def placement(self, link_id: str) -> LinkPlacement | None:
        name = self.link_names.get(link_id)
        if name is None:
            return None
        # A full reconciliation asks this of every link, several times: remembered per
        # (name, topology) so that it is a dict lookup until the topology changes.
        cached = self._placements.get(link_id)
        if cached is not None and cached[0] == name and cached[1] is self.topo:
            return cached[2]
        try:
            w = self.topo.link(name)
        except KeyError:
            return None
        transit = {"ipv4": w.scw_transit_v4, "ipv6": w.scw_transit_v6}
        placement = LinkPlacement(scw_netns=w.scw_netns,
                                  transit_address={f: a for f, a in transit.items() if a})
        self._placements[link_id] = (name, self.topo, placement)
        return placement

    def vpc_netns(self, vpc_id: str) -> str | None:
        name = self.vpc_names.get(vpc_id)
        if name is None:
            return None
        try:
            return self.topo.vpc(name).router_netns
        except KeyError:
            return None

    def link_name(self, link_id: str) -> str | None:
        return self.link_names.get(link_id)

    # --- changes --------------------------------------------------------------------------
    def record_seed(self, link_names: dict[str, str], vpc_names: dict[str, str]) -> None:
        self.link_names, self.vpc_names = dict(link_names), dict(vpc_names)
        self._save()

    def _save(self) -> None:
        with self.store.transaction() as tx:
            tx.put("lab", "scenario", scenario_to_dict(self.scenario))
            tx.put("lab", "link_names", self.link_names)
            tx.put("lab", "vpc_names", self.vpc_names)
            tx.put("lab", "auto_customers", self.auto_customers)
            tx.put("lab", "node_names", self.topo.node_names)

    async def resync(self) -> None:
        """After a controller restart: re-create whatever the data plane is missing."""
        async with self.lock:
            await asyncio.get_running_loop().run_in_executor(None, sync, None, self.topo)

    # --- changes, applied in batches ------------------------------------------------------
    async def _submit(self, change: Change) -> None:
        """Apply ``change`` (scenario -> scenario; it may update the id tables) with whatever
        other changes are waiting: while one sync runs, the changes asked meanwhile queue and
        the next sync applies them all at once (a sync costs about the same for one link or
        ten: the shared namespaces are read and written once). Raises this change's error."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((change, done))
        async with self.lock:
            if not done.done():
                await self._drain()
        await done

    async def _drain(self) -> None:
        batch, self._queue = self._queue, []
        try:
            if not await self._apply_batch(batch) and len(batch) > 1:
                for item in batch:  # one change failed them all: each alone, so only its
                    await self._apply_batch([item])  # caller gets the error
        except BaseException as exc:  # cancelled: no caller waits for ever
            _fail(batch, exc)
            raise

    async def _apply_batch(self, batch: list[tuple[Change, asyncio.Future[None]]]) -> bool:
        """Fold the changes into one scenario and apply it; tell their callers. False when a
        ScenarioError or LabBuildError left everything as it was (the id tables are put
        back; a single change's caller gets the error). An error after the new topology is in
        place (following it: the customers' routers) goes to every caller."""
        tables = self._tables()
        try:
            scenario = self.scenario
            for change, _ in batch:
                scenario = change(scenario)
            built = await self._build(scenario) if scenario != self.scenario else None
        except Exception as exc:
            self._restore(tables)
            err = exc
            if not isinstance(exc, ScenarioError | LabBuildError):
                err = LabBuildError(f"syncing lab {self.lab!r} failed: {exc}")
                err.__cause__ = exc
            if len(batch) == 1:
                _fail(batch, err)
            return False
        try:
            if built is not None:
                self.scenario, self.topo = scenario, built
            self._save()  # the id tables may have changed even if the scenario did not
            if built is not None and self.on_change is not None:
                await self.on_change(built)
        except Exception as exc:
            _fail(batch, exc)
            return True
        for _, done in batch:
            if not done.done():
                done.set_result(None)
        return True

    def _tables(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        return dict(self.link_names), dict(self.vpc_names), dict(self.auto_customers)

    def _restore(self, tables: tuple[dict[str, str], dict[str, str], dict[str, str]]) -> None:
        self.link_names, self.vpc_names, self.auto_customers = (dict(t) for t in tables)

    async def _build(self, scenario: Scenario) -> Topology:
        # The topology is built in the sync's thread: at 100 links it takes ~50 ms of CPU,
        # which on the event loop would hold every API call for as long.
        topo, report = await asyncio.get_running_loop().run_in_executor(
            None, _build_and_sync, scenario, self.lab, self.topo)
        log.info("data plane synced: +%s -%s (%.2fs)", list(report.added_nodes),
                 list(report.removed_nodes), report.seconds)
        return topo

    async def provision(self, link: Link) -> None:
        def change(scn: Scenario) -> Scenario:
            if link.id in self.link_names:
                return scn  # already wired (a restart during provisioning)
            scenario, name, customer = world.with_link(
                scn, link, self.vpc_names.get(link.vpc_id or ""),
                lambda kind: registry.get(kind).per_link_sessions,
                world.link_port(link, self.catalog))
            if customer not in {c.name for c in scn.customers}:
                self.auto_customers[link.id] = customer
            self.link_names[link.id] = name
            return scenario

        if link.id not in self.link_names:
            await self._submit(change)

    async def unprovision(self, link_id: str) -> None:
        def change(scn: Scenario) -> Scenario:
            name = self.link_names.pop(link_id, None)
            if name is None:
                return scn
            return world.without_link(scn, name, self.auto_customers.pop(link_id, None))

        if link_id in self.link_names:
            await self._submit(change)

    async def refresh(self, vpcs: Mapping[str, Vpc],
                      link_vpcs: Mapping[str, str | None]) -> None:
        """VPCs, private networks or attachments changed: plumb routers to match."""
        vpcs, link_vpcs = dict(vpcs), dict(link_vpcs)

        def change(scn: Scenario) -> Scenario:
            by_name = {self.link_names[lid]: vid for lid, vid in link_vpcs.items()
                       if lid in self.link_names}
            scenario, self.vpc_names = world.with_vpcs(scn, vpcs, self.vpc_names, by_name)
            return scenario

        try:
            await self._submit(change)
        except (ScenarioError, LabBuildError) as exc:
            # The resource change stands (it is valid for Scaleway); the lab says why it
            # could not plumb it instead of failing the API call.
            log.error("cannot plumb the VPC change: %s", exc)


def _build_and_sync(scenario: Scenario, lab: str, old: Topology) -> tuple[Topology, SyncReport]:
    topo = build_topology(scenario, lab, old.node_names)
    return topo, sync(old, topo)


def _fail(batch: list[tuple[Change, asyncio.Future[None]]], exc: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(exc)
