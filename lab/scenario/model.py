"""The scenario model: what a lab is made of (customers, VPCs, policies, links, timers),
as frozen dataclasses, and the addressing rules every scenario obeys (pure)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.scenario.impairment import Impairment

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"

VLAN_MIN, VLAN_MAX = 1500, 3899
DEFAULT_HOLD_TIME = 9
# BGP hold time (RFC 4271 4.2): 0 (no keepalives, the session never times out) or 3..65535
# seconds. What every speaker accepts (ExaBGP, FRR, BIRD); the parser, the schema and
# `up --hold-time` all use this one rule.
HOLD_TIME_MAX = 65535
HOLD_TIME_RULE = "must be 0 (no keepalives) or 3..65535 seconds"


def valid_hold_time(seconds: int) -> bool:
    return seconds == 0 or 3 <= seconds <= HOLD_TIME_MAX
DEFAULT_CUSTOMER = "customer"
DEFAULT_ROUTER = "exabgp"  # a customer's router kind when the file names none (lab.routers)
DEFAULT_PARTNER = "partner"

# The machine's own eth0 lives in these: a lab address there could shadow the host's network.
FORBIDDEN_PREFIXES = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("fd00::/64"),
)


def host_conflict(net: ipaddress.IPv4Network | ipaddress.IPv6Network, *, routed: bool
                  ) -> str | None:
    """Why ``net`` may not be used in a scenario, or None. Address space (LANs, subnets,
    peering) may not overlap the host's networks at all; a prefix that is only routed
    (announced, filtered) may be a supernet of them (0.0.0.0/0 is a fine announcement) but
    not inside them. One rule for `validate`, `up` and announce steps."""
    for bad in FORBIDDEN_PREFIXES:
        if net.version != bad.version:
            continue
        if net.subnet_of(bad) or (not routed and net.overlaps(bad)):  # type: ignore[arg-type]
            return f"{net} overlaps {bad}, reserved for the host's own network"
    return None

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

ROLES = ("onprem-host", "customer-router", "partner", "scw-interlink", "vpc-router",
         "vpc-instance")
FORWARDING_ROLES = ("customer-router", "scw-interlink", "vpc-router")
TOP_LEVEL_KEYS = ("name", "description", "runtime", "image", "timers", "customer", "customers",
                  "vpcs", "routing_policies", "links", "steps", "checks", "waits", "ready")


def host_offset(version: int) -> int:
    return HOST_OFFSET if version == 4 else HOST_OFFSET_V6


LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")

# Node runtimes (lab.dataplane.nodes) and how each names a lab's node: the handle is the name
# of the node's network namespace under /run/netns. Containers follow containerlab's naming,
# so its tools and habits (`ip netns exec clab-<lab>-<node>`) work on them.
RUNTIME_NAMES = ("netns", "docker", "containerlab")
DEFAULT_RUNTIME = "netns"
_HANDLE_FORMATS = {"netns": "{lab}-{node}", "docker": "clab-{lab}-{node}",
                   "containerlab": "clab-{lab}-{node}"}


def node_handle(runtime: str, lab: str, node: str) -> str:
    return _HANDLE_FORMATS[runtime].format(lab=lab, node=node)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
COMMUNITY_RE = re.compile(r"^(\d{1,5}):(\d{1,5})$")

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
    router: str  # a kind of lab.routers.registry
    lan_v4: str | None
    lan_v6: str | None
    announce: tuple[AnnounceSpec, ...]
    md5_password: str | None = None  # may differ from the link's to simulate a mismatch
    # The user's own router configuration (a Jinja2 template, lab.routers.template): an
    # absolute path once parsed (a relative one is read from the scenario file's folder).
    # None: the lab generates the router's configuration.
    config: str | None = None
    # A container image for the customer router (the docker runtime); carried as written.
    image: str | None = None

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
    impairment: Impairment | None = None  # `impairments:`, applied when the lab first starts
    impair_direction: str = "both"
    # The port (a partner's or a dedicated connection) whose capacity the links naming it
    # share, both ways (lab.dataplane.shaping); None / 0: the link is shaped on its own.
    port: str | None = None
    port_mbps: int = 0


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
    runtime: str = DEFAULT_RUNTIME  # what the nodes are: one of RUNTIME_NAMES (`up --runtime` wins)
    image: str | None = None  # the container image of every node (None: the lab's own)

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
