"""Scenario YAML -> Topology: everything the lab builds, as frozen dataclasses (pure, no I/O
except reading the scenario file in `load_scenario`).

Naming and addressing follow docs/DESIGN.md. The model is general (N customers, N links, N
partners, N VPCs with N private networks); node names keep the short default form when there
is one of a kind (`scw-interlink`, `partner`, `vpc-router`) and are suffixed when there are
several (`scw-interlink-<link index>`, `partner-<partner>`, `vpc-router-<vpc index>`,
`customer-router-<customer>`, `vpc-instance-<vpc index>-<pn position>`).

Everything that a running lab could get more of (links, VPCs) is keyed by a stable `index`
rather than by position, so that adding one keeps the interface names and addresses of the
others: `netns.sync` can then add it without touching their traffic. Every node also has a
`key` (its identity independent of the naming form) so that `sync` can rename a namespace when
a name gains its suffix (`scw-interlink` -> `scw-interlink-1`) instead of rebuilding it.
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
DEFAULT_CUSTOMER = "customer"
DEFAULT_PARTNER = "partner"

# The machine's own eth0 lives in these: a lab address there could shadow the host's network.
FORBIDDEN_PREFIXES = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("fd00::/64"),
)

# Transit /31 and /127 between each scw-interlink router and its VPC router (lab internals,
# not part of the scenario): link index n uses the n-th pair.
TRANSIT_V4 = ipaddress.IPv4Network("198.18.0.0/24")
TRANSIT_V6 = ipaddress.IPv6Network("2001:db8:ffff::/64")
MAX_LINK_INDEX = TRANSIT_V4.num_addresses // 2  # 128 /31s in the transit /24
MAX_VPC_INDEX = 999

# Routers take <subnet>.1 / ::1; the on-prem host and VPC instances .10 / ::10 (0x10 in v6, so
# that both read "10").
ROUTER_OFFSET = 1
HOST_OFFSET = 10
HOST_OFFSET_V6 = 0x10

# TCP MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN).
MD5_MAX = 80

ROLES = ("onprem-host", "customer-router", "partner", "scw-interlink", "vpc-router",
         "vpc-instance")
_FORWARDING_ROLES = ("customer-router", "scw-interlink", "vpc-router")
TOP_LEVEL_KEYS = ("name", "description", "timers", "customer", "customers", "vpcs",
                  "routing_policies", "links", "steps", "checks", "waits", "ready")


def _host_offset(version: int) -> int:
    return HOST_OFFSET if version == 4 else HOST_OFFSET_V6


_LAB_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_COMMUNITY_RE = re.compile(r"^(\d{1,5}):(\d{1,5})$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ScenarioError(ValueError):
    """The scenario file is missing, malformed or inconsistent."""


# --------------------------------------------------------------------------- scenario model


@dataclass(frozen=True)
class AnnounceSpec:
    prefix: str
    communities: tuple[str, ...] = ()
    link: str | None = None  # only on this link of the customer; None: on all its links


@dataclass(frozen=True)
class CustomerSpec:
    name: str
    asn: int
    router: str  # "exabgp" | "frr" | "bird"
    lan_v4: str | None
    lan_v6: str | None
    announce: tuple[AnnounceSpec, ...]
    md5_password: str | None = None  # may differ from the link's to simulate a mismatch

    @property
    def announce_prefixes(self) -> tuple[str, ...]:
        return tuple(a.prefix for a in self.announce)


@dataclass(frozen=True)
class PrivateNetworkSpec:
    name: str
    subnets: tuple[str, ...]


@dataclass(frozen=True)
class VpcSpec:
    name: str
    private_networks: tuple[PrivateNetworkSpec, ...]
    index: int = 1

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
    customer: str = DEFAULT_CUSTOMER
    index: int = 1  # stable: drives node names, partner port and transit addresses
    partner: str = DEFAULT_PARTNER  # links naming the same partner share its switch node
    pop: str | None = None
    md5_password: str | None = None  # Scaleway side


@dataclass(frozen=True)
class Scenario:
    name: str
    hold_time: int
    customers: tuple[CustomerSpec, ...]
    vpcs: tuple[VpcSpec, ...]
    routing_policies: tuple[RoutingPolicySpec, ...]
    links: tuple[LinkSpec, ...]
    description: str = ""
    # Passed through raw: the scenario runner owns their schema.
    steps: tuple[Any, ...] = ()
    checks: tuple[Any, ...] = ()
    waits: dict[str, float] = field(default_factory=dict)
    # False: `up` returns once the controller API answers (sessions may be meant to stay down).
    ready: bool = True

    @property
    def customer(self) -> CustomerSpec:
        """The first customer (single-customer scenarios and older callers)."""
        return self.customers[0]

    def customer_by_name(self, name: str) -> CustomerSpec:
        for c in self.customers:
            if c.name == name:
                return c
        raise KeyError(name)

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

    def link(self, name: str) -> LinkSpec:
        for lk in self.links:
            if lk.name == name:
                return lk
        raise KeyError(name)

    @property
    def partners(self) -> tuple[str, ...]:
        """Partner names in order of first use."""
        return tuple(dict.fromkeys(lk.partner for lk in self.links))

    def next_link_index(self) -> int:
        return max((lk.index for lk in self.links), default=0) + 1

    def next_vpc_index(self) -> int:
        return max((v.index for v in self.vpcs), default=0) + 1


# --------------------------------------------------------------------------- topology model


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # one of ROLES
    netns: str
    forwarding: bool
    # Identity independent of the naming form ("scw-interlink:1", "customer-router:acme"):
    # the same key in two topologies is the same namespace, possibly renamed.
    key: str = ""


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
    vpc_router_netns: str | None  # None: the link has no VPC (and no transit)
    # Peering addresses, bare ("169.254.0.16") and with prefix length ("169.254.0.16/31").
    scw_v4: str | None
    peer_v4: str | None
    scw_v4_cidr: str | None
    peer_v4_cidr: str | None
    scw_v6: str | None
    peer_v6: str | None
    scw_v6_cidr: str | None
    peer_v6_cidr: str | None
    # scw-interlink's transit address toward its VPC router: the next hop of VPC routes.
    scw_transit_v4: str | None
    scw_transit_v6: str | None
    vpc_router_transit_v4: str | None
    vpc_router_transit_v6: str | None
    customer: str = DEFAULT_CUSTOMER
    index: int = 1
    partner_netns: str = ""
    partner: str = DEFAULT_PARTNER
    pop: str | None = None
    md5_password: str | None = None  # Scaleway side
    customer_node: str = "customer-router"
    vpc_router_node: str | None = None


@dataclass(frozen=True)
class CustomerSession:
    """One BGP session as the customer router sees it."""

    link: str
    family: str  # "ipv4" | "ipv6"
    local_address: str  # the customer's (odd) peering address
    peer_address: str  # Scaleway's


@dataclass(frozen=True)
class CustomerWiring:
    name: str
    router: str  # "exabgp" | "frr" | "bird"
    asn: int
    netns: str  # the customer router's namespace
    lan_host_netns: str
    lan_v4: str | None
    lan_v6: str | None
    announce: tuple[AnnounceSpec, ...]
    md5_password: str | None
    sessions: tuple[CustomerSession, ...]
    node: str = "customer-router"
    lan_host: str = "onprem-host"


@dataclass(frozen=True)
class InstanceWiring:
    private_network: str
    node: str
    netns: str
    subnets: tuple[str, ...]
    addresses: tuple[str, ...]  # bare instance addresses, one per subnet


@dataclass(frozen=True)
class VpcWiring:
    name: str
    index: int
    router_node: str
    router_netns: str
    subnets: tuple[str, ...]
    instances: tuple[InstanceWiring, ...]


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
    customers: tuple[CustomerWiring, ...] = field(default=())
    vpcs: tuple[VpcWiring, ...] = field(default=())

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

    def customer(self, name: str) -> CustomerWiring:
        for c in self.customers:
            if c.name == name:
                return c
        raise KeyError(name)

    def vpc(self, name: str) -> VpcWiring:
        for v in self.vpcs:
            if v.name == name:
                return v
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


def leading_comment(text: str) -> str:
    """The comment block at the top of a YAML file, without the `#` marks."""
    lines: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("#"):
            break
        lines.append(s[1:].strip())
    return "\n".join(lines).strip()


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
    return parse_scenario(data, source=str(path), default_description=leading_comment(text))


def parse_scenario(data: Any, source: str = "<scenario>", *,
                   default_description: str = "") -> Scenario:
    """Validate a scenario mapping (as loaded from YAML). Raises ScenarioError.
    `default_description` is used when there is no `description:` key (load_scenario passes
    the file's leading comment)."""
    return _Parser(source).scenario(data, default_description)


def _announce_to_data(a: AnnounceSpec) -> Any:
    if not a.communities and a.link is None:
        return a.prefix
    out: dict[str, Any] = {"prefix": a.prefix}
    if a.communities:
        out["communities"] = list(a.communities)
    if a.link is not None:
        out["link"] = a.link
    return out


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """The canonical mapping of a scenario: `parse_scenario(scenario_to_dict(s)) == s`.
    Indexes, customers and partners are always explicit, so that the file means the same
    thing whatever the order of its entries."""
    def lan(v4: str | None, v6: str | None) -> dict[str, str]:
        return {k: v for k, v in (("ipv4", v4), ("ipv6", v6)) if v}

    out: dict[str, Any] = {"name": s.name}
    if s.description:
        out["description"] = s.description
    out["timers"] = {"hold_time": s.hold_time}
    out["customers"] = []
    for c in s.customers:
        cd: dict[str, Any] = {"name": c.name, "asn": c.asn, "router": c.router,
                              "lan": lan(c.lan_v4, c.lan_v6),
                              "announce": [_announce_to_data(a) for a in c.announce]}
        if c.md5_password is not None:
            cd["md5_password"] = c.md5_password
        out["customers"].append(cd)
    out["vpcs"] = [{"name": v.name, "index": v.index,
                    "private_networks": [{"name": pn.name, "subnets": list(pn.subnets)}
                                         for pn in v.private_networks]} for v in s.vpcs]
    out["routing_policies"] = [{"name": p.name, "is_ipv6": p.is_ipv6,
                                "prefix_filter_in": list(p.prefix_filter_in),
                                "prefix_filter_out": list(p.prefix_filter_out)}
                               for p in s.routing_policies]
    links = []
    for lk in s.links:
        ld: dict[str, Any] = {"name": lk.name, "index": lk.index, "customer": lk.customer,
                              "partner": lk.partner, "vlan": lk.vlan,
                              "bandwidth_mbps": lk.bandwidth_mbps,
                              "peering": lan(lk.peering_v4, lk.peering_v6), "vpc": lk.vpc,
                              "routing_policies": list(lk.routing_policies),
                              "enable_route_propagation": lk.enable_route_propagation}
        if lk.pop is not None:
            ld["pop"] = lk.pop
        if lk.md5_password is not None:
            ld["md5_password"] = lk.md5_password
        links.append(ld)
    out["links"] = links
    if s.steps:
        out["steps"] = list(s.steps)
    if s.checks:
        out["checks"] = list(s.checks)
    if s.waits:
        out["waits"] = dict(s.waits)
    if not s.ready:
        out["ready"] = False
    return out


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

    def known_keys(self, d: Mapping[str, Any], where: str, keys: Iterable[str]) -> None:
        unknown = set(d) - set(keys)
        if unknown:
            raise self.err(where, f"unknown keys {sorted(map(str, unknown))}")

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

    def password(self, v: Any, where: str) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or not v or len(v.encode()) > MD5_MAX:
            raise self.err(where, f"expected a non-empty string of at most {MD5_MAX} bytes")
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

    def community(self, v: Any, where: str) -> str:
        m = _COMMUNITY_RE.match(v) if isinstance(v, str) else None
        if m is None or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
            raise self.err(where, f"bad community {v!r}: expected ASN:VALUE, both 0..65535 "
                                  "(e.g. '12876:42200')")
        return f"{int(m.group(1))}:{int(m.group(2))}"

    def unique(self, items: list[Any], where: str, what: str) -> None:
        seen: set[Any] = set()
        for it in items:
            if it in seen:
                raise self.err(where, f"duplicate {what} {it!r}")
            seen.add(it)

    # -- sections

    def scenario(self, data: Any, default_description: str) -> Scenario:
        d = self.mapping(data, "top level")
        self.known_keys(d, "top level", TOP_LEVEL_KEYS)
        name = self.name(d.get("name"), "name")
        description = d.get("description", default_description)
        if not isinstance(description, str):
            raise self.err("description", f"expected a string, got {description!r}")
        timers = self.mapping(d.get("timers") or {}, "timers")
        self.known_keys(timers, "timers", ("hold_time",))
        hold = self.integer(timers.get("hold_time", DEFAULT_HOLD_TIME), "timers.hold_time", 0,
                            65535)
        if 0 < hold < 3:
            raise self.err("timers.hold_time", "must be 0 or at least 3 seconds (RFC 4271)")
        customers = self.customers(d)
        vpcs = tuple(self.vpc(v, f"vpcs[{i}]", i + 1)
                     for i, v in enumerate(self.seq(d.get("vpcs"), "vpcs")))
        policies = tuple(self.policy(v, f"routing_policies[{i}]")
                         for i, v in enumerate(self.seq(d.get("routing_policies"),
                                                        "routing_policies")))
        cust_names = [c.name for c in customers]
        links = tuple(self.link(v, f"links[{i}]", i + 1, cust_names)
                      for i, v in enumerate(self.seq(d.get("links"), "links")))
        self.unique([v.name for v in vpcs], "vpcs", "VPC name")
        self.unique([v.index for v in vpcs], "vpcs", "VPC index")
        self.unique([p.name for p in policies], "routing_policies", "routing policy name")
        self.unique([lk.name for lk in links], "links", "link name")
        self.unique([lk.index for lk in links], "links", "link index")
        # One VLAN per partner switch: the same VID on two ports of a switch would bridge them.
        for partner in dict.fromkeys(lk.partner for lk in links):
            where = "links" if partner == DEFAULT_PARTNER else f"links (partner {partner!r})"
            self.unique([lk.vlan for lk in links if lk.partner == partner], where, "VLAN")
        # Two links of one customer with the same peering would clash on its router.
        for c in cust_names:
            for attr in ("peering_v4", "peering_v6"):
                self.unique([getattr(lk, attr) for lk in links
                             if lk.customer == c and getattr(lk, attr)],
                            f"links (customer {c!r})", "peering")
        self.unique([pn.name for v in vpcs for pn in v.private_networks], "vpcs",
                    "private network name")
        self.no_overlap(vpcs, customers)
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
        self.announce_links(d, customers, links)
        steps = tuple(self.seq(d.get("steps"), "steps"))
        checks = tuple(self.seq(d.get("checks"), "checks"))
        waits: dict[str, float] = {}
        for k, v in self.mapping(d.get("waits") or {}, "waits").items():
            if not isinstance(k, str) or not k:
                raise self.err("waits", f"wait names must be strings, got {k!r}")
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise self.err(f"waits.{k}", f"expected a number of seconds >= 0, got {v!r}")
            waits[k] = float(v)
        ready = self.boolean(d.get("ready", True), "ready")
        return Scenario(name=name, hold_time=hold, customers=customers, vpcs=vpcs,
                        routing_policies=policies, links=links, description=description,
                        steps=steps, checks=checks, waits=waits, ready=ready)

    def announce_links(self, d: Mapping[str, Any], customers: tuple[CustomerSpec, ...],
                       links: tuple[LinkSpec, ...]) -> None:
        # Checked here, not in announce(): customers are parsed before the links.
        base = "customers" if "customers" in d else "customer"
        for ci, c in enumerate(customers):
            own = [lk.name for lk in links if lk.customer == c.name]
            for ai, a in enumerate(c.announce):
                if a.link is not None and a.link not in own:
                    where = (f"{base}[{ci}]" if base == "customers" else base) + \
                        f".announce[{ai}].link"
                    raise self.err(where, f"{a.link!r} is not a link of customer {c.name!r} "
                                          f"(its links: {', '.join(own) or 'none'})")

    def customers(self, d: Mapping[str, Any]) -> tuple[CustomerSpec, ...]:
        if "customer" in d and "customers" in d:
            raise self.err("top level", "give either `customer:` (one) or `customers:` (a "
                                        "list), not both")
        if "customers" in d:
            items = self.seq(d["customers"], "customers")
            out = tuple(self.customer(c, f"customers[{i}]") for i, c in enumerate(items))
        else:
            out = (self.customer(d.get("customer"), "customer"),)
        if not out:
            raise self.err("customers", "needs at least one customer")
        self.unique([c.name for c in out], "customers", "customer name")
        return out

    def no_overlap(self, vpcs: tuple[VpcSpec, ...],
                   customers: tuple[CustomerSpec, ...]) -> None:
        # Strict: the lab routes everything by destination, so overlapping LANs of two tenants
        # would make probes and checks ambiguous even where the kernel could cope.
        nets: list[tuple[str, IPNetwork]] = [("lab transit", TRANSIT_V4),
                                             ("lab transit", TRANSIT_V6)]
        for c in customers:
            label = "customer.lan" if len(customers) == 1 else f"customer {c.name} lan"
            for lan in (c.lan_v4, c.lan_v6):
                if lan:
                    nets.append((label, ipaddress.ip_network(lan)))
        for v in vpcs:
            for s in v.subnets:
                nets.append((f"vpc {v.name}", ipaddress.ip_network(s)))
        for i, (wa, a) in enumerate(nets):
            for wb, b in nets[i + 1:]:
                if a.version == b.version and a.overlaps(b):
                    raise self.err("vpcs" if wb.startswith("vpc") else "customers",
                                   f"{a} ({wa}) overlaps {b} ({wb})")

    def announce(self, v: Any, where: str) -> AnnounceSpec:
        if isinstance(v, str):
            return AnnounceSpec(str(self.prefix(v, where)), ())
        d = self.mapping(v, where)
        self.known_keys(d, where, ("prefix", "community", "communities", "link"))
        if "community" in d and "communities" in d:
            raise self.err(where, "give `community` or `communities`, not both")
        raw = [d["community"]] if "community" in d else self.seq(d.get("communities"),
                                                                  f"{where}.communities")
        comms = tuple(self.community(c, f"{where}.communities[{i}]") for i, c in enumerate(raw))
        link = None if d.get("link") is None else self.name(d["link"], f"{where}.link")
        return AnnounceSpec(str(self.prefix(d.get("prefix"), f"{where}.prefix")), comms, link)

    def customer(self, v: Any, where: str) -> CustomerSpec:
        c = self.mapping(v, where)
        self.known_keys(c, where, ("name", "asn", "router", "lan", "announce", "md5_password"))
        name = self.name(c.get("name", DEFAULT_CUSTOMER), f"{where}.name")
        asn = self.integer(c.get("asn"), f"{where}.asn", 1, 4294967295)
        if asn == 12876:
            raise self.err(f"{where}.asn", "12876 is Scaleway's ASN")
        router = c.get("router", "exabgp")
        if router not in ("exabgp", "frr", "bird"):
            raise self.err(f"{where}.router", f"{router!r}: expected exabgp, frr or bird")
        lan = self.mapping(c.get("lan"), f"{where}.lan")
        self.known_keys(lan, f"{where}.lan", ("ipv4", "ipv6"))
        v4 = self.prefix(lan["ipv4"], f"{where}.lan.ipv4", 4) if lan.get("ipv4") else None
        v6 = self.prefix(lan["ipv6"], f"{where}.lan.ipv6", 6) if lan.get("ipv6") else None
        if v4 is None and v6 is None:
            raise self.err(f"{where}.lan", "needs ipv4 and/or ipv6")
        for net, w in ((v4, f"{where}.lan.ipv4"), (v6, f"{where}.lan.ipv6")):
            if net is not None:
                self.hostable(net, w)
        announce = tuple(self.announce(p, f"{where}.announce[{i}]")
                         for i, p in enumerate(self.seq(c.get("announce"), f"{where}.announce")))
        return CustomerSpec(name=name, asn=asn, router=router, lan_v4=str(v4) if v4 else None,
                            lan_v6=str(v6) if v6 else None, announce=announce,
                            md5_password=self.password(c.get("md5_password"),
                                                       f"{where}.md5_password"))

    def hostable(self, net: IPNetwork, where: str) -> None:
        if net.num_addresses < _host_offset(net.version) + 2:
            raise self.err(where, f"{net} is too small: the lab uses .{ROUTER_OFFSET} for the "
                                  f"router and .{HOST_OFFSET} for the host")

    def vpc(self, v: Any, where: str, position: int) -> VpcSpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "index", "private_networks"))
        name = self.name(d.get("name"), f"{where}.name")
        index = self.integer(d.get("index", position), f"{where}.index", 1, MAX_VPC_INDEX)
        pns = []
        for i, pn in enumerate(self.seq(d.get("private_networks"), f"{where}.private_networks")):
            w = f"{where}.private_networks[{i}]"
            pd = self.mapping(pn, w)
            self.known_keys(pd, w, ("name", "subnets"))
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
        return VpcSpec(name=name, private_networks=tuple(pns), index=index)

    def policy(self, v: Any, where: str) -> RoutingPolicySpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "is_ipv6", "prefix_filter_in", "prefix_filter_out"))
        name = self.name(d.get("name"), f"{where}.name")
        is_v6 = self.boolean(d.get("is_ipv6", False), f"{where}.is_ipv6")
        fam = 6 if is_v6 else 4
        lists = {}
        for key in ("prefix_filter_in", "prefix_filter_out"):
            lists[key] = tuple(str(self.prefix(p, f"{where}.{key}[{i}]", fam))
                               for i, p in enumerate(self.seq(d.get(key), f"{where}.{key}")))
        return RoutingPolicySpec(name=name, is_ipv6=is_v6, **lists)

    def link(self, v: Any, where: str, position: int, customers: list[str]) -> LinkSpec:
        d = self.mapping(v, where)
        self.known_keys(d, where, ("name", "index", "customer", "partner", "pop", "vlan",
                                   "bandwidth_mbps", "peering", "vpc", "routing_policies",
                                   "enable_route_propagation", "md5_password"))
        name = self.name(d.get("name"), f"{where}.name")
        index = self.integer(d.get("index", position), f"{where}.index", 1, MAX_LINK_INDEX)
        if "customer" in d:
            customer = self.name(d["customer"], f"{where}.customer")
            if customer not in customers:
                raise self.err(f"{where}.customer", f"unknown customer {customer!r} "
                                                    f"(known: {sorted(customers)})")
        elif len(customers) == 1:
            customer = customers[0]
        else:
            raise self.err(where, f"customer: ambiguous, the scenario has several customers "
                                  f"({', '.join(customers)}); name one")
        partner = self.name(d.get("partner", DEFAULT_PARTNER), f"{where}.partner")
        pop = self.name(d["pop"], f"{where}.pop") if d.get("pop") is not None else None
        vlan = self.integer(d.get("vlan"), f"{where}.vlan", VLAN_MIN, VLAN_MAX)
        bw = self.integer(d.get("bandwidth_mbps", 1000), f"{where}.bandwidth_mbps", 1, 400_000)
        peering = self.mapping(d.get("peering"), f"{where}.peering")
        self.known_keys(peering, f"{where}.peering", ("ipv4", "ipv6"))
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
                        vpc=vpc, routing_policies=refs, enable_route_propagation=prop,
                        customer=customer, index=index, partner=partner, pop=pop,
                        md5_password=self.password(d.get("md5_password"),
                                                   f"{where}.md5_password"))

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


