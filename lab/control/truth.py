"""What is on the wire right now, read from the nodes' sockets and kernel tables.

The oracle of the chaos test and of anyone who wants to check the lab's word: a BGP session
counts as up when its TCP connection (port 179, between the link's two peering addresses)
is ESTABLISHED in **both** the Scaleway node and the customer node; the VPC table is the
kernel's. Nothing here asks the controller for state: the API is read only for
configuration (addresses, policies, propagation), which is what the state is compared with.

``compare`` turns one reading of the controller (its links) and one reading of the wire into
a list of disagreements; ``snapshot`` takes both (controller, wire, controller again: a
reading is only trusted when the controller said the same thing before and after it).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lab.control.client import ApiError, Client
from lab.dataplane import iproute
from lab.dataplane.nodes import runtime_for

REGION = "/interlink/v1beta1/regions/fr-par"
FAMILIES = ("ipv4", "ipv6")
BGP_PORT = 179

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _host(address: str) -> str:
    return str(ipaddress.ip_interface(address).ip)


def _endpoint(text: str) -> tuple[str, int]:
    """``ss`` endpoints: ``169.254.0.16:179``, ``[2001:db8::1]:40371``, ``::ffff:a.b.c.d:p``."""
    host, _, port = text.rpartition(":")
    # a socket bound to an interface shows its scope outside the brackets:
    # `[2001:db8::1]%il0.2451:42945` (BIRD after a restart), `169.254.0.17%il0:179`
    host = host.split("%", 1)[0].strip("[]")
    addr = ipaddress.ip_address(host)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr), int(port)


def parse_ss(text: str) -> set[frozenset[str]]:
    """``ss -Htn state established`` -> the address pairs of BGP connections."""
    pairs = set()
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        try:
            (la, lp), (pa, pp) = _endpoint(cols[2]), _endpoint(cols[3])
        except ValueError:
            continue
        if BGP_PORT in (lp, pp):
            pairs.add(frozenset((la, pa)))
    return pairs


def established(netns: str) -> set[frozenset[str]]:
    """The BGP connections ESTABLISHED in ``netns`` (empty when it does not exist)."""
    nodes = runtime_for(netns)
    if not nodes.exists(netns):
        return set()
    p = nodes.run_tool(netns, ["ss", "-Htn", "state", "established"])
    return parse_ss(p.stdout)


@dataclass(frozen=True)
class LinkWire:
    """One link as the wire has it: the sessions whose TCP connection lives on both ends."""

    link_id: str
    sessions: Mapping[str, bool]


@dataclass
class Wire:
    links: dict[str, LinkWire] = field(default_factory=dict)
    vpc_routes: set[str] = field(default_factory=set)  # BGP prefixes of the VPC tables


@functools.lru_cache(maxsize=1 << 18)
def _covered(prefix: str, ranges: tuple[str, ...]) -> bool:
    # Cached: a poller compares the same announcements with the same filters many times a
    # second, and parsing 10k prefixes costs ~0.3 s, seconds under load.
    net = ipaddress.ip_network(prefix)
    for r in ranges:
        rng = ipaddress.ip_network(r)
        if rng.version == net.version and net.subnet_of(rng):  # type: ignore[arg-type]
            return True
    return False


class Lab:
    """The configuration a comparison needs, read from the lab's APIs (config only)."""

    def __init__(self, client: Client):
        self.client = client

    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self.client.get("/lab/v1/nodes")["nodes"]
        return nodes

    def links(self) -> list[dict[str, Any]]:
        links: list[dict[str, Any]] = self.client.get(f"{REGION}/links")["links"]
        return links

    def customer_sessions(self) -> dict[str, str] | None:
        """The customer router's sessions (peer address -> state); None with several
        customers (the lab API then wants one named)."""
        try:
            sessions = self.client.get("/lab/v1/customer/sessions").get("sessions")
        except ApiError:
            return None
        return {_host(k): str(v) for k, v in (sessions or {}).items()}

    def policies(self) -> dict[str, dict[str, Any]]:
        pols = self.client.get(f"{REGION}/routing-policies")["routing_policies"]
        return {p["id"]: p for p in pols}


def _netns_holding(nodes: Sequence[Mapping[str, Any]], address: str) -> str | None:
    host = _host(address)
    for n in nodes:
        if any(_host(a) == host for a in n.get("addresses", ())):
            return str(n["netns"])
    return None


