"""Scaleway's own SDK drives a real lab: everything through SDK calls, then real packets.

Only the partner's approval is a lab call (Scaleway's API has no partner side).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FREEPRO, TH2

from lab.control import lifecycle
from lab.control.client import Client as LabClient
from lab.control.labdir import api_info, lab_dir, pid_alive
from lab.control.polling import wait_for
from lab.testing.plugin import LabFactory

scaleway = pytest.importorskip("scaleway")
from scaleway import Client, WaitForOptions  # noqa: E402
from scaleway.interlink.v1beta1 import InterlinkV1Beta1API  # noqa: E402
from scaleway.vpc.v2 import VpcV2API  # noqa: E402
from scaleway_core.api import ScalewayException  # noqa: E402

PROJECT = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    with LabFactory() as make:
        yield make("basic", hold_time=3).name


def sdk(lab: str) -> Client:
    info = api_info(lab)
    return Client(access_key="SCWXXXXXXXXXXXXXXXXX", secret_key=info.token,
                  default_project_id=PROJECT, default_region="fr-par", api_url=info.url)


def node_with_address(nodes: list[dict[str, Any]], role: str, network: str) -> dict[str, Any]:
    net = ipaddress.ip_network(network)
    for n in nodes:
        if n["role"] == role and any(ipaddress.ip_interface(a).ip in net
                                     for a in n["addresses"]):
            return n
    raise AssertionError(f"no {role} with an address in {network}: {nodes}")


def ping(netns: str, dst: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", netns, "ping", "-c1", "-W1", dst],
                          capture_output=True).returncode == 0


def test_sdk_builds_a_working_interlink(lab: str) -> None:
    client = sdk(lab)
    api, vpcs = InterlinkV1Beta1API(client), VpcV2API(client)

    vpc = vpcs.create_vpc(enable_routing=True, enable_transitivity=False, name="prod")
    pn = vpcs.create_private_network(vpc_id=vpc.id, name="apps",
                                     default_route_propagation_enabled=False)
    v4_subnet, v6_subnet = (s.subnet for s in pn.subnets)
    p4 = api.create_routing_policy(name="sdk-v4", is_ipv6=False,
                                   prefix_filter_in=["198.18.128.0/17"],
                                   prefix_filter_out=[v4_subnet])
    p6 = api.create_routing_policy(name="sdk-v6", is_ipv6=True,
                                   prefix_filter_in=["2001:db8:1000::/36"],
                                   prefix_filter_out=[v6_subnet])
    link = api.create_link(name="sdk-link", pop_id=TH2, bandwidth_mbps=1000,
                           partner_id=FREEPRO)
    assert link.status == "requested" and link.partner is not None

    LabClient.for_lab(lab).post("/lab/v1/partner/approve",
                                {"pairing_key": link.partner.pairing_key})
    api.attach_vpc(link_id=link.id, vpc_id=vpc.id)
    api.attach_routing_policy(link_id=link.id, routing_policy_id=p4.id)
    api.attach_routing_policy(link_id=link.id, routing_policy_id=p6.id)
    api.enable_route_propagation(link_id=link.id)
    link = api.wait_for_link(link_id=link.id, options=WaitForOptions(
        timeout=30, min_delay=1, max_delay=2, stop=lambda lk: lk.status == "active"))
    assert (link.status, link.bgp_v4_status, link.bgp_v6_status) == ("active", "up", "up")

    # Lists across pages and filters, as automation does.
    assert {lk.name for lk in api.list_links_all(page_size=1)} == {"link-lab", "sdk-link"}
    assert [lk.id for lk in api.list_links_all(vpc_id=vpc.id)] == [link.id]
    assert [lk.id for lk in api.list_links_all(status="active", partner_id=FREEPRO)] == [
        link.id]

    # Real packets between the new customer's on-prem host and the new VPC's instance.
    nodes = LabClient.for_lab(lab).get("/lab/v1/nodes")["nodes"]
    host = node_with_address(nodes, "onprem-host", "198.18.128.0/17")
    instance = node_with_address(nodes, "vpc-instance", v4_subnet)
    for family in (4, 6):
        dst = next(str(ipaddress.ip_interface(a).ip) for a in instance["addresses"]
                   if ipaddress.ip_interface(a).version == family)
        wait_for(lambda d=dst: ping(host["netns"], d), f"IPv{family} ping {dst}", timeout=15)

    # kill -9 of the controller, then a restart: same resources, same ids, traffic again.
    before = _inventory(api, vpcs)
    pid = int((lab_dir(lab) / "controller.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), "the controller to die", timeout=5)
    lifecycle.start_controller(lab)
    client = sdk(lab)  # same URL and token: they are stored with the lab
    api, vpcs = InterlinkV1Beta1API(client), VpcV2API(client)
    assert _inventory(api, vpcs) == before
    assert api.get_link(link_id=link.id).status == "active"
    for family in (4, 6):
        dst = next(str(ipaddress.ip_interface(a).ip) for a in instance["addresses"]
                   if ipaddress.ip_interface(a).version == family)
        wait_for(lambda d=dst: ping(host["netns"], d), f"IPv{family} after restart", timeout=15)

    # Bad input raises the documented errors and changes nothing.
    with pytest.raises(ScalewayException) as exc:
        api.attach_routing_policy(link_id=link.id, routing_policy_id=p4.id)
    assert exc.value.status_code == 412
    with pytest.raises(ScalewayException) as exc:
        api.create_routing_policy(name="bad", is_ipv6=False, prefix_filter_in=["10.0.0.1/8"])
    assert exc.value.status_code == 400 and exc.value.response.json()["type"] == (
        "invalid_arguments")
    assert api.get_link(link_id=link.id).status == "active"

    # Delete tears the link's wiring down, then the link is gone.
    api.delete_link(link_id=link.id)
    wait_for(lambda: _gone(api, link.id), "the link to be deleted", timeout=20)
    nodes = LabClient.for_lab(lab).get("/lab/v1/nodes")["nodes"]
    assert not [n for n in nodes if n["role"] == "onprem-host" and any(
        ipaddress.ip_interface(a).ip in ipaddress.ip_network("198.18.128.0/17")
        for a in n["addresses"])]


def test_self_hosted_link_goes_ready_then_active(lab: str) -> None:
    api = InterlinkV1Beta1API(sdk(lab))
    conn = next(c for c in api.list_dedicated_connections_all() if c.status == "active")
    p4 = api.create_routing_policy(name="dedicated-v4", is_ipv6=False,
                                   prefix_filter_in=["198.18.128.0/17"])
    link = api.create_link(name="dedicated", pop_id=conn.pop_id,
                           bandwidth_mbps=conn.available_link_bandwidths[0],
                           connection_id=conn.id, peer_asn=64999, routing_policy_v4_id=p4.id)
    assert link.status == "ready" and link.self_ is not None
    link = api.wait_for_link(link_id=link.id, options=WaitForOptions(
        timeout=30, min_delay=1, max_delay=2, stop=lambda lk: lk.status == "active"))
    assert (link.bgp_v4_status, link.bgp_v6_status) == ("up", "disabled")
    api.delete_link(link_id=link.id)
    wait_for(lambda: _gone(api, link.id), "the self-hosted link to be deleted", timeout=20)


def _inventory(api: InterlinkV1Beta1API, vpcs: VpcV2API) -> dict[str, list[str]]:
    return {"links": sorted(lk.id for lk in api.list_links_all()),
            "policies": sorted(p.id for p in api.list_routing_policies_all()),
            "vpcs": sorted(v.id for v in vpcs.list_vp_cs_all()),
            "pns": sorted(p.id for p in vpcs.list_private_networks_all())}


def _gone(api: InterlinkV1Beta1API, link_id: str) -> bool:
    try:
        api.get_link(link_id=link_id)
    except ScalewayException as exc:
        return exc.status_code == 404
    return False