def transit_networks(index: int) -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    """The transit /31 and /127 of link `index` (1 -> 198.18.0.0/31, 2001:db8:ffff::/127)."""
    t4 = ipaddress.IPv4Network((int(TRANSIT_V4.network_address) + 2 * (index - 1), 31))
    t6 = ipaddress.IPv6Network((int(TRANSIT_V6.network_address) + 2 * (index - 1), 127))
    return t4, t6


@dataclass(frozen=True)
class _Names:
    """Node naming: short when there is one of a kind, suffixed when there are several."""

    multi_customer: bool
    multi_link: bool
    multi_partner: bool
    multi_vpc: bool
    multi_instance: bool

    def customer_router(self, c: str) -> str:
        return f"customer-router-{c}" if self.multi_customer else "customer-router"

    def onprem_host(self, c: str) -> str:
        return f"onprem-host-{c}" if self.multi_customer else "onprem-host"

    def partner(self, p: str) -> str:
        return f"partner-{p}" if self.multi_partner else "partner"

    def scw(self, index: int) -> str:
        return f"scw-interlink-{index}" if self.multi_link else "scw-interlink"

    def vpc_router(self, index: int) -> str:
        return f"vpc-router-{index}" if self.multi_vpc else "vpc-router"

    def instance(self, vpc_index: int, pn_position: int) -> str:
        return (f"vpc-instance-{vpc_index}-{pn_position}" if self.multi_instance
                else "vpc-instance")


