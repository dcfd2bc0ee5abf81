"""The API's operations (``controller.api.http.ControllerApi``) on links, routing policies,
VPCs and the catalog.

Each change runs under the controller's lock: the inventory validates and mutates (pure), the
touched record is stored (``_commit``: on a failed write the inventory gets that record back
as stored), then the data plane follows. Provisioning and deprovisioning a link run as tasks:
the wiring may take seconds, the API answers at once.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from controller.core import feed
from controller.core.catalog import Catalog
from controller.core.inventory import Inventory, check_policy_prefixes
from controller.core.model import Link, PrivateNetwork
from controller.service.bus import EventBus
from controller.service.dataplane import DataPlane
from controller.service.ports import Wiring
from controller.service.records import Key, Records, link_key, policy_key, vpc_key

log = logging.getLogger("controller")
Json = dict[str, Any]
T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a thread: thousands of prefixes take ~0.1 s to check, and no other
    request may wait behind them (controller.core.limits)."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _pn_vpc_key(pn: PrivateNetwork) -> Key:
    return "vpc", pn.vpc_id  # a private network is stored within its VPC


class Operations:
    def __init__(self, inv: Inventory, lock: asyncio.Lock, records: Records,
                 dataplane: DataPlane, wiring: Wiring, bus: EventBus, catalog: Catalog):
        self.inv, self.lock, self.records = inv, lock, records
        self.dataplane, self.wiring, self.bus, self.catalog = dataplane, wiring, bus, catalog
        self._tasks: set[asyncio.Task[None]] = set()

    def _commit(self, mutate: Callable[[], T], key: Callable[[T], Key]) -> T:
        """Mutate the inventory and store the record the change touched (under the lock)."""
        result = mutate()
        touched = key(result)
        try:
            self.records.save(touched)
        except Exception:
            self.records.reload(touched)
            raise
        return result

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    async def _rewire(self) -> None:
        """VPCs or attachments changed: the VPC routers may need plumbing."""
        await self.wiring.refresh(dict(self.inv.vpcs),
                                  {lk.id: lk.vpc_id for lk in self.inv.links.values()})

    async def _rewire_then_reconcile(self, link_id: str) -> None:
        await self._rewire()
        async with self.lock:
            await self.dataplane.reconcile_link(link_id)

    # --- links -----------------------------------------------------------------------------------
    async def list_links(self) -> list[Json]:
        return [self.dataplane.link_json(lk) for lk in self.inv.links.values()]

    async def get_link(self, link_id: str) -> Json:
        return self.dataplane.link_json(self.inv.link(link_id))

    def _publish_link_changes(self, before: dict[str, feed.LinkFacts], link: Link) -> None:
        names = {pid: p.name for pid, p in self.inv.policies.items()}
        for ev in feed.link_changes(before.get(link.id), feed.facts(link), names):
            self.bus.publish(ev)

    async def _link_op(self, mutate: Callable[[], Link], rewire: bool = False,
                       scope: str = "all") -> Json:
        """``scope``: what the change can affect, so what is reconciled: ``all``; ``link``
        (its policies or VPC: its own routes and announcements); ``propagation`` (its
        switch: a diff of the VPC tables with the verdicts known)."""
        async with self.lock:
            before = {lid: feed.facts(lk) for lid, lk in self.inv.links.items()}
            link = self._commit(mutate, link_key)
            # Before reconciling: the change comes before what it causes in the feed.
            self._publish_link_changes(before, link)
            if rewire and link.lifecycle == "provisioning":
                # Its plumbing is being built: the VPC's joins it in the next batch, and the
                # call does not wait for either (the link is not active before them).
                self._spawn(self._rewire_then_reconcile(link.id))
            elif rewire:  # the link's VPC changed: its router may need a path to the new one
                await self._rewire()
            if scope == "propagation":
                await self.dataplane.reconcile_propagation(link.id)
            elif scope == "link":
                await self.dataplane.reconcile_link(link.id)
            else:
                await self.dataplane.reconcile_all()
            return self.dataplane.link_json(link)

    async def create_link(self, body: Json, region: str) -> Json:
        async with self.lock:
            link = self._commit(lambda: self.inv.create_link(body, region, self.catalog),
                                link_key)
            self.bus.publish(feed.link_event("created", link))
            if link.lifecycle == "ready":  # self-hosted: nothing to wait for, wire it now
                self._spawn(self._provision(link.id))
            return self.dataplane.link_json(link)

    async def approve_link(self, pairing_key: str) -> Json:
        async with self.lock:
            link = self._commit(lambda: self.inv.approve_link(pairing_key), link_key)
            self._spawn(self._provision(link.id))
            return self.dataplane.link_json(link)

    async def _provision(self, link_id: str) -> None:
        """The partner's side is done: build the link's plumbing and speakers, then go live."""
        link = self.inv.links.get(link_id)
        if link is None:
            return
        try:
            await self.wiring.provision(copy.deepcopy(link))
        except Exception as exc:
            log.exception("provisioning link %s failed", link_id)
            async with self.lock:
                link.lifecycle = "failed"
                self.records.save(link_key(link))
                self.bus.publish({"type": "error", "link_id": link_id, "message": str(exc)})
                self.dataplane.publish_status_changes()
            return
        async with self.lock:
            if link.lifecycle == "provisioning":
                self.inv.mark_provisioned(link_id)
                self.records.save(link_key(link))
            await self.dataplane.reconcile_link(link_id)  # its own routes start to flow

    async def refuse_link(self, pairing_key: str, reason: str | None) -> Json:
        return await self._link_op(lambda: self.inv.refuse_link(pairing_key, reason))

    async def expire_link(self, link_id: str) -> Json:
        return await self._link_op(lambda: self.inv.expire_link(link_id))

    async def delete_link(self, link_id: str) -> Json:
        async with self.lock:
            # Never provisioned: gone from the inventory at once (and so from the store).
            link = self._commit(lambda: self.inv.delete_link(link_id), link_key)
            self.bus.publish(feed.link_event("deleted", link))
            if link.lifecycle == "deprovisioning":
                self._spawn(self._deprovision(link_id))
            elif self.wiring.placement(link_id) is not None:
                # A self-hosted link is wired while still `ready` (provisioned once its BGP
                # is up): gone from the inventory at once, its wiring must go too.
                self._spawn(self._unwire(link_id))
            self.dataplane.publish_status_changes()
            return self.dataplane.link_json(link)

    async def _unwire(self, link_id: str, finish_delete: bool = False) -> None:
        """Stop the link's speaker and remove its plumbing (a failure is logged: the link
        goes anyway); ``finish_delete``: then drop it from the inventory too."""
        await self.dataplane.stop_speaker(link_id)
        try:
            await self.wiring.unprovision(link_id)
        except Exception:
            log.exception("tearing down link %s failed; removing it anyway", link_id)
        async with self.lock:
            if finish_delete:
                self.records.save(link_key(self.inv.finish_delete(link_id)))
            self.dataplane.forget(link_id)
            await self.dataplane.reconcile_all()

    async def _deprovision(self, link_id: str) -> None:
        if link_id in self.inv.links:
            await self._unwire(link_id, finish_delete=True)

    async def update_link(self, link_id: str, body: Json) -> Json:
        return await self._link_op(lambda: self.inv.update_link(link_id, body))

    async def attach_vpc(self, link_id: str, body: Json) -> Json:
        return await self._link_op(lambda: self.inv.attach_vpc(link_id, body), rewire=True,
                                   scope="link")

    async def detach_vpc(self, link_id: str) -> Json:
        return await self._link_op(lambda: self.inv.detach_vpc(link_id), rewire=True,
                                   scope="link")

    async def attach_routing_policy(self, link_id: str, body: Json) -> Json:
        return await self._link_op(lambda: self.inv.attach_policy(link_id, body), scope="link")

    async def detach_routing_policy(self, link_id: str, body: Json) -> Json:
        return await self._link_op(lambda: self.inv.detach_policy(link_id, body), scope="link")

    async def set_routing_policy(self, link_id: str, body: Json) -> Json:
        return await self._link_op(lambda: self.inv.set_policy(link_id, body), scope="link")

    async def enable_route_propagation(self, link_id: str) -> Json:
        return await self._link_op(lambda: self.inv.set_propagation(link_id, True),
                                   scope="propagation")

    async def disable_route_propagation(self, link_id: str) -> Json:
        return await self._link_op(lambda: self.inv.set_propagation(link_id, False),
                                   scope="propagation")

    async def link_stats(self, link_id: str) -> Json:
        return self.dataplane.stats(self.inv.link(link_id))

    # --- routing policies ------------------------------------------------------------------------
    async def list_policies(self) -> list[Json]:
        return [p.to_api() for p in self.inv.policies.values()]

    async def get_policy(self, policy_id: str) -> Json:
        return self.inv.policy(policy_id).to_api()

    async def create_policy(self, body: Json, region: str) -> Json:
        ipv6 = body.get("is_ipv6")
        body = await _off_loop(check_policy_prefixes, body, False if ipv6 is None else ipv6)
        async with self.lock:
            created = self._commit(lambda: self.inv.create_policy(body, region),
                                   policy_key).to_api()
            self.bus.publish(feed.policy_event("created", created))
            return created

    async def update_policy(self, policy_id: str, body: Json) -> Json:
        body = await _off_loop(check_policy_prefixes, body, self.inv.policy(policy_id).is_ipv6)
        async with self.lock:
            old = self.inv.policy(policy_id)
            before = {"name": old.name, "tags": list(old.tags),  # copies: edits may mutate
                      "prefix_filter_in": list(old.prefix_filter_in),
                      "prefix_filter_out": list(old.prefix_filter_out)}
            policy = self._commit(lambda: self.inv.update_policy(policy_id, body), policy_key)
            api = policy.to_api()
            users = [lk.name for lk in self.inv.links_using_policy(policy_id)]
            # Diffing two lists of 10,000 prefixes: in a thread, like the check above.
            self.bus.publish(await _off_loop(feed.policy_event, "edited", api, before, users))
            if users:
                await self.dataplane.reconcile_all()  # edits apply at once to every user
            return api

    async def delete_policy(self, policy_id: str) -> None:
        async with self.lock:
            gone = self._commit(lambda: self.inv.delete_policy(policy_id), policy_key)
            self.bus.publish(feed.policy_event("deleted", gone.to_api()))

    # --- VPCs ------------------------------------------------------------------------------------
    async def list_vpcs(self) -> list[Json]:
        return [v.to_api() for v in self.inv.vpcs.values()]

    async def get_vpc(self, vpc_id: str) -> Json:
        return self.inv.vpc(vpc_id).to_api()

    async def list_private_networks(self) -> list[Json]:
        return [pn.to_api() for v in self.inv.vpcs.values() for pn in v.private_networks]

    async def get_private_network(self, pn_id: str) -> Json:
        _vpc, pn = self.inv.private_network(pn_id)
        return pn.to_api()

    async def _vpc_op(self, mutate: Callable[[], T], key: Callable[[T], Key]) -> T:
        """Mutate and store the VPC record, then make the data plane follow (routers, subnets)."""
        async with self.lock:
            result = self._commit(mutate, key)
            await self._rewire()
            await self.dataplane.reconcile_all()
            return result

    async def create_vpc(self, body: Json, region: str) -> Json:
        vpc = await self._vpc_op(lambda: self.inv.create_vpc(body, region), vpc_key)
        return vpc.to_api()

    async def delete_vpc(self, vpc_id: str) -> None:
        await self._vpc_op(lambda: self.inv.delete_vpc(vpc_id), vpc_key)

    async def create_private_network(self, body: Json, region: str) -> Json:
        pn = await self._vpc_op(lambda: self.inv.create_private_network(body, region),
                                _pn_vpc_key)
        return pn.to_api()

    async def delete_private_network(self, pn_id: str) -> None:
        await self._vpc_op(lambda: self.inv.delete_private_network(pn_id), _pn_vpc_key)

    # --- catalog ---------------------------------------------------------------------------------
    async def list_pops(self) -> list[Json]:
        return self.catalog.list_pops()

    async def get_pop(self, pop_id: str) -> Json:
        return self.catalog.pop(pop_id).to_api()

    async def list_partners(self) -> list[Json]:
        return self.catalog.list_partners()

    async def get_partner(self, partner_id: str) -> Json:
        return self.catalog.partner(partner_id).to_api()

    async def list_dedicated_connections(self) -> list[Json]:
        return self.catalog.list_connections()

    async def get_dedicated_connection(self, connection_id: str) -> Json:
        return self.catalog.connection(connection_id).to_api()
