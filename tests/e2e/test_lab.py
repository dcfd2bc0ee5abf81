"""The default lab end to end: real namespaces, real BGP sessions, real packets.

Runs once per registered customer router kind (`router_kind`, tests/conftest.py: the same
topology on each) and per node runtime (`node_runtime`: namespaces, then containers). One lab
serves each pair (hold time 3 s so that blackholed sessions die
quickly); every test puts back what it changed, and waits by polling with deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from router_kinds import kernel_proto

from lab.control.handle import RunningLab
from lab.testing.plugin import LabFactory

VPC_V4, VPC_V6 = "203.0.113.0/24", "2001:db8:200::/64"
ONPREM_V4, ONPREM_V6 = "198.51.100.0/24", "2001:db8:100::/64"


@pytest.fixture(scope="module")
def lab(router_kind: str, node_runtime: str) -> Iterator[RunningLab]:
    with LabFactory() as make:  # module-scoped: one lab per pair, down before the next
        yield make("basic", hold_time=3, router=router_kind, runtime_name=node_runtime)


def customer_routes(lab: RunningLab) -> dict[str, str | None]:
    """What the customer router learned, as its kind installs it in the kernel."""
    return lab.routes("customer-router", proto=kernel_proto(lab.topo.customers[0].router))


def traffic(lab: RunningLab, family: int) -> bool:
    return lab.ping("onprem-host", "vpc-instance", family)


def test_both_sessions_up_and_link_active(lab: RunningLab) -> None:
    link = lab.link()
    assert (link["status"], link["bgp_v4_status"], link["bgp_v6_status"]) == (
        "active", "up", "up")
    assert link["enable_route_propagation"] is True
    assert "vpc_id" in link and link["routing_policy_v4_id"] and link["routing_policy_v6_id"]
    assert link["scw_bgp_config"] == {"asn": 12876, "ipv4": "169.254.0.16/31",
                                      "ipv6": "2001:db8:fc60::/127"}
    assert link["vlan"] == 2451


def test_routes_in_vpc_table_and_customer_router(lab: RunningLab) -> None:
    vpc = lab.routes("vpc-router")
    assert vpc == {ONPREM_V4: "198.18.0.0", ONPREM_V6: "2001:db8:ffff::"}
    cust = customer_routes(lab)
    assert cust == {VPC_V4: "169.254.0.16", VPC_V6: "2001:db8:fc60::"}


@pytest.mark.parametrize("family", [4, 6])
def test_scapy_traffic_onprem_to_vpc(lab: RunningLab, family: int) -> None:
    result = lab.probe("onprem-host", "vpc-instance", family, count=3)
    assert result.received == result.sent == 3, result


def test_prefix_filter_in(lab: RunningLab) -> None:
    outside, inside = "198.18.128.0/24", "198.51.100.128/25"
    lab.announce(outside)
    lab.announce(inside)  # announced after: once it is installed, `outside` was processed
    try:
        lab.wait_for(lambda: inside in lab.routes("vpc-router"), f"{inside} in the VPC table")
        assert outside not in lab.routes("vpc-router")
        assert outside not in lab.routes("scw-interlink")
        stats = lab.stats()["ipv4"]
        assert stats["rejected_reasons"].get("filter_in", 0) >= 1, stats
        assert stats["installed"] == 2, stats  # the on-prem /24 and the /25
    finally:
        lab.withdraw(outside, inside)
    lab.wait_for(lambda: inside not in lab.routes("vpc-router"), f"{inside} withdrawn")


def test_prefix_filter_out_and_live_policy_edit(lab: RunningLab) -> None:
    pol = lab.policy("allow-onprem-v4")
    path = f"/interlink/v1beta1/regions/fr-par/routing-policies/{pol['id']}"
    lab.client.patch(path, {"prefix_filter_out": ["203.0.113.0/25"]})  # /24 is outside it
    try:
        lab.wait_for(lambda: VPC_V4 not in customer_routes(lab),
                     "VPC prefix withdrawn from the customer")
        assert not traffic(lab, 4)
        assert traffic(lab, 6)
    finally:
        lab.client.patch(path, {"prefix_filter_out": pol["prefix_filter_out"]})
    lab.wait_for(lambda: traffic(lab, 4), "v4 traffic back after the policy edit")


def test_propagation_toggle(lab: RunningLab) -> None:
    link = lab.link_action("disable-route-propagation")
    assert link["enable_route_propagation"] is False
    lab.wait_for(lambda: not lab.routes("vpc-router"), "VPC table emptied")
    lab.wait_for(lambda: not customer_routes(lab), "customer routes withdrawn")
    assert not traffic(lab, 4) and not traffic(lab, 6)
    lab.link_action("enable-route-propagation")
    lab.wait_for(lambda: len(lab.routes("vpc-router")) == 2, "VPC table restored")
    lab.wait_for(lambda: traffic(lab, 4) and traffic(lab, 6), "traffic restored")


def test_detach_and_reattach_vpc(lab: RunningLab) -> None:
    vpc_id = lab.link()["vpc_id"]
    link = lab.link_action("detach-vpc")
    assert "vpc_id" not in link and link["enable_route_propagation"] is False
    lab.wait_for(lambda: not lab.routes("vpc-router"), "VPC table emptied")
    assert not traffic(lab, 4)
    lab.link_action("attach-vpc", {"vpc_id": vpc_id})
    lab.link_action("enable-route-propagation")
    lab.wait_for(lambda: traffic(lab, 4) and traffic(lab, 6), "traffic restored")


def test_detach_v6_policy_disables_the_session(lab: RunningLab) -> None:
    v6 = lab.link()["routing_policy_v6_id"]
    link = lab.link_action("detach-routing-policy", {"routing_policy_id": v6})
    assert link["bgp_v6_status"] == "disabled" and link["status"] == "active"
    lab.wait_for(lambda: ONPREM_V6 not in lab.routes("vpc-router"), "v6 route removed")
    assert traffic(lab, 4)
    lab.link_action("attach-routing-policy", {"routing_policy_id": v6})
    lab.wait_status("active")
    lab.wait_for(lambda: traffic(lab, 6), "v6 traffic back")


def test_cut_ipv6_then_both_then_restore(lab: RunningLab) -> None:
    lab.fault("cut", "ipv6")
    try:
        lab.wait_status("limited_connectivity", timeout=10)
        link = lab.link()
        assert (link["bgp_v4_status"], link["bgp_v6_status"]) == ("up", "down")
        assert traffic(lab, 4)
        lab.wait_for(lambda: ONPREM_V6 not in lab.routes("vpc-router"), "v6 routes flushed")
        assert not traffic(lab, 6)
        lab.fault("cut", "ipv4")
        lab.wait_status("all_down", timeout=10)
        assert not traffic(lab, 4)
    finally:
        lab.fault("restore", "both")
    lab.wait_status("active", timeout=20)
    lab.wait_for(lambda: traffic(lab, 4) and traffic(lab, 6), "traffic after restore")
