"""Scenario YAML -> Topology: everything the lab builds, as frozen dataclasses (pure, no I/O
except reading the scenario file in `load_scenario`).

Naming and addressing follow docs/DESIGN.md. The data model is general (N links, N VPC
private networks / instances); node names keep the short default form for a single link
(`scw-interlink`, partner port `scw0`) and number them for several (`scw-interlink-1`, ...).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

VLAN_MIN, VLAN_MAX = 1500, 3899
DEFAULT_HOLD_TIME = 9

# The machine's own eth0 lives in these: a lab address there could shadow the host's network.
FORBIDDEN_PREFIXES = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("fd00::/64"),
)

# Transit /31 and /127 between each scw-interlink router and the vpc-router (lab internals,
# not part of the scenario): link n uses the n-th pair.
TRANSIT_V4 = ipaddress.IPv4Network("198.18.0.0/24")
TRANSIT_V6 = ipaddress.IPv6Network("2001:db8:ffff::/64")

# Routers take <subnet>.1 / ::1; the on-prem host and VPC instances .10 / ::10 (0x10 in v6, so
# that both read "10").
ROUTER_OFFSET = 1
HOST_OFFSET = 10
HOST_OFFSET_V6 = 0x10


def _host_offset(version: int) -> int:
    return HOST_OFFSET if version == 4 else HOST_OFFSET_V6

_LAB_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ScenarioError(ValueError):
    """The scenario file is missing, malformed or inconsistent."""


# --------------------------------------------------------------------------- scenario model


@dataclass(frozen=True)
class CustomerSpec:
    asn: int
    router: str
    lan_v4: str | None
    lan_v6: str | None
    announce: tuple[str, ...]


@dataclass(frozen=True)
class PrivateNetworkSpec:
    name: str
    subnets: tuple[str, ...]


@dataclass(frozen=True)
class VpcSpec:
    name: str
    private_networks: tuple[PrivateNetworkSpec, ...]

    @property
    def subnets(self) -> tuple[str, ...]:
        return tuple(s for pn in self.private_networks for s in pn.subnets)


@dataclass(frozen=True)
class RoutingPolicySpec:
    name: str
    is_ipv6: bool
    prefix_filter_in: tuple[str, ...]
    prefix_filter_out: tuple[str, ...]


@dataclass(frozen=True)
class LinkSpec:
    name: str
    vlan: int
    bandwidth_mbps: int
    peering_v4: str | None  # the /31 network, e.g. "169.254.0.16/31"
    peering_v6: str | None  # the /127 network, e.g. "2001:db8:fc60::/127"
    vpc: str | None
    routing_policies: tuple[str, ...]
    enable_route_propagation: bool


@dataclass(frozen=True)
class Scenario:
    name: str
    hold_time: int
    customer: CustomerSpec
    vpcs: tuple[VpcSpec, ...]
    routing_policies: tuple[RoutingPolicySpec, ...]
    links: tuple[LinkSpec, ...]

    def vpc(self, name: str) -> VpcSpec:
        for v in self.vpcs:
            if v.name == name:
                return v
        raise KeyError(name)

    def policy(self, name: str) -> RoutingPolicySpec:
        for p in self.routing_policies:
            if p.name == name:
                return p
        raise KeyError(name)


# --------------------------------------------------------------------------- topology model


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # "host" | "router" | "switch"
    netns: str
    forwarding: bool


@dataclass(frozen=True)
class Endpoint:
    node: str
    netns: str
    ifname: str


@dataclass(frozen=True)
class VethPair:
    a: Endpoint
    b: Endpoint


@dataclass(frozen=True)
class VlanInterface:
    """An 802.1Q sub-interface `<parent>.<vid>` (the addresses live on `ifname`)."""

    node: str
    netns: str
    parent: str
    vid: int

    @property
    def ifname(self) -> str:
        return f"{self.parent}.{self.vid}"


@dataclass(frozen=True)
class BridgePort:
    ifname: str
    tagged_vids: tuple[int, ...]


@dataclass(frozen=True)
class Bridge:
    """A VLAN-aware bridge: only the listed VLANs, tagged, cross it."""

    node: str
    netns: str
    ifname: str
    ports: tuple[BridgePort, ...]
    vlan_filtering: bool = True


@dataclass(frozen=True)
class Address:
    node: str
    netns: str
    ifname: str
    cidr: str  # "198.51.100.10/24"


@dataclass(frozen=True)
class Route:
    node: str
    netns: str
    prefix: str  # "0.0.0.0/0", "::/0", "203.0.113.0/24"
    via: str


@dataclass(frozen=True)
class LinkWiring:
    """What the controller needs to know about one InterLink link's plumbing."""

    name: str
    vlan: int
    vpc: str | None
    vpc_subnets: tuple[str, ...]
    scw_node: str
    scw_netns: str
    scw_ifname: str  # "pe0.2451": where the BGP sessions run on Scaleway's side
    customer_netns: str
    customer_ifname: str  # "il0.2451"
    vpc_router_netns: str
    # Peering addresses, bare ("169.254.0.16") and with prefix length ("169.254.0.16/31").
    scw_v4: str | None
    peer_v4: str | None
    scw_v4_cidr: str | None
    peer_v4_cidr: str | None
    scw_v6: str | None
    peer_v6: str | None
    scw_v6_cidr: str | None
    peer_v6_cidr: str | None
    # scw-interlink's transit address toward the vpc-router: the next hop of VPC routes.
    scw_transit_v4: str
    scw_transit_v6: str
    vpc_router_transit_v4: str
    vpc_router_transit_v6: str


