"""Shared test fakes: the controller behind the API app, and the app served from a thread.

``FakeController`` is the ``ControllerApi`` over the real Inventory and the packaged catalog, so
errors are the real ones; ``ApiServer`` serves ``make_app`` (with the lab's partner and event
routes, ``lab_routes``) on 127.0.0.1 for synchronous
clients (lab.control.client, the Scaleway SDK, raw HTTP). Importable as ``fakes``: tests/ is on
pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from controller.api.http import ApiExtension, make_app
from controller.core import catalog, status
from controller.core.inventory import Inventory
from controller.core.model import BgpConfig, Link, PartnerRef, PrivateNetwork, Vpc
from lab.daemon.events_api import EventsApi
from lab.daemon.partner_api import PartnerApi
from lab.daemon.wiring import RESERVED_PREFIXES

TOKEN = "secret-token"
H = {"X-Auth-Token": TOKEN}
Json = dict[str, Any]

# Catalog ids (controller/core/catalog.yaml): PoPs, partners, dedicated connections.
TH2 = "95b2e92f-b7ae-4298-a581-b6c14cdae035"
PA3 = "b63341a8-937c-42bd-8dd5-9d5944b35c6b"
DC3 = "ed96ea8d-9288-4555-9029-ccb2400d25e0"
FRANCEIX = "17782f6a-4bd5-4c01-b2fd-171891bc1f88"
LINKT = "664aa3ae-f198-41f8-9e71-682ad3b296bc"
FREEPRO = "bc5163ff-cce9-498e-8401-0d8bfe81fd33"
CONN_TH2 = "4d2cab29-9245-4282-881c-765d38d6d28e"
CONN_DC3 = "b1d81276-3b76-4898-a850-7198cf252330"


class FakeController:
    """The ControllerApi over an Inventory and the packaged catalog; sessions are never up,
    links are wired at once (approve -> provisioned, delete -> deleted)."""

    def __init__(self, seed: bool = True) -> None:
        self.inv = Inventory(reserved=RESERVED_PREFIXES)  # as the lab builds it
        self.catalog = catalog.load()
        self.queues: list[asyncio.Queue[Json]] = []
        if seed:
            self._seed()

    def _seed(self) -> None:
        self.vpc = self.inv.vpcs.setdefault("vpc-1", Vpc(
            id="vpc-1", name="vpc", created_at="2026-01-01T00:00:00.000000Z",
            private_networks=[PrivateNetwork(id="pn-1", name="pn", subnets=["203.0.113.0/24"],
                                             vpc_id="vpc-1")]))
        for i, name in enumerate(("first", "second", "third")):
            self.inv.links[f"link-{i}"] = Link(
                id=f"link-{i}", name=name, pop_id="pop-1", bandwidth_mbps=50 * (i + 1),
                vlan=2451 + i, created_at=f"2026-01-01T00:00:0{i}.000000Z",
                scw_bgp_config=BgpConfig(12876, "169.254.0.16/31", "2001:db8:fc60::/127"),
                peer_bgp_config=BgpConfig(64512, "169.254.0.17/31", "2001:db8:fc60::1/127"),
                partner=PartnerRef("partner-1", f"key-{i}"), tags=["lab", name],
                lifecycle="requested" if i == 2 else "provisioned")

    def _json(self, link: Link) -> Json:
        v4 = status.bgp_status(link.routing_policy_v4_id is not None, False)
        v6 = status.bgp_status(link.routing_policy_v6_id is not None, False)
        return link.to_api(status.link_status(link.lifecycle, (v4, v6)), v4, v6)

    async def list_links(self) -> list[Json]:
        return [self._json(lk) for lk in self.inv.links.values()]

    async def get_link(self, link_id: str) -> Json:
        return self._json(self.inv.link(link_id))

    async def update_link(self, link_id: str, body: Json) -> Json:
        return self._json(self.inv.update_link(link_id, body))

    async def create_link(self, body: Json, region: str) -> Json:
        link = self.inv.create_link(body, region, self.catalog)
        if link.lifecycle == "ready":
            self.inv.mark_provisioned(link.id)  # the lead wires self-hosted links at once
            return self._json(link) | {"status": "ready"}
        return self._json(link)

    async def delete_link(self, link_id: str) -> Json:
        link = self.inv.delete_link(link_id)
        answer = self._json(link)
        if link.lifecycle == "deprovisioning":
            self.inv.finish_delete(link_id)  # nothing to unwire here
        return answer

    async def approve_link(self, pairing_key: str) -> Json:
        link = self.inv.approve_link(pairing_key)
        answer = self._json(link)
        self.inv.mark_provisioned(link.id)
        return answer

    async def refuse_link(self, pairing_key: str, reason: str | None) -> Json:
        return self._json(self.inv.refuse_link(pairing_key, reason))

    async def expire_link(self, link_id: str) -> Json:
        return self._json(self.inv.expire_link(link_id))

    async def attach_vpc(self, link_id: str, body: Json) -> Json:
        return self._json(self.inv.attach_vpc(link_id, body))

    async def detach_vpc(self, link_id: str) -> Json:
        return self._json(self.inv.detach_vpc(link_id))

    async def attach_routing_policy(self, link_id: str, body: Json) -> Json:
        return self._json(self.inv.attach_policy(link_id, body))

    async def detach_routing_policy(self, link_id: str, body: Json) -> Json:
        return self._json(self.inv.detach_policy(link_id, body))

    async def set_routing_policy(self, link_id: str, body: Json) -> Json:
        return self._json(self.inv.set_policy(link_id, body))

    async def enable_route_propagation(self, link_id: str) -> Json:
        return self._json(self.inv.set_propagation(link_id, True))

    async def disable_route_propagation(self, link_id: str) -> Json:
        return self._json(self.inv.set_propagation(link_id, False))

    async def link_stats(self, link_id: str) -> Json:
        self.inv.link(link_id)
        if link_id == "link-1":
            raise RuntimeError("boom: secret internals")
        fam = {"session": "down", "received": 0, "accepted": 0, "rejected": 0,
               "rejected_reasons": {}, "advertised": 0, "installed": 0}
        return {"link_id": link_id, "ipv4": fam, "ipv6": fam}

    async def list_policies(self) -> list[Json]:
        return [p.to_api() for p in self.inv.policies.values()]

    async def get_policy(self, policy_id: str) -> Json:
        return self.inv.policy(policy_id).to_api()

    async def create_policy(self, body: Json, region: str) -> Json:
        return self.inv.create_policy(body, region).to_api()

    async def update_policy(self, policy_id: str, body: Json) -> Json:
        return self.inv.update_policy(policy_id, body).to_api()

    async def delete_policy(self, policy_id: str) -> None:
        self.inv.delete_policy(policy_id)

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

    async def list_vpcs(self) -> list[Json]:
        return [v.to_api() for v in self.inv.vpcs.values()]

    async def get_vpc(self, vpc_id: str) -> Json:
        return self.inv.vpc(vpc_id).to_api()

    async def create_vpc(self, body: Json, region: str) -> Json:
        return self.inv.create_vpc(body, region).to_api()

    async def delete_vpc(self, vpc_id: str) -> None:
        self.inv.delete_vpc(vpc_id)

    async def list_private_networks(self) -> list[Json]:
        return [pn.to_api() for v in self.inv.vpcs.values() for pn in v.private_networks]

    async def get_private_network(self, pn_id: str) -> Json:
        return self.inv.private_network(pn_id)[1].to_api()

    async def create_private_network(self, body: Json, region: str) -> Json:
        return self.inv.create_private_network(body, region).to_api()

    async def delete_private_network(self, pn_id: str) -> None:
        self.inv.delete_private_network(pn_id)

    async def subscribe(self) -> asyncio.Queue[Json]:
        q: asyncio.Queue[Json] = asyncio.Queue()
        self.queues.append(q)
        return q

    async def unsubscribe(self, queue: asyncio.Queue[Json]) -> None:
        self.queues.remove(queue)


def lab_routes(ctrl: FakeController) -> list[ApiExtension]:
    """The lab's routes over the controller's operations, as lab.daemon.main mounts them."""
    return [PartnerApi(ctrl), EventsApi(ctrl)]


class ApiServer:
    """The API app on 127.0.0.1:<free port>, served by its own loop in a daemon thread."""

    def __init__(self, ctrl: FakeController, token: str = TOKEN):
        self.ctrl, self.token, self.port = ctrl, token, 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(make_app(self.ctrl, self.token, lab_routes(self.ctrl)))
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        self.port = runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, event: dict[str, Any]) -> None:
        """Hand ``event`` to every event-stream subscriber (from any thread)."""
        def put() -> None:
            for q in self.ctrl.queues:
                q.put_nowait(event)
        self.loop.call_soon_threadsafe(put)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