def read_wire(nodes: Sequence[Mapping[str, Any]], links: Sequence[Mapping[str, Any]]) -> Wire:
    """Sessions from both ends' sockets; VPC routes from every vpc-router's kernel table."""
    wire = Wire()
    cache: dict[str, set[frozenset[str]]] = {}

    def conns(netns: str | None) -> set[frozenset[str]]:
        if netns is None:
            return set()
        if netns not in cache:
            cache[netns] = established(netns)
        return cache[netns]

    for lk in links:
        sessions = {}
        for fam in FAMILIES:
            scw, peer = lk["scw_bgp_config"].get(fam), lk["peer_bgp_config"].get(fam)
            if not scw or not peer:
                sessions[fam] = False
                continue
            pair = frozenset((_host(scw), _host(peer)))
            sessions[fam] = (pair in conns(_netns_holding(nodes, scw))
                             and pair in conns(_netns_holding(nodes, peer)))
        wire.links[lk["id"]] = LinkWire(lk["id"], sessions)
    for n in nodes:
        if n.get("role") == "vpc-router" and runtime_for(n["netns"]).exists(n["netns"]):
            wire.vpc_routes |= {r["prefix"] for r in iproute.routes(n["netns"], "bgp")}
    return wire


def expected_status(sessions: Mapping[str, bool], enabled: Iterable[str]) -> str:
    fams = list(enabled)
    ups = sum(1 for f in fams if sessions.get(f))
    if fams and ups == len(fams):
        return "active"
    return "limited_connectivity" if ups else "all_down"


def compare(links: Sequence[Mapping[str, Any]], policies: Mapping[str, Mapping[str, Any]],
            wire: Wire, announced: Iterable[str],
            customer: Mapping[str, str] | None = None) -> list[str]:
    """Where the controller's word (``links``), the customer router's word (``customer``:
    Scaleway peer address -> session state, as ``customer routes`` says) or the VPC table
    disagrees with the wire.

    ``announced``: what the customer announces; the VPC table must hold exactly those within
    the ingress filter of an attached policy, over a session that is up, on a link with
    route propagation on."""
    problems: list[str] = []
    for lk in links:
        lw = wire.links.get(lk["id"])
        for fam in FAMILIES if customer is not None and lw is not None else ():
            scw = lk["scw_bgp_config"].get(fam)
            said = customer.get(_host(scw)) if customer is not None and scw else None
            if said is None or lw is None:
                continue
            truth = "up" if lw.sessions.get(fam) else "down"
            if (said == "up") != (truth == "up"):
                problems.append(f"customer router: session to {_host(scw)} says {said}, "
                                f"the wire says {truth}")
    allowed: set[str] = set()
    announced = list(announced)
    for lk in links:
        lw = wire.links.get(lk["id"])
        if lw is None:
            problems.append(f"link {lk['name']}: not read from the wire")
            continue
        enabled = []
        for fam, key in (("ipv4", "bgp_v4_status"), ("ipv6", "bgp_v6_status")):
            said = lk.get(key)
            if said == "disabled":
                continue
            enabled.append(fam)
            truth = "up" if lw.sessions.get(fam) else "down"
            if said != truth:
                problems.append(f"link {lk['name']}: {key} says {said}, the wire says {truth}")
        if lk.get("status") in ("active", "limited_connectivity", "all_down"):
            truth = expected_status(lw.sessions, enabled)
            if lk["status"] != truth:
                problems.append(f"link {lk['name']}: status says {lk['status']}, "
                                f"the sessions make it {truth}")
        if not lk.get("enable_route_propagation") or not lk.get("vpc_id"):
            continue
        for fam, key in (("ipv4", "routing_policy_v4_id"), ("ipv6", "routing_policy_v6_id")):
            pol = policies.get(lk.get(key) or "")
            if pol is None or not lw.sessions.get(fam):
                continue
            ranges = tuple(pol.get("prefix_filter_in", ()))
            allowed |= {p for p in announced if (":" in p) == (fam == "ipv6")
                        and _covered(p, ranges)}
    missing, extra = allowed - wire.vpc_routes, wire.vpc_routes - allowed
    if missing:
        problems.append(f"VPC table lacks {len(missing)} allowed route(s), e.g. "
                        f"{sorted(missing)[:3]}")
    if extra:
        problems.append(f"VPC table holds {len(extra)} route(s) no live session allows, e.g. "
                        f"{sorted(extra)[:3]}")
    return problems


@dataclass(frozen=True)
class Reading:
    problems: list[str]
    consistent: bool  # the controller said the same before and after the wire was read
    links: list[dict[str, Any]]
    wire: Wire


def _said(links: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((lk["id"], lk.get("status"), lk.get("bgp_v4_status"),
                   lk.get("bgp_v6_status")) for lk in links)


def snapshot(lab: Lab, announced: Iterable[str]) -> Reading:
    """Controller, wire, controller: problems are only meaningful when ``consistent``."""
    nodes, policies = lab.nodes(), lab.policies()
    before, cust_before = lab.links(), lab.customer_sessions()
    wire = read_wire(nodes, before)
    after, cust_after = lab.links(), lab.customer_sessions()
    consistent = _said(before) == _said(after) and cust_before == cust_after
    return Reading(compare(after, policies, wire, announced, cust_after), consistent, after,
                   wire)


def agrees(lab: Lab, announced: Iterable[str]) -> Reading | None:
    """A consistent reading without problems, or None (for ``wait_for``)."""
    r = snapshot(lab, announced)
    return r if r.consistent and not r.problems else None
