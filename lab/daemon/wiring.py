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
from lab.dataplane.sync import sync
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
        self.lock = asyncio.Lock()
        self.on_change: OnChange | None = None  # the daemon follows customers
        self.catalog: Catalog | None = None  # the controller's: dedicated connections' capacity

    # --- lookups (Wiring port) ------------------------------------------------------------
    def placement(self, link_id: str) -> LinkPlacement | None:
        name = self.link_names.get(link_id)
        if name is None:
            return None
        try:
            w = self.topo.link(name)
        except KeyError:
            return None
        transit = {"ipv4": w.scw_transit_v4, "ipv6": w.scw_transit_v6}
        return LinkPlacement(scw_netns=w.scw_netns,
                             transit_address={f: a for f, a in transit.items() if a})

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

    async def _apply(self, scenario: Scenario) -> None:
        topo = build_topology(scenario, self.lab, self.topo.node_names)
        report = await asyncio.get_running_loop().run_in_executor(
            None, sync, self.topo, topo)
        self.scenario, self.topo = scenario, topo
        self._save()
        log.info("data plane synced: +%s -%s (%.2fs)", list(report.added_nodes),
                 list(report.removed_nodes), report.seconds)
        if self.on_change is not None:
            await self.on_change(topo)

    async def provision(self, link: Link) -> None:
        async with self.lock:
            if link.id in self.link_names:
                return  # already wired (a restart during provisioning)
            vpc_name = self.vpc_names.get(link.vpc_id or "")
            scenario, name, customer = world.with_link(
                self.scenario, link, vpc_name,
                lambda kind: registry.get(kind).per_link_sessions,
                world.link_port(link, self.catalog))
            if customer not in {c.name for c in self.scenario.customers}:
                self.auto_customers[link.id] = customer
            self.link_names[link.id] = name
            try:
                await self._apply(scenario)
            except Exception:
                self.link_names.pop(link.id, None)
                self.auto_customers.pop(link.id, None)
                raise

    async def unprovision(self, link_id: str) -> None:
        async with self.lock:
            name = self.link_names.get(link_id)
            if name is None:
                return
            scenario = world.without_link(self.scenario, name,
                                          self.auto_customers.get(link_id))
            await self._apply(scenario)
            self.link_names.pop(link_id, None)
            self.auto_customers.pop(link_id, None)
            self._save()

    async def refresh(self, vpcs: Mapping[str, Vpc],
                      link_vpcs: Mapping[str, str | None]) -> None:
        """VPCs, private networks or attachments changed: plumb routers to match."""
        async with self.lock:
            by_name = {self.link_names[lid]: vid for lid, vid in link_vpcs.items()
                       if lid in self.link_names}
            scenario, names = world.with_vpcs(self.scenario, vpcs, self.vpc_names, by_name)
            if scenario == self.scenario and names == self.vpc_names:
                return
            previous = self.vpc_names
            self.vpc_names = names
            try:
                await self._apply(scenario)
            except (ScenarioError, LabBuildError) as exc:
                # The resource change stands (it is valid for Scaleway); the lab says why
                # it could not plumb it instead of failing the API call.
                self.vpc_names = previous
                log.error("cannot plumb the VPC change: %s", exc)

