"""lab.topology: scenario validation and the default topology (pure, no root)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.topology import (
    ScenarioError,
    Topology,
    build_topology,
    load_scenario,
    parse_scenario,
    resolve_scenario_path,
)

BASIC = Path(__file__).resolve().parents[2] / "lab" / "scenarios" / "basic.yaml"


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
        ("onprem-host", "host", "ilab-onprem-host", False),
        ("customer-router", "router", "ilab-customer-router", True),
        ("partner", "switch", "ilab-partner", False),
        ("scw-interlink", "router", "ilab-scw-interlink", True),
        ("vpc-router", "router", "ilab-vpc-router", True),
        ("vpc-instance", "host", "ilab-vpc-instance", False),
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
    ("timers.hold_time", 2, r"at least 3 seconds"),
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
