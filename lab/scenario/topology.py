"""Topology: everything the lab builds (nodes, veths, VLANs, bridges, addresses, routes, per-link
and per-customer wiring), as frozen dataclasses (pure).

Naming and addressing follow docs/DESIGN.md. The model is general (N customers, N links, N
partners, N VPCs with N private networks); node names keep the short default form when there
is one of a kind (`scw-interlink`, `partner`, `vpc-router`) and are suffixed when there are
several (`scw-interlink-<link index>`, `partner-<partner>`, `vpc-router-<vpc index>`,
`customer-router-<customer>`, `vpc-instance-<vpc index>-<pn position>`).

Everything that a running lab could get more of (links, VPCs) is keyed by a stable `index`
rather than by position, so that adding one keeps the interface names and addresses of the
others: `dataplane.sync` can then add it without touching their traffic. Every node also has a
`key` (its identity independent of the naming form); a running lab keeps `node_names` (key ->
name) and builds the grown topology with them, so a name once given never changes: the one
`scw-interlink` stays so when `scw-interlink-2` joins it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from lab.scenario.impairment import Impairment
from lab.scenario.model import DEFAULT_CUSTOMER, DEFAULT_PARTNER, AnnounceSpec


@dataclass(frozen=True)
class Node:
    name: str
    role: str  # one of ROLES
    netns: str
    forwarding: bool
    # Identity independent of the naming form ("scw-interlink:1", "customer-router:acme"):
    # the same key in two topologies is the same node, under the same name.
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
    bandwidth_mbps: int = 0  # enforced both ways (lab.dataplane.shaping); 0: not shaped
    # Applied when the lab first starts (a scenario link's `impairments:`).
    impairment: Impairment | None = None
    impair_direction: str = "both"
    port: str | None = None  # the shared port whose capacity caps its links together
    port_mbps: int = 0


@dataclass(frozen=True)
class CustomerSession:
    """One BGP session as the customer router sees it."""

    link: str
    family: str  # "ipv4" | "ipv6"
    local_address: str  # the customer's (odd) peering address
    peer_address: str  # Scaleway's
    vlan: int = 0  # the link's VLAN
    ifname: str = ""  # the customer's VLAN sub-interface ("il0.2451")


@dataclass(frozen=True)
class CustomerWiring:
    name: str
    router: str  # a kind of lab.routers.registry
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
    config: str | None = None  # the user's router configuration template (absolute path)
    image: str | None = None  # the customer router's container image (docker runtime)


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
    runtime: str = "netns"  # the node runtime (lab.dataplane.nodes) the handles are of
    # Container runtimes: node name -> its own image (a customer's `image`); others get
    # `image`, or the lab's own image when that is None.
    images: tuple[tuple[str, str], ...] = field(default=())
    image: str | None = None

    @property
    def netns_names(self) -> tuple[str, ...]:
        return tuple(n.netns for n in self.nodes)

    @property
    def node_names(self) -> dict[str, str]:
        """Node key -> name: what ``build_topology(..., given=)`` keeps when the lab changes."""
        return {n.key: n.name for n in self.nodes}

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