def build_topology(scenario: Scenario, lab: str = "ilab") -> Topology:
    if not _LAB_RE.match(lab):
        raise ScenarioError(f"invalid lab name {lab!r}: 1-12 lowercase letters/digits, "
                            "starting with a letter")
    names = _Names(
        multi_customer=len(scenario.customers) > 1,
        multi_link=len(scenario.links) > 1,
        multi_partner=len(scenario.partners) > 1,
        multi_vpc=len(scenario.vpcs) > 1,
        multi_instance=len(scenario.vpcs) > 1
        or sum(len(v.private_networks) for v in scenario.vpcs) > 1)

    def ns(node: str) -> str:
        return f"{lab}-{node}"

    nodes: list[Node] = []
    veths: list[VethPair] = []
    vlans: list[VlanInterface] = []
    addresses: list[Address] = []
    routes: list[Route] = []
    wirings: list[LinkWiring] = []

    def add_node(name: str, role: str, key: str) -> None:
        nodes.append(Node(name=name, role=role, netns=ns(name),
                          forwarding=role in _FORWARDING_ROLES, key=f"{role}:{key}"))

    def veth(a: str, a_if: str, b: str, b_if: str) -> None:
        veths.append(VethPair(Endpoint(a, ns(a), a_if), Endpoint(b, ns(b), b_if)))

    def addr(node: str, ifname: str, cidr: str) -> None:
        addresses.append(Address(node=node, netns=ns(node), ifname=ifname, cidr=cidr))

    def route(node: str, prefix: str, via: str) -> None:
        routes.append(Route(node=node, netns=ns(node), prefix=prefix, via=via))

    # Customers: an on-prem host behind each customer router.
    for c in scenario.customers:
        host, router = names.onprem_host(c.name), names.customer_router(c.name)
        add_node(host, "onprem-host", c.name)
        add_node(router, "customer-router", c.name)
        veth(host, "eth0", router, "lan0")
        for lan in (c.lan_v4, c.lan_v6):
            if lan:
                net = ipaddress.ip_network(lan)
                addr(host, "eth0", _cidr(net, _host_offset(net.version)))
                addr(router, "lan0", _cidr(net, ROUTER_OFFSET))
                route(host, _default(net.version), str(_nth(net, ROUTER_OFFSET)))

    for p in scenario.partners:
        add_node(names.partner(p), "partner", p)
    for lk in scenario.links:
        add_node(names.scw(lk.index), "scw-interlink", str(lk.index))
    for v in scenario.vpcs:
        add_node(names.vpc_router(v.index), "vpc-router", str(v.index))

    # Cross-connects: one trunk per (customer, partner) pair, il0, il1, ... in the order the
    # customer's links first use each partner; on the partner it is port cust<customer pos>.
    cust_pos = {c.name: i for i, c in enumerate(scenario.customers)}
    trunks: dict[tuple[str, str], str] = {}
    for lk in scenario.links:
        key = (lk.customer, lk.partner)
        if key not in trunks:
            k = sum(1 for (c, _) in trunks if c == lk.customer)
            trunks[key] = f"il{k}"
            veth(names.customer_router(lk.customer), trunks[key], names.partner(lk.partner),
                 f"cust{cust_pos[lk.customer]}")
    ports: dict[str, list[BridgePort]] = {p: [] for p in scenario.partners}
    for cname, pname in trunks:
        vids = tuple(lk.vlan for lk in scenario.links
                     if (lk.customer, lk.partner) == (cname, pname))
        ports[pname].append(BridgePort(f"cust{cust_pos[cname]}", vids))

    sessions: dict[str, list[CustomerSession]] = {c.name: [] for c in scenario.customers}
    for lk in scenario.links:
        scw, router = names.scw(lk.index), names.customer_router(lk.customer)
        partner = names.partner(lk.partner)
        port = f"scw{lk.index - 1}"
        veth(scw, "pe0", partner, port)
        ports[lk.partner].append(BridgePort(port, (lk.vlan,)))
        trunk = trunks[(lk.customer, lk.partner)]
        vlans.append(VlanInterface(node=router, netns=ns(router), parent=trunk, vid=lk.vlan))
        vlans.append(VlanInterface(node=scw, netns=ns(scw), parent="pe0", vid=lk.vlan))
        cust_if, scw_if = f"{trunk}.{lk.vlan}", f"pe0.{lk.vlan}"
        peer: dict[int, tuple[str, str, str, str]] = {}
        for peering in (lk.peering_v4, lk.peering_v6):
            if peering:
                net = ipaddress.ip_network(peering)
                scw_c, peer_c = _cidr(net, 0), _cidr(net, 1)
                addr(scw, scw_if, scw_c)
                addr(router, cust_if, peer_c)
                peer[net.version] = (str(_nth(net, 0)), str(_nth(net, 1)), scw_c, peer_c)
                sessions[lk.customer].append(CustomerSession(
                    link=lk.name, family=f"ipv{net.version}", local_address=str(_nth(net, 1)),
                    peer_address=str(_nth(net, 0))))

        # Transit to the VPC's router, addressed by link index (stable across additions).
        transit: tuple[str, str, str, str] | None = None
        vpc_router: str | None = None
        if lk.vpc is not None:
            vpc = scenario.vpc(lk.vpc)
            vpc_router = names.vpc_router(vpc.index)
            t4, t6 = transit_networks(lk.index)
            vr_if = f"il{lk.index - 1}"
            veth(scw, "vpc0", vpc_router, vr_if)
            for t in (t4, t6):
                addr(scw, "vpc0", _cidr(t, 0))
                addr(vpc_router, vr_if, _cidr(t, 1))
            for s in vpc.subnets:
                net = ipaddress.ip_network(s)
                route(scw, s, str(_nth(t4 if net.version == 4 else t6, 1)))
            transit = (str(_nth(t4, 0)), str(_nth(t6, 0)), str(_nth(t4, 1)), str(_nth(t6, 1)))

        n4, n6 = peer.get(4), peer.get(6)
        wirings.append(LinkWiring(
            name=lk.name, vlan=lk.vlan, vpc=lk.vpc,
            vpc_subnets=scenario.vpc(lk.vpc).subnets if lk.vpc else (),
            scw_node=scw, scw_netns=ns(scw), scw_ifname=scw_if,
            customer_netns=ns(router), customer_ifname=cust_if,
            vpc_router_netns=ns(vpc_router) if vpc_router else None,
            scw_v4=n4[0] if n4 else None, peer_v4=n4[1] if n4 else None,
            scw_v4_cidr=n4[2] if n4 else None, peer_v4_cidr=n4[3] if n4 else None,
            scw_v6=n6[0] if n6 else None, peer_v6=n6[1] if n6 else None,
            scw_v6_cidr=n6[2] if n6 else None, peer_v6_cidr=n6[3] if n6 else None,
            scw_transit_v4=transit[0] if transit else None,
            scw_transit_v6=transit[1] if transit else None,
            vpc_router_transit_v4=transit[2] if transit else None,
            vpc_router_transit_v6=transit[3] if transit else None,
            customer=lk.customer, index=lk.index, partner_netns=ns(partner),
            partner=lk.partner, pop=lk.pop, md5_password=lk.md5_password,
            customer_node=router, vpc_router_node=vpc_router,
        ))

    # VPC side: one vpc-router interface and one instance per private network.
    vpc_wirings: list[VpcWiring] = []
    for v in scenario.vpcs:
        vr = names.vpc_router(v.index)
        instances: list[InstanceWiring] = []
        for i, pn in enumerate(v.private_networks):
            inst = names.instance(v.index, i + 1)
            add_node(inst, "vpc-instance", f"{v.index}:{pn.name}")
            pn_if = f"pn{i}"
            veth(vr, pn_if, inst, "eth0")
            inst_addrs = []
            for s in pn.subnets:
                net = ipaddress.ip_network(s)
                addr(vr, pn_if, _cidr(net, ROUTER_OFFSET))
                addr(inst, "eth0", _cidr(net, _host_offset(net.version)))
                route(inst, _default(net.version), str(_nth(net, ROUTER_OFFSET)))
                inst_addrs.append(str(_nth(net, _host_offset(net.version))))
            instances.append(InstanceWiring(private_network=pn.name, node=inst, netns=ns(inst),
                                            subnets=pn.subnets, addresses=tuple(inst_addrs)))
        vpc_wirings.append(VpcWiring(name=v.name, index=v.index, router_node=vr,
                                     router_netns=ns(vr), subnets=v.subnets,
                                     instances=tuple(instances)))

    bridges = tuple(Bridge(node=names.partner(p), netns=ns(names.partner(p)), ifname="br0",
                           ports=tuple(ports[p])) for p in scenario.partners)
    customers = tuple(CustomerWiring(
        name=c.name, router=c.router, asn=c.asn, netns=ns(names.customer_router(c.name)),
        lan_host_netns=ns(names.onprem_host(c.name)), lan_v4=c.lan_v4, lan_v6=c.lan_v6,
        announce=c.announce, md5_password=c.md5_password, sessions=tuple(sessions[c.name]),
        node=names.customer_router(c.name), lan_host=names.onprem_host(c.name),
    ) for c in scenario.customers)
    return Topology(lab=lab, scenario=scenario.name, nodes=tuple(nodes), veths=tuple(veths),
                    vlans=tuple(vlans), bridges=bridges, addresses=tuple(addresses),
                    routes=tuple(routes), links=tuple(wirings),
                    lan_hosts=tuple(c.lan_host for c in customers), customers=customers,
                    vpcs=tuple(vpc_wirings))


def netns_of(lab: str, nodes: Iterable[str]) -> list[str]:
    return [f"{lab}-{n}" for n in nodes]