@dataclass(frozen=True)
class Topology:
    lab: str
    scenario: str
    nodes: tuple[Node, ...]
    veths: tuple[VethPair, ...]
    vlans: tuple[VlanInterface, ...]
    bridges: tuple[Bridge, ...]
    addresses: tuple[Address, ...]
    routes: tuple[Route, ...]
    links: tuple[LinkWiring, ...]
    lan_hosts: tuple[str, ...] = field(default=())  # on-prem host node names

    @property
    def netns_names(self) -> tuple[str, ...]:
        return tuple(n.netns for n in self.nodes)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in lab {self.lab!r}")

    def netns(self, node: str) -> str:
        return self.node(node).netns

    def node_addresses(self, node: str | Node) -> list[str]:
        """All CIDRs configured on a node, in build order."""
        name = node.name if isinstance(node, Node) else node
        self.node(name)  # KeyError for unknown nodes
        return [a.cidr for a in self.addresses if a.node == name]

    def address(self, node: str, family: int = 4, ifname: str | None = None) -> str:
        """First address (no prefix length) of a node in a family, optionally on one iface."""
        for a in self.addresses:
            if a.node != node or (ifname is not None and a.ifname != ifname):
                continue
            ip = ipaddress.ip_interface(a.cidr).ip
            if ip.version == family:
                return str(ip)
        raise KeyError(f"node {node!r} has no IPv{family} address")

    def link(self, name: str) -> LinkWiring:
        for w in self.links:
            if w.name == name:
                return w
        raise KeyError(name)

    def interfaces(self, netns: str) -> list[str]:
        """Interface names built in a namespace (veth ends, VLAN sub-interfaces, bridges)."""
        out: list[str] = []
        for v in self.veths:
            out += [e.ifname for e in (v.a, v.b) if e.netns == netns]
        out += [b.ifname for b in self.bridges if b.netns == netns]
        out += [v.ifname for v in self.vlans if v.netns == netns]
        return out


def node_addresses(topology: Topology, node: str | Node) -> list[str]:
    return topology.node_addresses(node)


# --------------------------------------------------------------------------- loading


