"""What sync would run (lab.dataplane.plan), for the basic scenario: pure, no namespace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.dataplane import plan
from lab.dataplane.bpf import hidden_peer
from lab.dataplane.iproute import LiveState, norm_cidr
from lab.scenario.addressing import build_topology
from lab.scenario.model import LinkSpec
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology


@pytest.fixture(scope="module")
def basic() -> Topology:
    return build_topology(load_scenario("basic"), lab="ilab")


def _empty(t: Topology) -> dict[str, LiveState]:
    return {n: LiveState(set(), set()) for n in t.netns_names}


def _built(t: Topology) -> dict[str, LiveState]:
    """The live state right after `t` was built."""
    live = _empty(t)
    for n in t.netns_names:
        live[n].ifaces |= set(t.interfaces(n)) | {hidden_peer(v) for v in t.vlans
                                                  if v.netns == n}
    for a in t.addresses:
        live[a.netns].addrs.add((a.ifname, norm_cidr(a.cidr)))
    return live


def test_create_lines_from_nothing(basic: Topology) -> None:
    assert plan.create_lines(basic, "ilab-customer-router", LiveState(set(), set())) == [
        "link set lo up",
        "link add il0.2451 type veth peer name il0q2451",
        "link set dev il0q2451 addrgenmode none",
        "link set dev lan0 up", "link set dev il0 up", "link set dev il0.2451 up",
        "link set dev il0q2451 up",
        "addr add 198.51.100.1/24 dev lan0",
        "addr add 2001:db8:100::1/64 dev lan0 nodad",
        "addr add 169.254.0.17/31 dev il0.2451",
        "addr add 2001:db8:fc60::1/127 dev il0.2451 nodad",
    ]
    assert plan.create_lines(basic, "ilab-partner", LiveState(set(), set())) == [
        "link set lo up", "link add br0 type bridge stp_state 0",
        "link set dev cust0 master br0", "link set dev scw0 master br0",
        "link set dev cust0 up", "link set dev scw0 up", "link set dev br0 up",
    ]


def test_nothing_is_created_twice(basic: Topology) -> None:
    live = _built(basic)
    for n in basic.netns_names:
        lines = plan.create_lines(basic, n, live[n])
        assert not [ln for ln in lines if ln.startswith(("link add", "addr add"))], n
    assert plan.veth_lines(basic, live) == ({}, [])


def test_veth_lines(basic: Topology) -> None:
    lone, lines = plan.veth_lines(basic, _empty(basic))
    assert lone == {}
    assert lines[0] == ("link add eth0 netns ilab-onprem-host type veth "
                        "peer name lan0 netns ilab-customer-router")
    assert len(lines) == len(basic.veths) == 5
    half = _empty(basic)
    half["ilab-customer-router"].ifaces.add("lan0")  # its peer is gone: recreate the pair
    lone, lines = plan.veth_lines(basic, half)
    assert lone == {"ilab-customer-router": ["link del lan0"]}
    assert len(lines) == 5


def test_remove_lines_for_a_removed_link() -> None:
    s = load_scenario("basic")
    extra = LinkSpec(name="link-b", vlan=2452, bandwidth_mbps=1000,
                     peering_v4="169.254.0.18/31", peering_v6="2001:db8:fc60::2/127",
                     vpc="vpc-lab", routing_policies=(), enable_route_propagation=False,
                     customer="customer", index=2, partner="pop-b")
    one = build_topology(s, lab="ilab")
    old = build_topology(replace(s, links=(*s.links, extra)), "ilab", one.node_names)
    assert set(old.netns_names) == set(one.netns_names) | {"ilab-scw-interlink-2",
                                                           "ilab-partner-pop-b"}
    live = {n: st for n, st in _built(old).items() if n in one.netns_names}
    strict, routes = plan.remove_lines(old, one, live)
    cust = strict["ilab-customer-router"]
    # the trunk and its sub-interface; their addresses go with them (no line of their own)
    assert cust == ["link del il1", "link del il1.2452"]
    assert "il1" not in live["ilab-customer-router"].ifaces
    assert strict["ilab-vpc-router"] == ["link del il1"]  # its transit veth
    assert set(strict) == {"ilab-customer-router", "ilab-vpc-router"}
    assert routes == {}  # the link had no static route of its own


def test_sysctls(basic: Topology) -> None:
    partner = plan.sysctls(basic, "ilab-partner")
    assert partner["net/ipv6/conf/all/disable_ipv6"] == "1"
    assert "net/ipv4/ip_forward" not in partner
    router = plan.sysctls(basic, "ilab-customer-router")
    assert router["net/ipv4/ip_forward"] == "1" and router["net/ipv6/conf/all/accept_dad"] == "0"
    assert "net/ipv6/conf/all/disable_ipv6" not in router


def _with_link_b(partner: str = "pop-b") -> tuple[Topology, Topology]:
    s = load_scenario("basic")
    extra = LinkSpec(name="link-b", vlan=2452, bandwidth_mbps=1000,
                     peering_v4="169.254.0.18/31", peering_v6="2001:db8:fc60::2/127",
                     vpc="vpc-lab", routing_policies=(), enable_route_propagation=False,
                     customer="customer", index=2, partner=partner)
    one = build_topology(s, lab="ilab")
    return one, build_topology(replace(s, links=(*s.links, extra)), "ilab", one.node_names)


def test_a_sync_touches_only_the_namespaces_that_change() -> None:
    one, two = _with_link_b()
    assert plan.touched(one, one) == set()
    assert plan.touched(None, one) == set(one.netns_names)
    # the new link's own nodes, and the two routers it plugs into; not the hosts
    assert plan.touched(one, two) == {"ilab-scw-interlink-2", "ilab-partner-pop-b",
                                      "ilab-customer-router", "ilab-vpc-router"}
    assert plan.touched(two, one) == plan.touched(one, two)


def test_a_restricted_topology_keeps_whole_veths_only() -> None:
    one, two = _with_link_b()
    names = plan.touched(one, two)
    part = plan.restrict(two, names)
    assert set(part.netns_names) == names
    assert all(v.a.netns in names and v.b.netns in names for v in part.veths)
    assert {a.netns for a in part.addresses} <= names
    # what the untouched namespaces hold is left out, and so never rewritten
    assert not any(a.netns == "ilab-onprem-host" for a in part.addresses)
    assert part.links == two.links
