"""The official Scaleway SDK (scaleway 2.12.0) against the real API app, no lab needed.

The app runs in a background thread over a fake controller backed by the real Inventory and
catalog (so errors are the real ones); everything below goes through
``InterlinkV1Beta1API`` / ``VpcV2API`` only, except the partner's approval (a lab route).
Every answer must unmarshal, and every field the SDK types declare non-optional must be set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import types
import typing
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from test_api import CONN_TH2, PA3, TH2, FakeController, lab_routes

from controller.api.http import make_app
from controller.core.model import DEFAULT_PROJECT_ID
from lab.control.client import Client as LabClient

scaleway = pytest.importorskip("scaleway")
from scaleway import Client  # noqa: E402
from scaleway.interlink.v1beta1 import InterlinkV1Beta1API  # noqa: E402
from scaleway.vpc.v2 import VpcV2API  # noqa: E402
from scaleway_core.api import ScalewayException  # noqa: E402

FREEPRO = "bc5163ff-cce9-498e-8401-0d8bfe81fd33"
SDK_TOKEN = str(uuid.UUID(int=0x5CA1E))  # the SDK wants a UUID secret key


class Server:
    """The API app on 127.0.0.1:<free port>, served by its own loop in a daemon thread."""

    def __init__(self, ctrl: Any, token: str):
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

    def __enter__(self) -> Server:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # requests honours $http_proxy: a proxy must never see calls to 127.0.0.1.
    with mock.patch.dict(os.environ, {"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}), \
            Server(FakeController(seed=False), SDK_TOKEN) as s:
        yield s


def sdk_client(server: Server, secret: str = SDK_TOKEN) -> Client:
    return Client(access_key="SCW" + "X" * 17, secret_key=secret,
                  default_project_id=DEFAULT_PROJECT_ID, default_region="fr-par",
                  api_url=f"http://127.0.0.1:{server.port}")


def complete(obj: Any, path: str = "") -> Any:
    """Every field the SDK dataclass declares without Optional is set (recursively)."""
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            complete(item, f"{path}[{i}]")
        return obj
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints[f.name]
        optional = (typing.get_origin(hint) in (typing.Union, types.UnionType)
                    and type(None) in typing.get_args(hint))
        assert optional or value is not None, f"{type(obj).__name__}{path}.{f.name} is None"
        complete(value, f"{path}.{f.name}")
    return obj


def error(exc: pytest.ExceptionInfo[ScalewayException]) -> tuple[int | None, dict[str, Any]]:
    return exc.value.status_code, exc.value.response.json()


def test_sdk_session(server: Server) -> None:
    client = sdk_client(server)
    api, vpcs = InterlinkV1Beta1API(client), VpcV2API(client)

    # --- VPC + private networks ---
    vpc = complete(vpcs.create_vpc(enable_routing=True, enable_transitivity=False, name="prod",
                                   tags=["sdk"]))
    assert vpc.project_id == DEFAULT_PROJECT_ID and vpc.region == "fr-par"
    pn = complete(vpcs.create_private_network(
        default_route_propagation_enabled=False, vpc_id=vpc.id, name="pn-a",
        subnets=["203.0.113.0/24", "2001:db8:200::/64"]))
    assert [s.subnet for s in pn.subnets] == ["203.0.113.0/24", "2001:db8:200::/64"]
    auto = complete(vpcs.create_private_network(default_route_propagation_enabled=False,
                                                vpc_id=vpc.id))
    assert [s.subnet for s in auto.subnets] == ["198.18.16.0/24", "2001:db8:300::/64"]
    assert complete(vpcs.get_vpc(vpc_id=vpc.id)).private_network_count == 2
    assert len(complete(vpcs.list_private_networks_all(vpc_id=vpc.id, page_size=1))) == 2
    assert [v.id for v in complete(vpcs.list_vp_cs_all(tags=["sdk"]))] == [vpc.id]
    complete(vpcs.get_private_network(private_network_id=pn.id))

    # --- routing policies ---
    p4 = complete(api.create_routing_policy(
        name="allow-v4", is_ipv6=False, prefix_filter_in=["198.51.100.0/24"],
        prefix_filter_out=["203.0.113.0/24"], tags=["sdk"]))
    p6 = complete(api.create_routing_policy(
        name="allow-v6", is_ipv6=True, prefix_filter_in=["2001:db8:100::/48"],
        prefix_filter_out=["2001:db8:200::/48"]))
    assert [p.id for p in complete(api.list_routing_policies_all(ipv6=True))] == [p6.id]
    p4 = complete(api.update_routing_policy(routing_policy_id=p4.id,
                                            prefix_filter_in=["198.51.100.0/24",
                                                              "10.0.0.0/8"]))
    assert p4.prefix_filter_in == ["198.51.100.0/24", "10.0.0.0/8"]

    # --- catalog ---
    pops = complete(api.list_pops_all(page_size=1))
    assert len(pops) == 4 and pops[0].name == "DC3 Vitry"
    assert [p.name for p in complete(api.list_pops_all(dedicated_available=True))] == [
        "TeleHouse TH2"]
    partners = complete(api.list_partners_all(pop_ids=[TH2], l3_connectivity=True))
    assert [p.name for p in partners] == ["FreePro", "Linkt"]
    conns = complete(api.list_dedicated_connections_all())
    assert [c.name for c in conns] == ["lab-dedicated-dc3", "lab-dedicated-th2"]
    conn = complete(api.get_dedicated_connection(connection_id=CONN_TH2))
    assert conn.vlan_range is not None and conn.vlan_range.start == 3000
    assert complete(api.get_pop(pop_id=TH2)).hosting_provider_name == "TeleHouse"
    assert complete(api.get_partner(partner_id=FREEPRO)).l3_connectivity is True

    # --- a hosted link, approved by the partner, configured ---
    link = complete(api.create_link(name="hosted", pop_id=TH2, bandwidth_mbps=1000,
                                    partner_id=FREEPRO, tags=["sdk", "hosted"]))
    assert link.status == "requested" and link.partner is not None
    assert link.peer_bgp_config is not None and link.peer_bgp_config.asn == 39801
    key = link.partner.pairing_key
    lab = LabClient(f"http://127.0.0.1:{server.port}", SDK_TOKEN, timeout=10)
    assert lab.post("/lab/v1/partner/approve", {"pairing_key": key})["status"] == "provisioning"
    link = complete(api.get_link(link_id=link.id))
    assert link.status == "all_down"  # provisioned, no session configured yet
    link = complete(api.attach_vpc(link_id=link.id, vpc_id=vpc.id))
    link = complete(api.attach_routing_policy(link_id=link.id, routing_policy_id=p4.id))
    link = complete(api.attach_routing_policy(link_id=link.id, routing_policy_id=p6.id))
    link = complete(api.enable_route_propagation(link_id=link.id))
    assert (link.vpc_id, link.routing_policy_v4_id, link.routing_policy_v6_id) == (
        vpc.id, p4.id, p6.id)
    assert link.enable_route_propagation and link.bgp_v4_status == "down"
    link = complete(api.update_link(link_id=link.id, name="hosted-1", peer_asn=64512))
    assert link.peer_bgp_config is not None and link.peer_bgp_config.asn == 64512

    # --- more links: self-hosted on the dedicated connection, with policies at creation ---
    for i in range(5):
        complete(api.create_link(name=f"dedicated-{i}", pop_id=TH2, bandwidth_mbps=100,
                                 connection_id=CONN_TH2, peer_asn=65000 + i,
                                 routing_policy_v4_id=p4.id, tags=["sdk"]))
    everything = complete(api.list_links_all(page_size=2))
    assert len(everything) == 6
    assert len({lk.vlan for lk in everything}) == 6
    assert len({lk.scw_bgp_config.ipv4 for lk in everything if lk.scw_bgp_config}) == 6
    names = [lk.name for lk in api.list_links_all(order_by="name_desc", page_size=4)]
    assert names == sorted(names, reverse=True)
    assert len(api.list_links_all(kind="self_hosted", page_size=2)) == 5
    assert [lk.name for lk in api.list_links_all(pairing_key=key)] == ["hosted-1"]
    assert [lk.name for lk in api.list_links_all(partner_id=FREEPRO, vpc_id=vpc.id,
                                                 tags=["hosted"])] == ["hosted-1"]
    assert len(api.list_links_all(routing_policy_id=p4.id)) == 6
    assert len(api.list_links_all(connection_id=CONN_TH2, bandwidth_mbps=100,
                                  status="all_down", bgp_v6_status="disabled")) == 5
    assert api.list_links(project_id=str(uuid.uuid4())).total_count == 0
    assert api.list_links(page=9, page_size=2).links == []

    # --- errors: the documented status codes and types ---
    with pytest.raises(ScalewayException) as ei:
        api.create_link(name="x", pop_id=TH2, bandwidth_mbps=300, partner_id=FREEPRO)
    status, body = error(ei)
    assert status == 400 and body["type"] == "invalid_arguments"
    assert body["details"][0]["argument_name"] == "bandwidth_mbps"
    with pytest.raises(ScalewayException) as ei:
        api.create_link(name="x", pop_id=PA3, bandwidth_mbps=100, partner_id=FREEPRO)
    assert error(ei)[1]["details"][0]["argument_name"] == "partner_id"
    with pytest.raises(ScalewayException) as ei:
        api.get_link(link_id="nope")
    assert error(ei) == (404, {"type": "not_found", "message": "resource is not found",
                               "resource": "link", "resource_id": "nope"})
    with pytest.raises(ScalewayException) as ei:
        api.delete_routing_policy(routing_policy_id=p4.id)
    status, body = error(ei)
    assert status == 412 and body["type"] == "precondition_failed"
    with pytest.raises(ScalewayException) as ei:
        vpcs.delete_vpc(vpc_id=vpc.id)
    assert error(ei)[0] == 412
    with pytest.raises(ScalewayException) as ei:
        vpcs.create_private_network(default_route_propagation_enabled=False, vpc_id=vpc.id,
                                    subnets=["203.0.113.128/25"])
    assert error(ei)[1]["details"][0]["argument_name"] == "subnets.0"
    with pytest.raises(ScalewayException) as ei:
        InterlinkV1Beta1API(sdk_client(server, str(uuid.uuid4()))).list_links()
    assert error(ei) == (401, {"type": "denied_authentication", "method": "api_key",
                               "reason": "not_found"})

    # --- tear down ---
    for lk in api.list_links_all(kind="self_hosted"):
        gone = complete(api.delete_link(link_id=lk.id))
        assert gone.status == "deprovisioning"  # provisioned links are unwired first
    link = complete(api.detach_routing_policy(link_id=link.id, routing_policy_id=p4.id))
    link = complete(api.set_routing_policy(link_id=link.id, routing_policy_id=p6.id))
    link = complete(api.disable_route_propagation(link_id=link.id))
    link = complete(api.detach_vpc(link_id=link.id))
    assert complete(api.delete_link(link_id=link.id)).status == "deprovisioning"
    assert api.list_links_all() == []
    api.delete_routing_policy(routing_policy_id=p4.id)
    api.delete_routing_policy(routing_policy_id=p6.id)
    vpcs.delete_private_network(private_network_id=pn.id)
    vpcs.delete_private_network(private_network_id=auto.id)
    vpcs.delete_vpc(vpc_id=vpc.id)
    assert vpcs.list_vp_cs_all() == []