def resolve_scenario_path(path_or_name: str) -> Path:
    """A bare name ("basic") means lab/scenarios/<name>.yaml; anything else is a path."""
    if "/" not in path_or_name and not path_or_name.endswith((".yaml", ".yml")):
        return SCENARIO_DIR / f"{path_or_name}.yaml"
    return Path(path_or_name)


def load_scenario(path_or_name: str) -> Scenario:
    path = resolve_scenario_path(path_or_name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(
            f"scenario {path_or_name!r} not found ({path}); shipped: {known}") from None
    except OSError as e:
        raise ScenarioError(f"cannot read scenario {path}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{path}: invalid YAML: {e}") from e
    return parse_scenario(data, source=str(path))


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping (as loaded from YAML). Raises ScenarioError."""
    p = _Parser(source)
    return p.scenario(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, where: str, msg: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {msg}")

    # -- primitives

    def mapping(self, v: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(where, f"expected a mapping, got {type(v).__name__}")
        return v

    def seq(self, v: Any, where: str) -> list[Any]:
        if v is None:
            return []
        if not isinstance(v, list):
            raise self.err(where, f"expected a list, got {type(v).__name__}")
        return v

    def name(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not _NAME_RE.match(v):
            raise self.err(where, f"invalid name {v!r} (letters, digits, '_', '.', '-')")
        return v

    def integer(self, v: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.err(where, f"expected an integer, got {v!r}")
        if not lo <= v <= hi:
            raise self.err(where, f"{v} is outside {lo}..{hi}")
        return v

    def boolean(self, v: Any, where: str) -> bool:
        if not isinstance(v, bool):
            raise self.err(where, f"expected true or false, got {v!r}")
        return v

    def prefix(self, v: Any, where: str, version: int | None = None) -> IPNetwork:
        if not isinstance(v, str):
            raise self.err(where, f"expected a prefix string like '203.0.113.0/24', got {v!r}")
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as e:
            raise self.err(where, f"invalid prefix {v!r}: {e}") from None
        if "/" not in v:
            raise self.err(where, f"prefix {v!r} needs a prefix length")
        if version is not None and net.version != version:
            raise self.err(where, f"{v} is not an IPv{version} prefix")
        for bad in FORBIDDEN_PREFIXES:
            if net.version == bad.version and net.overlaps(bad):
                raise self.err(where, f"{v} overlaps {bad}, reserved for the host's own network")
        return net

    # -- sections

    def scenario(self, data: Any) -> Scenario:
        d = self.mapping(data, "top level")
        unknown = set(d) - {"name", "timers", "customer", "vpcs", "routing_policies", "links"}
        if unknown:
            raise self.err("top level", f"unknown keys {sorted(unknown)}")
        name = self.name(d.get("name"), "name")
        timers = self.mapping(d.get("timers") or {}, "timers")
        hold = self.integer(timers.get("hold_time", DEFAULT_HOLD_TIME), "timers.hold_time", 0,
                            65535)
        if 0 < hold < 3:
            raise self.err("timers.hold_time", "must be 0 or at least 3 seconds (RFC 4271)")
        customer = self.customer(d.get("customer"))
        vpcs = tuple(self.vpc(v, f"vpcs[{i}]") for i, v in enumerate(self.seq(d.get("vpcs"),
                                                                            "vpcs")))
        policies = tuple(self.policy(v, f"routing_policies[{i}]")
                         for i, v in enumerate(self.seq(d.get("routing_policies"),
                                                        "routing_policies")))
        links = tuple(self.link(v, f"links[{i}]")
                      for i, v in enumerate(self.seq(d.get("links"), "links")))
        self.unique([v.name for v in vpcs], "vpcs", "VPC name")
        self.unique([p.name for p in policies], "routing_policies", "routing policy name")
        self.unique([lk.name for lk in links], "links", "link name")
        self.unique([lk.vlan for lk in links], "links", "VLAN")
        self.unique([pn.name for v in vpcs for pn in v.private_networks], "vpcs",
                    "private network name")
        self.no_overlap(vpcs, customer)
        vpc_names = {v.name for v in vpcs}
        pol = {p.name: p for p in policies}
        for i, lk in enumerate(links):
            where = f"links[{i}] ({lk.name})"
            if lk.vpc is not None and lk.vpc not in vpc_names:
                raise self.err(where, f"unknown vpc {lk.vpc!r} (known: {sorted(vpc_names)})")
            seen_family: set[bool] = set()
            for ref in lk.routing_policies:
                if ref not in pol:
                    raise self.err(where, f"unknown routing policy {ref!r} "
                                          f"(known: {sorted(pol)})")
                fam = pol[ref].is_ipv6
                if fam in seen_family:
                    raise self.err(where, f"two IPv{6 if fam else 4} routing policies attached")
                seen_family.add(fam)
                if (lk.peering_v6 if fam else lk.peering_v4) is None:
                    raise self.err(where, f"policy {ref!r} is IPv{6 if fam else 4} but the link "
                                          "has no peering address of that family")
        return Scenario(name=name, hold_time=hold, customer=customer, vpcs=vpcs,
                        routing_policies=policies, links=links)

    def unique(self, items: list[Any], where: str, what: str) -> None:
        seen: set[Any] = set()
        for it in items:
            if it in seen:
                raise self.err(where, f"duplicate {what} {it!r}")
            seen.add(it)

    def no_overlap(self, vpcs: tuple[VpcSpec, ...], customer: CustomerSpec) -> None:
        nets: list[tuple[str, IPNetwork]] = []
        for lan in (customer.lan_v4, customer.lan_v6):
            if lan:
                nets.append(("customer.lan", ipaddress.ip_network(lan)))
        for v in vpcs:
            for s in v.subnets:
                nets.append((f"vpc {v.name}", ipaddress.ip_network(s)))
        for i, (wa, a) in enumerate(nets):
            for wb, b in nets[i + 1:]:
                if a.version == b.version and a.overlaps(b):
                    raise self.err("vpcs", f"{a} ({wa}) overlaps {b} ({wb})")

    def customer(self, v: Any) -> CustomerSpec:
        c = self.mapping(v, "customer")
        asn = self.integer(c.get("asn"), "customer.asn", 1, 4294967295)
        if asn == 12876:
            raise self.err("customer.asn", "12876 is Scaleway's ASN")
        router = c.get("router", "exabgp")
        if router not in ("exabgp", "frr", "bird"):
            raise self.err("customer.router", f"{router!r}: expected exabgp, frr or bird")
        lan = self.mapping(c.get("lan"), "customer.lan")
        v4 = self.prefix(lan["ipv4"], "customer.lan.ipv4", 4) if lan.get("ipv4") else None
        v6 = self.prefix(lan["ipv6"], "customer.lan.ipv6", 6) if lan.get("ipv6") else None
        if v4 is None and v6 is None:
            raise self.err("customer.lan", "needs ipv4 and/or ipv6")
        for net, w in ((v4, "customer.lan.ipv4"), (v6, "customer.lan.ipv6")):
            if net is not None:
                self.hostable(net, w)
        announce = tuple(str(self.prefix(p, f"customer.announce[{i}]"))
                         for i, p in enumerate(self.seq(c.get("announce"), "customer.announce")))
        return CustomerSpec(asn=asn, router=router, lan_v4=str(v4) if v4 else None,
                            lan_v6=str(v6) if v6 else None, announce=announce)

    def hostable(self, net: IPNetwork, where: str) -> None:
        if net.num_addresses < _host_offset(net.version) + 2:
            raise self.err(where, f"{net} is too small: the lab uses .{ROUTER_OFFSET} for the "
                                  f"router and .{HOST_OFFSET} for the host")

    def vpc(self, v: Any, where: str) -> VpcSpec:
        d = self.mapping(v, where)
        name = self.name(d.get("name"), f"{where}.name")
        pns = []
        for i, pn in enumerate(self.seq(d.get("private_networks"), f"{where}.private_networks")):
            w = f"{where}.private_networks[{i}]"
            pd = self.mapping(pn, w)
            subnets = []
            versions: set[int] = set()
            for j, s in enumerate(self.seq(pd.get("subnets"), f"{w}.subnets")):
                net = self.prefix(s, f"{w}.subnets[{j}]")
                self.hostable(net, f"{w}.subnets[{j}]")
                if net.version in versions:
                    raise self.err(f"{w}.subnets", f"more than one IPv{net.version} subnet")
                versions.add(net.version)
                subnets.append(str(net))
            if not subnets:
                raise self.err(w, "needs at least one subnet")
            pns.append(PrivateNetworkSpec(name=self.name(pd.get("name"), f"{w}.name"),
                                          subnets=tuple(subnets)))
        return VpcSpec(name=name, private_networks=tuple(pns))

    def policy(self, v: Any, where: str) -> RoutingPolicySpec:
        d = self.mapping(v, where)
        name = self.name(d.get("name"), f"{where}.name")
        is_v6 = self.boolean(d.get("is_ipv6", False), f"{where}.is_ipv6")
        fam = 6 if is_v6 else 4
        lists = {}
        for key in ("prefix_filter_in", "prefix_filter_out"):
            lists[key] = tuple(str(self.prefix(p, f"{where}.{key}[{i}]", fam))
                               for i, p in enumerate(self.seq(d.get(key), f"{where}.{key}")))
        return RoutingPolicySpec(name=name, is_ipv6=is_v6, **lists)

    def link(self, v: Any, where: str) -> LinkSpec:
        d = self.mapping(v, where)
        name = self.name(d.get("name"), f"{where}.name")
        vlan = self.integer(d.get("vlan"), f"{where}.vlan", VLAN_MIN, VLAN_MAX)
        bw = self.integer(d.get("bandwidth_mbps", 1000), f"{where}.bandwidth_mbps", 1, 400_000)
        peering = self.mapping(d.get("peering"), f"{where}.peering")
        p4 = self.peering(peering.get("ipv4"), f"{where}.peering.ipv4", 4)
        p6 = self.peering(peering.get("ipv6"), f"{where}.peering.ipv6", 6)
        if p4 is None and p6 is None:
            raise self.err(f"{where}.peering", "needs ipv4 and/or ipv6")
        vpc = d.get("vpc")
        if vpc is not None:
            vpc = self.name(vpc, f"{where}.vpc")
        refs = tuple(self.name(r, f"{where}.routing_policies[{i}]")
                     for i, r in enumerate(self.seq(d.get("routing_policies"),
                                                    f"{where}.routing_policies")))
        prop = self.boolean(d.get("enable_route_propagation", False),
                            f"{where}.enable_route_propagation")
        return LinkSpec(name=name, vlan=vlan, bandwidth_mbps=bw, peering_v4=p4, peering_v6=p6,
                        vpc=vpc, routing_policies=refs, enable_route_propagation=prop)

    def peering(self, v: Any, where: str, version: int) -> str | None:
        if v is None:
            return None
        plen = 31 if version == 4 else 127
        rule = ("Scaleway takes the even address and the peer the odd one"
                if version == 4 else "Scaleway takes ..0 and the peer ..1")
        if not isinstance(v, str) or "/" not in v:
            raise self.err(where, f"expected a /{plen} like "
                                  f"{'169.254.0.16/31' if version == 4 else '2001:db8::/127'}, "
                                  f"got {v!r}")
        try:
            iface = ipaddress.ip_interface(v)
        except ValueError as e:
            raise self.err(where, f"invalid prefix {v!r}: {e}") from None
        if iface.version != version:
            raise self.err(where, f"{v} is not an IPv{version} prefix")
        if iface.network.prefixlen != plen:
            raise self.err(where, f"{v}: the peering must be a /{plen} ({rule})")
        if iface.ip != iface.network.network_address:
            raise self.err(where, f"{v}: give the /{plen} by its network address "
                                  f"{iface.network} ({rule})")
        return str(self.prefix(v, where, version))


# --------------------------------------------------------------------------- topology


def _nth(net: IPNetwork, n: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return net.network_address + n


def _cidr(net: IPNetwork, n: int) -> str:
    return f"{_nth(net, n)}/{net.prefixlen}"


def _default(version: int) -> str:
    return "0.0.0.0/0" if version == 4 else "::/0"


def build_topology(scenario: Scenario, lab: str = "ilab") -> Topology:
    if not _LAB_RE.match(lab):
        raise ScenarioError(f"invalid lab name {lab!r}: 1-12 lowercase letters/digits, "
                            "starting with a letter")
    if not scenario.links:
        raise ScenarioError(f"{scenario.name}: needs at least one link")
    vpc_names = {lk.vpc for lk in scenario.links if lk.vpc is not None} or {
        v.name for v in scenario.vpcs}
    if len(scenario.vpcs) != 1 or len(vpc_names) > 1:
        # One vpc-router stands for the (single) VPC; several VPCs would need one each.
        raise ScenarioError(f"{scenario.name}: exactly one VPC is supported for now "
                            f"(got {len(scenario.vpcs)})")
    vpc = scenario.vpcs[0]
    multi = len(scenario.links) > 1

    def ns(node: str) -> str:
        return f"{lab}-{node}"

    nodes: list[Node] = []
    veths: list[VethPair] = []
    vlans: list[VlanInterface] = []
    addresses: list[Address] = []
    routes: list[Route] = []
    wirings: list[LinkWiring] = []

    def add_node(name: str, role: str) -> None:
        nodes.append(Node(name=name, role=role, netns=ns(name), forwarding=role == "router"))

    def veth(a: str, a_if: str, b: str, b_if: str) -> None:
        veths.append(VethPair(Endpoint(a, ns(a), a_if), Endpoint(b, ns(b), b_if)))

    def addr(node: str, ifname: str, cidr: str) -> None:
        addresses.append(Address(node=node, netns=ns(node), ifname=ifname, cidr=cidr))

    def route(node: str, prefix: str, via: str) -> None:
        routes.append(Route(node=node, netns=ns(node), prefix=prefix, via=via))

    # On-prem side.
    cust = scenario.customer
    add_node("onprem-host", "host")
    add_node("customer-router", "router")
    add_node("partner", "switch")
    veth("onprem-host", "eth0", "customer-router", "lan0")
    for lan in (cust.lan_v4, cust.lan_v6):
        if lan:
            net = ipaddress.ip_network(lan)
            addr("onprem-host", "eth0", _cidr(net, _host_offset(net.version)))
            addr("customer-router", "lan0", _cidr(net, ROUTER_OFFSET))
            route("onprem-host", _default(net.version), str(_nth(net, ROUTER_OFFSET)))
    # One cross-connect from the customer router to the partner, carrying every link's VLAN.
    veth("customer-router", "il0", "partner", "cust0")

    scw_nodes = [f"scw-interlink-{i + 1}" if multi else "scw-interlink"
                 for i in range(len(scenario.links))]
    for n in scw_nodes:
        add_node(n, "router")
    add_node("vpc-router", "router")

    partner_ports = [BridgePort("cust0", tuple(lk.vlan for lk in scenario.links))]
    for i, (lk, scw) in enumerate(zip(scenario.links, scw_nodes, strict=True)):
        port = f"scw{i}"
        veth(scw, "pe0", "partner", port)
        partner_ports.append(BridgePort(port, (lk.vlan,)))
        vlans.append(VlanInterface(node="customer-router", netns=ns("customer-router"),
                                   parent="il0", vid=lk.vlan))
        vlans.append(VlanInterface(node=scw, netns=ns(scw), parent="pe0", vid=lk.vlan))
        cust_if, scw_if = f"il0.{lk.vlan}", f"pe0.{lk.vlan}"
        peer: dict[int, tuple[str, str, str, str]] = {}
        for p in (lk.peering_v4, lk.peering_v6):
            if p:
                net = ipaddress.ip_network(p)
                scw_c, peer_c = _cidr(net, 0), _cidr(net, 1)
                addr(scw, scw_if, scw_c)
                addr("customer-router", cust_if, peer_c)
                peer[net.version] = (str(_nth(net, 0)), str(_nth(net, 1)), scw_c, peer_c)

        # Transit to the vpc-router; link i takes the i-th /31 and /127.
        t4 = ipaddress.IPv4Network((int(TRANSIT_V4.network_address) + 2 * i, 31))
        t6 = ipaddress.IPv6Network((int(TRANSIT_V6.network_address) + 2 * i, 127))
        vr_if = f"il{i}"
        veth(scw, "vpc0", "vpc-router", vr_if)
        for t in (t4, t6):
            addr(scw, "vpc0", _cidr(t, 0))
            addr("vpc-router", vr_if, _cidr(t, 1))
        for s in vpc.subnets:
            net = ipaddress.ip_network(s)
            via = _nth(t4 if net.version == 4 else t6, 1)
            route(scw, s, str(via))

        n4, n6 = peer.get(4), peer.get(6)
        wirings.append(LinkWiring(
            name=lk.name, vlan=lk.vlan, vpc=lk.vpc,
            vpc_subnets=scenario.vpc(lk.vpc).subnets if lk.vpc else (),
            scw_node=scw, scw_netns=ns(scw), scw_ifname=scw_if,
            customer_netns=ns("customer-router"), customer_ifname=cust_if,
            vpc_router_netns=ns("vpc-router"),
            scw_v4=n4[0] if n4 else None, peer_v4=n4[1] if n4 else None,
            scw_v4_cidr=n4[2] if n4 else None, peer_v4_cidr=n4[3] if n4 else None,
            scw_v6=n6[0] if n6 else None, peer_v6=n6[1] if n6 else None,
            scw_v6_cidr=n6[2] if n6 else None, peer_v6_cidr=n6[3] if n6 else None,
            scw_transit_v4=str(_nth(t4, 0)), scw_transit_v6=str(_nth(t6, 0)),
            vpc_router_transit_v4=str(_nth(t4, 1)), vpc_router_transit_v6=str(_nth(t6, 1)),
        ))

    # VPC side: one vpc-router interface and one instance per private network.
    for i, pn in enumerate(vpc.private_networks):
        inst = "vpc-instance" if i == 0 else f"vpc-instance-{i + 1}"
        add_node(inst, "host")
        pn_if = f"pn{i}"
        veth("vpc-router", pn_if, inst, "eth0")
        for s in pn.subnets:
            net = ipaddress.ip_network(s)
            addr("vpc-router", pn_if, _cidr(net, ROUTER_OFFSET))
            addr(inst, "eth0", _cidr(net, _host_offset(net.version)))
            route(inst, _default(net.version), str(_nth(net, ROUTER_OFFSET)))

    bridges = (Bridge(node="partner", netns=ns("partner"), ifname="br0",
                      ports=tuple(partner_ports)),)
    return Topology(lab=lab, scenario=scenario.name, nodes=tuple(nodes), veths=tuple(veths),
                    vlans=tuple(vlans), bridges=bridges, addresses=tuple(addresses),
                    routes=tuple(routes), links=tuple(wirings), lan_hosts=("onprem-host",))


def netns_of(lab: str, nodes: Iterable[str]) -> list[str]:
    return [f"{lab}-{n}" for n in nodes]
