"""lab.scenario.parse: scenario validation and the default topology (pure, no root)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.scenario.addressing import build_topology
from lab.scenario.dump import scenario_to_dict
from lab.scenario.model import (
    AnnounceSpec,
    LinkSpec,
    PrivateNetworkSpec,
    ScenarioError,
    VpcSpec,
)
from lab.scenario.parse import load_scenario, parse_scenario, resolve_scenario_path
from lab.scenario.topology import CustomerSession, Topology

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "lab" / "scenarios" / "basic.yaml"
FIXTURES = ROOT / "tests" / "e2e" / "fixtures"


@pytest.fixture(scope="module")
def basic_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BASIC.read_text())
    return data


@pytest.fixture(scope="module")
def topo() -> Topology:
    return build_topology(load_scenario("basic"))


def _err(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        parse_scenario(data)


# --------------------------------------------------------------------------- loading


def test_bare_name_resolves_to_shipped_scenario() -> None:
    assert resolve_scenario_path("basic") == BASIC
    assert load_scenario("basic") == load_scenario(str(BASIC))


def test_missing_scenario_lists_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"not found.*basic"):
        load_scenario("no-such-scenario")


def test_invalid_yaml(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(str(p))


def test_basic_scenario_fields() -> None:
    s = load_scenario("basic")
    assert s.name == "basic" and s.hold_time == 9
    assert s.customer.asn == 64512
    assert s.customer.lan_v4 == "198.51.100.0/24" and s.customer.lan_v6 == "2001:db8:100::/64"
    assert s.vpc("vpc-lab").subnets == ("203.0.113.0/24", "2001:db8:200::/64")
    (lk,) = s.links
    assert (lk.vlan, lk.peering_v4, lk.peering_v6) == (2451, "169.254.0.16/31",
                                                        "2001:db8:fc60::/127")
    assert lk.routing_policies == ("allow-onprem-v4", "allow-onprem-v6")
    assert s.policy("allow-onprem-v6").is_ipv6
    assert s.policy("allow-onprem-v6").prefix_filter_in == ("2001:db8:100::/48",)


# --------------------------------------------------------------------------- default topology


def test_nodes(topo: Topology) -> None:
    assert [(n.name, n.role, n.netns, n.forwarding) for n in topo.nodes] == [
        ("onprem-host", "onprem-host", "ilab-onprem-host", False),
        ("customer-router", "customer-router", "ilab-customer-router", True),
        ("partner", "partner", "ilab-partner", False),
        ("scw-interlink", "scw-interlink", "ilab-scw-interlink", True),
        ("vpc-router", "vpc-router", "ilab-vpc-router", True),
        ("vpc-instance", "vpc-instance", "ilab-vpc-instance", False),
    ]


def test_addresses_match_design_table(topo: Topology) -> None:
    got = {(a.node, a.ifname, a.cidr) for a in topo.addresses}
    assert got == {
        ("onprem-host", "eth0", "198.51.100.10/24"),
        ("onprem-host", "eth0", "2001:db8:100::10/64"),
        ("customer-router", "lan0", "198.51.100.1/24"),
        ("customer-router", "lan0", "2001:db8:100::1/64"),
        ("customer-router", "il0.2451", "169.254.0.17/31"),
        ("customer-router", "il0.2451", "2001:db8:fc60::1/127"),
        ("scw-interlink", "pe0.2451", "169.254.0.16/31"),
        ("scw-interlink", "pe0.2451", "2001:db8:fc60::/127"),
        ("scw-interlink", "vpc0", "198.18.0.0/31"),
        ("scw-interlink", "vpc0", "2001:db8:ffff::/127"),
        ("vpc-router", "il0", "198.18.0.1/31"),
        ("vpc-router", "il0", "2001:db8:ffff::1/127"),
        ("vpc-router", "pn0", "203.0.113.1/24"),
        ("vpc-router", "pn0", "2001:db8:200::1/64"),
        ("vpc-instance", "eth0", "203.0.113.10/24"),
        ("vpc-instance", "eth0", "2001:db8:200::10/64"),
    }
    assert topo.node_addresses("partner") == []
    assert topo.node_addresses(topo.node("onprem-host")) == ["198.51.100.10/24",
                                                             "2001:db8:100::10/64"]
    assert topo.address("vpc-instance", 6) == "2001:db8:200::10"
    with pytest.raises(KeyError):
        topo.node_addresses("nope")


def test_veths_vlans_bridge(topo: Topology) -> None:
    pairs = {((v.a.node, v.a.ifname), (v.b.node, v.b.ifname)) for v in topo.veths}
    assert pairs == {
        (("onprem-host", "eth0"), ("customer-router", "lan0")),
        (("customer-router", "il0"), ("partner", "cust0")),
        (("scw-interlink", "pe0"), ("partner", "scw0")),
        (("scw-interlink", "vpc0"), ("vpc-router", "il0")),
        (("vpc-router", "pn0"), ("vpc-instance", "eth0")),
    }
    for v in topo.veths:  # every end lives in its node's namespace
        assert v.a.netns == topo.netns(v.a.node) and v.b.netns == topo.netns(v.b.node)
    assert {(v.node, v.parent, v.vid, v.ifname) for v in topo.vlans} == {
        ("customer-router", "il0", 2451, "il0.2451"),
        ("scw-interlink", "pe0", 2451, "pe0.2451"),
    }
    (br,) = topo.bridges
    assert (br.node, br.ifname, br.vlan_filtering) == ("partner", "br0", True)
    assert {(p.ifname, p.tagged_vids) for p in br.ports} == {("cust0", (2451,)),
                                                              ("scw0", (2451,))}
    assert set(topo.interfaces("ilab-partner")) == {"cust0", "scw0", "br0"}
    for ns in topo.netns_names:
        assert all(len(i) <= 15 for i in topo.interfaces(ns))


def test_static_routes(topo: Topology) -> None:
    assert {(r.node, r.prefix, r.via) for r in topo.routes} == {
        ("onprem-host", "0.0.0.0/0", "198.51.100.1"),
        ("onprem-host", "::/0", "2001:db8:100::1"),
        ("vpc-instance", "0.0.0.0/0", "203.0.113.1"),
        ("vpc-instance", "::/0", "2001:db8:200::1"),
        ("scw-interlink", "203.0.113.0/24", "198.18.0.1"),
        ("scw-interlink", "2001:db8:200::/64", "2001:db8:ffff::1"),
    }


def test_link_wiring(topo: Topology) -> None:
    (w,) = topo.links
    assert w == topo.link("link-lab")
    assert (w.vlan, w.vpc, w.vpc_subnets) == (2451, "vpc-lab",
                                              ("203.0.113.0/24", "2001:db8:200::/64"))
    assert (w.scw_node, w.scw_netns, w.scw_ifname) == ("scw-interlink", "ilab-scw-interlink",
                                                      "pe0.2451")
    assert (w.customer_netns, w.customer_ifname) == ("ilab-customer-router", "il0.2451")
    assert w.vpc_router_netns == "ilab-vpc-router"
    assert (w.scw_v4, w.peer_v4, w.scw_v4_cidr, w.peer_v4_cidr) == (
        "169.254.0.16", "169.254.0.17", "169.254.0.16/31", "169.254.0.17/31")
    assert (w.scw_v6, w.peer_v6, w.scw_v6_cidr, w.peer_v6_cidr) == (
        "2001:db8:fc60::", "2001:db8:fc60::1", "2001:db8:fc60::/127", "2001:db8:fc60::1/127")
    assert (w.scw_transit_v4, w.scw_transit_v6) == ("198.18.0.0", "2001:db8:ffff::")
    assert (w.vpc_router_transit_v4, w.vpc_router_transit_v6) == ("198.18.0.1",
                                                                  "2001:db8:ffff::1")


def test_lab_name_prefixes_namespaces() -> None:
    t = build_topology(load_scenario("basic"), lab="tdp")
    assert all(n.startswith("tdp-") for n in t.netns_names)
    assert t.links[0].scw_netns == "tdp-scw-interlink"


@pytest.mark.parametrize("lab", ["", "Ilab", "a-b", "1lab", "x" * 13])
def test_bad_lab_name(lab: str) -> None:
    with pytest.raises(ScenarioError, match="invalid lab name"):
        build_topology(load_scenario("basic"), lab=lab)


def test_two_links_design(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    second = copy.deepcopy(d["links"][0])
    second.update(name="link-b", vlan=2452,
                  peering={"ipv4": "169.254.0.18/31", "ipv6": "2001:db8:fc60::2/127"})
    d["links"].append(second)
    t = build_topology(parse_scenario(d), "ilab")
    assert [n.name for n in t.nodes if n.name.startswith("scw")] == ["scw-interlink-1",
                                                                     "scw-interlink-2"]
    (br,) = t.bridges
    assert {(p.ifname, p.tagged_vids) for p in br.ports} == {
        ("cust0", (2451, 2452)), ("scw0", (2451,)), ("scw1", (2452,))}
    b = t.link("link-b")
    assert (b.scw_netns, b.customer_ifname, b.scw_v4, b.peer_v6) == (
        "ilab-scw-interlink-2", "il0.2452", "169.254.0.18", "2001:db8:fc60::3")
    assert (b.scw_transit_v4, b.vpc_router_transit_v6) == ("198.18.0.2", "2001:db8:ffff::3")
    assert len(set(t.netns_names)) == len(t.nodes) == 7


# --------------------------------------------------------------------------- validation


def _mod(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    d = copy.deepcopy(data)
    cur: Any = d
    keys = path.split(".")
    for k in keys[:-1]:
        cur = cur[int(k)] if k.isdigit() else cur[k]
    last = keys[-1]
    cur[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(("path", "value", "match"), [
    ("links.0.vlan", 1499, r"links\[0\]\.vlan: 1499 is outside 1500\.\.3899"),
    ("links.0.vlan", 3900, r"3900 is outside 1500\.\.3899"),
    ("links.0.vlan", "2451", "expected an integer"),
    ("links.0.vpc", "vpc-nope", r"unknown vpc 'vpc-nope'"),
    ("links.0.routing_policies", ["allow-onprem-v4", "nope"], r"unknown routing policy 'nope'"),
    ("links.0.peering", {"ipv4": "169.254.0.17/31"},
     r"network address 169\.254\.0\.16/31 \(Scaleway takes the even address"),
    ("links.0.peering", {"ipv4": "169.254.0.16/30"}, r"must be a /31"),
    ("links.0.peering", {"ipv6": "2001:db8:fc60::1/127"}, r"Scaleway takes \.\.0 and the peer"),
    ("links.0.peering", {"ipv6": "2001:db8:fc60::/64"}, r"must be a /127"),
    ("links.0.peering", {"ipv4": "2001:db8:fc60::/127"}, r"not an IPv4 prefix"),
    ("links.0.peering", {}, r"needs ipv4 and/or ipv6"),
    ("links.0.peering", {"ipv4": "169.254.0.16/31"},
     r"policy 'allow-onprem-v6' is IPv6 but the link has no peering address"),
    ("customer.lan.ipv4", "198.51.100.1/24", r"customer\.lan\.ipv4: invalid prefix.*host bits"),
    ("customer.lan.ipv4", "198.51.100.0", r"needs a prefix length"),
    ("customer.lan.ipv4", "not-a-prefix", r"invalid prefix 'not-a-prefix'"),
    ("customer.lan.ipv4", "192.0.2.0/25", r"overlaps 192\.0\.2\.0/24, reserved for the host"),
    ("customer.lan.ipv6", "fd00::/64", r"reserved for the host"),
    ("customer.lan.ipv4", "2001:db8:100::/64", r"not an IPv4 prefix"),
    ("customer.asn", 12876, r"Scaleway's ASN"),
    ("routing_policies.0.prefix_filter_in", ["2001:db8::/32"], r"not an IPv4 prefix"),
    ("vpcs.0.private_networks.0.subnets", ["198.51.100.0/25"],
     r"198\.51\.100\.0/24 \(customer\.lan\) overlaps"),
    ("vpcs.0.private_networks.0.subnets", ["203.0.113.0/29"], r"too small"),
    ("timers.hold_time", 2, r"0 \(no keepalives\) or 3..65535"),
    ("name", None, r"name: invalid name"),
])
def test_validation_errors(basic_data: dict[str, Any], path: str, value: Any,
                           match: str) -> None:
    _err(_mod(basic_data, path, value), match)


def test_duplicate_vlan(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    second = copy.deepcopy(d["links"][0])
    second["name"] = "link-b"
    d["links"].append(second)
    _err(d, r"duplicate VLAN 2451")


def test_unknown_top_level_key(basic_data: dict[str, Any]) -> None:
    _err(_mod(basic_data, "linkz", []), r"unknown keys \['linkz'\]")


def test_error_names_the_source(tmp_path: Path, basic_data: dict[str, Any]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(_mod(basic_data, "links.0.vlan", 42)))
    with pytest.raises(ScenarioError, match=rf"{p}: links\[0\]\.vlan: 42 is outside"):
        load_scenario(str(p))


# --------------------------------------------------------------------------- N customers/links


def test_basic_compat_fields() -> None:
    s = load_scenario("basic")
    (c,) = s.customers
    assert s.customer == c and c.name == "customer" and c.md5_password is None
    assert c.announce == (AnnounceSpec("198.51.100.0/24"), AnnounceSpec("2001:db8:100::/64"))
    (lk,) = s.links
    assert (lk.customer, lk.partner, lk.pop, lk.index, lk.md5_password) == (
        "customer", "partner", None, 1, None)
    assert s.vpcs[0].index == 1
    assert s.description.startswith("basic: one hosted InterLink, dual-stack")
    assert isinstance(s.steps, tuple) and isinstance(s.checks, tuple)  # the runner's


def test_default_wiring(topo: Topology) -> None:
    (c,) = topo.customers
    assert (c.name, c.netns, c.lan_host_netns, c.asn, c.router) == (
        "customer", "ilab-customer-router", "ilab-onprem-host", 64512, "exabgp")
    assert c.sessions == (
        CustomerSession("link-lab", "ipv4", "169.254.0.17", "169.254.0.16", 2451, "il0.2451"),
        CustomerSession("link-lab", "ipv6", "2001:db8:fc60::1", "2001:db8:fc60::", 2451,
                        "il0.2451"))
    (w,) = topo.links
    assert (w.customer, w.index, w.partner_netns) == ("customer", 1, "ilab-partner")
    (v,) = topo.vpcs
    assert (v.name, v.router_netns, v.instances[0].netns, v.instances[0].addresses) == (
        "vpc-lab", "ilab-vpc-router", "ilab-vpc-instance", ("203.0.113.10", "2001:db8:200::10"))
    assert topo.lan_hosts == ("onprem-host",)


def test_two_tenants_naming_and_isolation() -> None:
    t = build_topology(load_scenario(str(FIXTURES / "two_tenants.yaml")), "tt")
    assert [n.name for n in t.nodes] == [
        "onprem-host-acme", "customer-router-acme", "onprem-host-globex",
        "customer-router-globex", "partner", "scw-interlink-1", "scw-interlink-2",
        "vpc-router-1", "vpc-router-2", "vpc-instance-1-1", "vpc-instance-2-1"]
    (br,) = t.bridges
    # Each port passes only its own links' VLANs: acme's frames never reach globex's ports.
    assert {(p.ifname, p.tagged_vids) for p in br.ports} == {
        ("cust0", (2451,)), ("cust1", (2452,)), ("scw0", (2451,)), ("scw1", (2452,))}
    a, g = t.link("link-acme"), t.link("link-globex")
    assert (a.customer_netns, a.customer_ifname, a.vpc_router_netns) == (
        "tt-customer-router-acme", "il0.2451", "tt-vpc-router-1")
    assert (g.customer_netns, g.customer_ifname, g.vpc_router_netns) == (
        "tt-customer-router-globex", "il0.2452", "tt-vpc-router-2")
    assert (g.scw_transit_v4, g.vpc_router_transit_v6) == ("198.18.0.2", "2001:db8:ffff::3")
    assert ("vpc-router-2", "il1", "198.18.0.3/31") in {
        (x.node, x.ifname, x.cidr) for x in t.addresses}
    assert t.customer("globex").announce == (AnnounceSpec("10.20.0.0/24", ("12876:42200",)),)
    assert t.lan_hosts == ("onprem-host-acme", "onprem-host-globex")
    assert len(set(t.netns_names)) == len(t.nodes)


def test_redundant_two_partners_one_vpc() -> None:
    s = load_scenario(str(FIXTURES / "redundant.yaml"))
    t = build_topology(s, "tr")
    assert [n.name for n in t.nodes] == [
        "onprem-host", "customer-router", "partner-freepro", "partner-linkt",
        "scw-interlink-1", "scw-interlink-2", "vpc-router", "vpc-instance"]
    pairs = {((v.a.node, v.a.ifname), (v.b.node, v.b.ifname)) for v in t.veths}
    assert {(("customer-router", "il0"), ("partner-freepro", "cust0")),
            (("customer-router", "il1"), ("partner-linkt", "cust0")),
            (("scw-interlink-1", "pe0"), ("partner-freepro", "scw0")),
            (("scw-interlink-2", "pe0"), ("partner-linkt", "scw1")),
            (("scw-interlink-1", "vpc0"), ("vpc-router", "il0")),
            (("scw-interlink-2", "vpc0"), ("vpc-router", "il1"))} <= pairs
    assert [(w.pop, w.customer_ifname, w.partner_netns) for w in t.links] == [
        ("pop-a", "il0.2451", "tr-partner-freepro"), ("pop-b", "il1.2452", "tr-partner-linkt")]
    assert len(t.customers[0].sessions) == 4


def _two_vpcs(basic_data: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(basic_data)
    d["vpcs"][0]["private_networks"].append({"name": "pn-2", "subnets": ["10.40.0.0/24"]})
    d["vpcs"].append({"name": "vpc-b", "index": 7, "private_networks": [
        {"name": "pn-b", "subnets": ["10.50.0.0/24"]}]})
    d["links"].append({"name": "link-b", "vlan": 2452, "vpc": "vpc-b",
                       "peering": {"ipv4": "169.254.0.18/31"}})
    return d


def test_several_vpcs_and_private_networks(basic_data: dict[str, Any]) -> None:
    t = build_topology(parse_scenario(_two_vpcs(basic_data)), "ilab")
    names = [n.name for n in t.nodes]
    assert names[-5:] == ["vpc-router-1", "vpc-router-7", "vpc-instance-1-1",
                          "vpc-instance-1-2", "vpc-instance-7-1"]
    assert t.vpc("vpc-b").instances[0].addresses == ("10.50.0.10",)
    assert ("vpc-router-1", "pn1", "10.40.0.1/24") in {
        (a.node, a.ifname, a.cidr) for a in t.addresses}
    b = t.link("link-b")
    assert (b.vpc_router_netns, b.vpc_subnets) == ("ilab-vpc-router-7", ("10.50.0.0/24",))
    assert ("scw-interlink-2", "10.50.0.0/24", "198.18.0.3") in {
        (r.node, r.prefix, r.via) for r in t.routes}


def test_link_without_vpc_has_no_transit(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    d["links"][0]["vpc"] = None
    d["links"][0]["enable_route_propagation"] = False
    t = build_topology(parse_scenario(d), "ilab")
    (w,) = t.links
    assert (w.vpc_router_netns, w.scw_transit_v4, w.vpc_subnets) == (None, None, ())
    assert not [v for v in t.veths if v.a.ifname == "vpc0"]
    assert not [r for r in t.routes if r.node == "scw-interlink"]
    assert "vpc-router" in [n.name for n in t.nodes]  # the VPC still exists


def test_no_links(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    d["links"] = []
    t = build_topology(parse_scenario(d), "ilab")
    assert [n.name for n in t.nodes] == ["onprem-host", "customer-router", "vpc-router",
                                         "vpc-instance"]
    assert t.bridges == () and t.customers[0].sessions == ()


def test_adding_a_link_keeps_keys_and_interfaces(basic_data: dict[str, Any]) -> None:
    """What dataplane.sync relies on: the existing link keeps its node key, interface names and
    addresses when a second one comes (only node names gain their suffix)."""
    s1 = parse_scenario(basic_data)
    extra = LinkSpec(name="link-b", vlan=2452, bandwidth_mbps=1000,
                     peering_v4="169.254.0.18/31", peering_v6=None, vpc="vpc-lab",
                     routing_policies=(), enable_route_propagation=False, customer="customer",
                     index=s1.next_link_index(), partner="pop-b")
    s2 = replace(s1, links=(*s1.links, extra))
    t1, t2 = build_topology(s1, "ilab"), build_topology(s2, "ilab")
    k1 = {n.key: n.name for n in t1.nodes}
    k2 = {n.key: n.name for n in t2.nodes}
    assert set(k1) < set(k2)
    assert {k: (k1[k], k2[k]) for k in k1 if k1[k] != k2[k]} == {
        "scw-interlink:1": ("scw-interlink", "scw-interlink-1"),
        "partner:partner": ("partner", "partner-partner")}
    w1, w2 = t1.link("link-lab"), t2.link("link-lab")
    same = ("customer_ifname", "scw_ifname", "scw_v4_cidr", "scw_transit_v4", "index")
    assert all(getattr(w1, f) == getattr(w2, f) for f in same)
    assert parse_scenario(scenario_to_dict(s2)) == s2


def test_given_names_never_change_as_the_lab_grows(basic_data: dict[str, Any]) -> None:
    """A grown lab built with the names given before keeps every one of them; the new nodes
    get new names (a second link, customer, VPC and private network)."""
    s1 = parse_scenario(basic_data)
    t1 = build_topology(s1, "ilab")
    extra = LinkSpec(name="link-b", vlan=2452, bandwidth_mbps=1000,
                     peering_v4="169.254.0.18/31", peering_v6=None, vpc="vpc-lab",
                     routing_policies=(), enable_route_propagation=False, customer="c1",
                     index=s1.next_link_index(), partner="partner")
    c1 = replace(s1.customers[0], name="c1", asn=65010, lan_v4="198.18.129.0/24",
                 lan_v6=None, announce=())
    pn2 = PrivateNetworkSpec(name="pn-2", subnets=("10.40.0.0/24",))
    vpc = replace(s1.vpcs[0], private_networks=(*s1.vpcs[0].private_networks, pn2))
    vpc_b = VpcSpec(name="vpc-b", index=2, private_networks=(
        PrivateNetworkSpec(name="pn-b", subnets=("10.50.0.0/24",)),))
    s2 = replace(s1, links=(*s1.links, extra), customers=(*s1.customers, c1),
                 vpcs=(vpc, vpc_b))
    t2 = build_topology(s2, "ilab", t1.node_names)
    assert {k: t2.node_names[k] for k in t1.node_names} == t1.node_names
    assert set(t1.netns_names) < set(t2.netns_names)
    assert sorted(set(t2.node_names.values()) - set(t1.node_names.values())) == [
        "customer-router-c1", "onprem-host-c1", "scw-interlink-2", "vpc-instance-1-2",
        "vpc-instance-2-1", "vpc-router-2"]
    assert t2.customer("customer").netns == "ilab-customer-router"
    assert t2.link("link-lab").scw_netns == "ilab-scw-interlink"
    assert t2.vpc("vpc-b").router_netns == "ilab-vpc-router-2"
    # Shrinking back: the same names as before; without the given names, suffixes come back.
    assert build_topology(s1, "ilab", t2.node_names) == t1
    assert build_topology(s2, "ilab").link("link-lab").scw_netns == "ilab-scw-interlink-1"


def test_a_reused_position_gets_a_name_of_its_own(basic_data: dict[str, Any]) -> None:
    """Instance names follow private network positions; a new one whose position-name a kept
    sibling holds gets one more suffix instead of taking it."""
    s = parse_scenario(basic_data)
    pn = s.vpcs[0].private_networks[0]
    pns = [PrivateNetworkSpec(name=f"pn-{i}", subnets=(f"10.4{i}.0.0/24",)) for i in (2, 3)]
    grown = replace(s, vpcs=(replace(s.vpcs[0], private_networks=(pn, *pns)),))
    t = build_topology(grown, "ilab")
    assert [i.node for i in t.vpcs[0].instances] == [
        "vpc-instance-1-1", "vpc-instance-1-2", "vpc-instance-1-3"]
    # pn-2 goes; pn-4 comes third, where pn-3 (kept as vpc-instance-1-3) was.
    pn4 = PrivateNetworkSpec(name="pn-4", subnets=("10.44.0.0/24",))
    t2 = build_topology(replace(s, vpcs=(replace(s.vpcs[0], private_networks=(
        pn, pns[1], pn4)),)), "ilab", t.node_names)
    assert [i.node for i in t2.vpcs[0].instances] == [
        "vpc-instance-1-1", "vpc-instance-1-3", "vpc-instance-1-3-2"]


@pytest.mark.parametrize("source", ["basic", str(FIXTURES / "two_tenants.yaml"),
                                    str(FIXTURES / "redundant.yaml")])
def test_scenario_to_dict_round_trip(source: str) -> None:
    s = load_scenario(source)
    d = scenario_to_dict(s)
    assert parse_scenario(d) == s
    assert parse_scenario(yaml.safe_load(yaml.safe_dump(d))) == s  # survives YAML too
    assert "customer" not in d and d["customers"][0]["name"] == s.customers[0].name


def test_runner_sections_pass_through(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    d.update(description="explicit", steps=[{"do": "cut", "link": "link-lab"}],
             checks=[{"ping": ["onprem-host", "vpc-instance"]}], waits={"converge": 2, "x": 0.5})
    s = parse_scenario(d)
    assert s.description == "explicit"
    assert s.steps == ({"do": "cut", "link": "link-lab"},)
    assert s.checks == ({"ping": ["onprem-host", "vpc-instance"]},)
    assert s.waits == {"converge": 2.0, "x": 0.5}
    assert parse_scenario(scenario_to_dict(s)) == s


def test_description_from_leading_comment(tmp_path: Path, basic_data: dict[str, Any]) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("# first line\n#  second line\nname: x\n" + yaml.safe_dump(
        {k: v for k, v in basic_data.items() if k != "name"}))
    assert load_scenario(str(p)).description == "first line\nsecond line"


def test_announce_forms(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    d["customer"]["announce"] = ["198.51.100.0/24",
                                 {"prefix": "198.51.100.0/25", "community": "12876:42200"},
                                 {"prefix": "198.51.100.128/25",
                                  "communities": ["12876:42050", "64512:1"]}]
    d["customer"]["md5_password"] = "s3cret"
    d["links"][0]["md5_password"] = "other"
    s = parse_scenario(d)
    assert s.customer.announce == (
        AnnounceSpec("198.51.100.0/24"), AnnounceSpec("198.51.100.0/25", ("12876:42200",)),
        AnnounceSpec("198.51.100.128/25", ("12876:42050", "64512:1")))
    assert s.customer.announce_prefixes[1] == "198.51.100.0/25"
    t = build_topology(s)
    assert (t.customers[0].md5_password, t.links[0].md5_password) == ("s3cret", "other")
    assert parse_scenario(scenario_to_dict(s)) == s


def _customers(basic_data: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(basic_data)
    first = d.pop("customer")
    first["name"] = "acme"
    d["customers"] = [first, {"name": "globex", "asn": 64513,
                              "lan": {"ipv4": "10.20.0.0/24"}}]
    d["links"][0]["customer"] = "acme"
    return d


def test_multi_customer_ok(basic_data: dict[str, Any]) -> None:
    s = parse_scenario(_customers(basic_data))
    assert [c.name for c in s.customers] == ["acme", "globex"] and s.customer.name == "acme"
    t = build_topology(s, "ilab")
    assert t.customer("globex").netns == "ilab-customer-router-globex"
    assert t.customer("globex").sessions == ()


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: d["links"][0].pop("customer"),
     r"links\[0\].*customer: ambiguous.*several customers \(acme, globex\)"),
    (lambda d: d["links"][0].update(customer="initech"),
     r"links\[0\]\.customer: unknown customer 'initech'"),
    (lambda d: d["links"].append({**d["links"][0], "name": "l2", "index": 1, "vlan": 2452}),
     r"duplicate link index 1"),
    (lambda d: d["links"].append({**d["links"][0], "name": "l2", "index": 2, "vlan": 2452}),
     r"links \(customer 'acme'\): duplicate peering '169\.254\.0\.16/31'"),
    (lambda d: d["links"].append({**d["links"][0], "name": "l2", "index": 2,
                                  "customer": "globex", "routing_policies": []}),
     r"duplicate VLAN 2451"),
    (lambda d: d["links"][0].update(partner="no/slash"), r"links\[0\]\.partner: invalid name"),
    (lambda d: d["links"][0].update(index=129), r"links\[0\]\.index: 129 is outside 1\.\.128"),
    (lambda d: d["vpcs"].append({"name": "v2", "index": 1, "private_networks": []}),
     r"vpcs: duplicate VPC index 1"),
    (lambda d: d["customers"][1].update(announce=[{"prefix": "10.20.0.0/24",
                                                   "community": "12876:70000"}]),
     r"customers\[1\]\.announce\[0\]\.communities\[0\]: bad community '12876:70000'"),
    (lambda d: d["customers"][1].update(announce=[{"prefix": "10.20.0.0/24",
                                                   "communities": ["no"]}]),
     r"bad community 'no'"),
    (lambda d: d["customers"][1].update(name="acme"), r"duplicate customer name 'acme'"),
    (lambda d: d["customers"][1]["lan"].update(ipv4="198.51.100.0/25"),
     r"198\.51\.100\.0/24 \(customer acme lan\) overlaps 198\.51\.100\.0/25"),
    (lambda d: d["customers"][1]["lan"].update(ipv4="198.18.0.0/24"),
     r"198\.18\.0\.0/24 \(lab transit\) overlaps"),
    (lambda d: d["customers"][1].update(md5_password="x" * 81), r"is 81 characters long: 1\.\.80"),
    (lambda d: d["links"][0].update(md5_password="it's"),
     r"links\[0\]\.md5_password: MD5 password contains a quote"),
    (lambda d: d.update(customer={"asn": 1}), r"either `customer:` \(one\) or `customers:`"),
    (lambda d: d["links"][0].update(vlan_id=3), r"links\[0\]: unknown keys \['vlan_id'\]"),
    (lambda d: d.update(waits={"converge": "soon"}), r"waits\.converge: expected a number"),
    (lambda d: d.update(steps={"not": "a list"}), r"steps: expected a list"),
])
def test_multi_validation_errors(basic_data: dict[str, Any], change: Any, match: str) -> None:
    d = _customers(basic_data)
    change(d)
    _err(d, match)


def test_same_vlan_on_different_partners_ok(basic_data: dict[str, Any]) -> None:
    d = _customers(basic_data)
    d["links"].append({**d["links"][0], "name": "l2", "index": 2, "customer": "globex",
                       "routing_policies": [], "partner": "other"})
    t = build_topology(parse_scenario(d), "ilab")
    assert [b.node for b in t.bridges] == ["partner-partner", "partner-other"]


def test_ready_flag(basic_data: dict[str, Any]) -> None:
    assert parse_scenario(basic_data).ready is True
    d = copy.deepcopy(basic_data)
    d["ready"] = False
    s = parse_scenario(d)
    assert s.ready is False
    assert scenario_to_dict(s)["ready"] is False
    assert parse_scenario(scenario_to_dict(s)) == s
    assert "ready" not in scenario_to_dict(parse_scenario(basic_data))  # default left out
    d["ready"] = "no"
    _err(d, r"ready: expected true or false, got 'no'")


def test_announce_link(basic_data: dict[str, Any]) -> None:
    d = _customers(basic_data)
    d["links"].append({**d["links"][0], "name": "l2", "index": 2, "vlan": 2452,
                       "peering": {"ipv4": "169.254.0.18/31"}, "routing_policies": []})
    d["customers"][0]["announce"] = [
        {"prefix": "198.51.100.0/25", "community": "12876:42200", "link": "l2"},
        {"prefix": "198.51.100.128/25", "link": "link-lab"}, "198.51.100.0/24"]
    s = parse_scenario(d)
    assert s.customer.announce == (
        AnnounceSpec("198.51.100.0/25", ("12876:42200",), "l2"),
        AnnounceSpec("198.51.100.128/25", (), "link-lab"), AnnounceSpec("198.51.100.0/24"))
    assert scenario_to_dict(s)["customers"][0]["announce"][1] == {
        "prefix": "198.51.100.128/25", "link": "link-lab"}
    assert parse_scenario(scenario_to_dict(s)) == s
    assert parse_scenario(yaml.safe_load(yaml.safe_dump(scenario_to_dict(s)))) == s


@pytest.mark.parametrize(("link", "match"), [
    ("nope", r"customers\[1\]\.announce\[0\]\.link: 'nope' is not a link of customer "
             r"'globex' \(its links: none\)"),
    ("link-lab", r"'link-lab' is not a link of customer 'globex'"),  # acme's link
    ("bad/name", r"customers\[1\]\.announce\[0\]\.link: invalid name"),
])
def test_announce_link_errors(basic_data: dict[str, Any], link: str, match: str) -> None:
    d = _customers(basic_data)
    d["customers"][1]["announce"] = [{"prefix": "10.20.0.0/24", "link": link}]
    _err(d, match)


def test_announce_link_single_customer(basic_data: dict[str, Any]) -> None:
    d = copy.deepcopy(basic_data)
    d["customer"]["announce"] = [{"prefix": "198.51.100.0/24", "link": "other"}]
    _err(d, r"customer\.announce\[0\]\.link: 'other' is not a link of customer .*"
            r"\(its links: link-lab\)")


def test_host_networks_one_rule_for_routes_and_addresses(basic_data: dict[str, Any]) -> None:
    """A default route is a fine announcement or filter; an address range overlapping the
    host's own network is not; a route inside it is not either (validate, up and announce
    steps agree: lab.scenario.model.host_conflict)."""
    from controller.core.model import ArgumentError
    from lab.routers.announcements import validate_announcement

    data = copy.deepcopy(basic_data)
    data["customer"]["announce"] = ["0.0.0.0/0", "::/0"]
    data["routing_policies"][0]["prefix_filter_in"] = ["0.0.0.0/0"]
    sc = parse_scenario(data)
    assert [a.prefix for a in sc.customers[0].announce] == ["0.0.0.0/0", "::/0"]
    assert validate_announcement(["0.0.0.0/0"], ())[0] == ["0.0.0.0/0"]

    inside = copy.deepcopy(basic_data)
    inside["customer"]["announce"] = ["192.0.2.128/25"]
    with pytest.raises(ScenarioError, match=r"overlaps 192\.0\.2\.0/24, reserved for the host"):
        parse_scenario(inside)
    with pytest.raises(ArgumentError):
        validate_announcement(["192.0.2.128/25"], ())

    lan = copy.deepcopy(basic_data)
    lan["customer"]["lan"]["ipv4"] = "192.0.0.0/16"  # a supernet as address space: refused
    with pytest.raises(ScenarioError, match="reserved for the host"):
        parse_scenario(lan)
