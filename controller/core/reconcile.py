"""From the model and the routes learned over each session to what the data plane must hold (pure).

``link_views`` is what reconciliation sees of the links; ``compute`` gives the full desired
state; ``compute_prefixes`` the desired entries for a few prefixes only, so that a BGP update
touching 500 prefixes costs 500 decisions and not a recomputation of 10,000. ``diff`` turns
desired vs. applied into adds and removes.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import dataclass, field

from controller.core.events import Route, has_as_loop
from controller.core.model import SCW_ASN, Link, RoutingPolicy
from controller.core.prefixes import PrefixFilter, family_of, prefix_key

FAMILIES = ("ipv4", "ipv6")

# Customer communities -> preference in the VPC route table; no community counts as medium.
COMMUNITY_PREFERENCE = {(SCW_ASN, 42050): 50, (SCW_ASN, 42100): 100, (SCW_ASN, 42200): 200}
DEFAULT_PREFERENCE = 100

# A route table: prefix -> gateways (one normally; several would be ECMP).
Table = dict[str, tuple[str, ...]]
# Learned routes: link id -> family -> prefix -> Route (only while the session is up).
Rib = Mapping[str, Mapping[str, Mapping[str, Route]]]


@dataclass(frozen=True)
class PolicyView:
    filter_in: PrefixFilter
    prefix_filter_out: tuple[str, ...]


@dataclass(frozen=True)
class LinkView:
    """What reconciliation needs to know about one link."""

    link_id: str
    order: str  # creation timestamp: the deterministic tie-break between links
    vpc_id: str | None
    propagation: bool
    provisioned: bool
    policies: Mapping[str, PolicyView | None]  # family -> policy
    peer_address: Mapping[str, str]  # family -> customer's peering address (scw table gateway)
    transit_address: Mapping[str, str]  # family -> scw router address seen by the VPC router

    def propagating(self, family: str) -> bool:
        """Routes flow on this family only with propagation on, a VPC and a policy."""
        return self.propagation and self.carrying(family)

    def carrying(self, family: str) -> bool:
        """The link's Scaleway router forwards the family's accepted routes (provisioned, a
        VPC, a policy): whether the VPC learns them is the propagation switch's, so turning
        it off or on rewrites the VPC table only, not the router's as well."""
        return (self.provisioned and self.vpc_id is not None
                and self.policies.get(family) is not None)


def link_views(links: Iterable[Link], policies: Mapping[str, RoutingPolicy],
               transit: Mapping[str, Mapping[str, str]],
               wired_vpcs: Container[str]) -> list[LinkView]:
    """Views of the links that have a data plane, oldest first.

    ``transit``: link id -> family -> the Scaleway router's transit address, for the links
    placed in the data plane; ``wired_vpcs``: the VPCs whose router exists. A link's VPC
    counts only once both exist.
    """
    views = []
    for lk in sorted(links, key=lambda x: x.created_at):
        addresses = transit.get(lk.id)
        if addresses is None:
            continue  # no data plane yet (requested, refused, ...): nothing to do
        pol: dict[str, PolicyView | None] = {}
        for fam in FAMILIES:
            pid = lk.policy_id(fam)
            p = policies.get(pid) if pid else None
            pol[fam] = (PolicyView(PrefixFilter.compile(p.prefix_filter_in),
                                   tuple(p.prefix_filter_out)) if p else None)
        wired = lk.vpc_id in wired_vpcs and all(addresses.get(f) for f in FAMILIES)
        views.append(LinkView(
            link_id=lk.id, order=lk.created_at, vpc_id=lk.vpc_id if wired else None,
            propagation=lk.enable_route_propagation,
            provisioned=lk.lifecycle == "provisioned", policies=pol,
            peer_address={f: lk.peer_bgp_config.address(f) for f in FAMILIES},
            transit_address={f: a for f, a in addresses.items() if a}))
    return views


def preference(route: Route) -> int:
    prefs = [COMMUNITY_PREFERENCE[c] for c in route.communities if c in COMMUNITY_PREFERENCE]
    return max(prefs) if prefs else DEFAULT_PREFERENCE


def verdict(link: LinkView, route: Route, vpc_subnets: PrefixFilter) -> str | None:
    """None if the route is accepted by the link's allowed-routes list, else the reason."""
    policy = link.policies.get(route.family)
    if policy is None:
        return "no_policy"
    if route.prefix.endswith("/0"):
        return "default_route"
    if has_as_loop(route, SCW_ASN):
        return "as_path_loop"
    entry = prefix_key(route.prefix)  # parsed once for both filters (100k routes per run)
    if vpc_subnets.matches_entry(entry):
        return "vpc_prefix"
    if not policy.filter_in.matches_entry(entry):
        return "filter_in"
    return None


def announcements(link: LinkView, vpc_subnets: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per family, the VPC prefixes to announce to the customer (default deny)."""
    out: dict[str, frozenset[str]] = {}
    for family in FAMILIES:
        policy = link.policies.get(family)
        if policy is None or not link.propagating(family):
            out[family] = frozenset()
            continue
        allowed = PrefixFilter.compile(policy.prefix_filter_out)
        out[family] = frozenset(
            p for p in vpc_subnets if family_of(p) == family and allowed.matches(p))
    return out


@dataclass
class Desired:
    vpc_tables: dict[str, Table] = field(default_factory=dict)  # vpc id -> table
    scw_tables: dict[str, Table] = field(default_factory=dict)  # link id -> scw router table
    announce: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)  # link -> prefix -> why


Verdicts = Mapping[str, Mapping[str, str]]  # link id -> prefix -> why it is rejected
_NO_FILTER = PrefixFilter(())


@dataclass
class _Member:
    """A link of a VPC group, resolved once per computation (this runs per route)."""

    link: LinkView
    routes: dict[str, Mapping[str, Route]]  # family -> prefix -> route
    known: Mapping[str, str] | None  # prefix -> why rejected, if the verdicts are known
    subnets: PrefixFilter
    carrying: dict[str, bool]
    propagating: dict[str, bool]
    scw: Table
    # The entries' values, one tuple per family shared by all of them: no tuple per route,
    # and a diff compares them by identity first.
    to_peer: dict[str, tuple[str, ...]]
    to_transit: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, link: LinkView, rib: Rib, known: Verdicts | None,
           subnets: Mapping[str, PrefixFilter], desired: Desired) -> _Member:
        learned = rib.get(link.link_id, {})
        return cls(link, {f: learned.get(f, {}) for f in FAMILIES},
                   None if known is None else known.get(link.link_id, {}),
                   subnets.get(link.vpc_id or "", _NO_FILTER),
                   {f: link.carrying(f) for f in FAMILIES},
                   {f: link.propagating(f) for f in FAMILIES},
                   desired.scw_tables[link.link_id],
                   {f: (a,) for f, a in link.peer_address.items()},
                   {f: (a,) for f, a in link.transit_address.items()})


def _place(prefix: str, group: list[_Member], vpc_table: Table | None,
           rejected: dict[str, dict[str, str]]) -> None:
    """Of the group's links that learned ``prefix``: the rejections are recorded; every
    carrying link's router gets the route (it forwards what the VPC sends it); the best
    propagating one (preference, then the oldest link) goes to the VPC table. Preferences
    are read only where two links compete (100k routes of one link: none)."""
    family = family_of(prefix)
    best: tuple[_Member, Route] | None = None
    for m in group:
        route = m.routes[family].get(prefix)
        if route is None:
            continue
        why = m.known.get(prefix) if m.known is not None else verdict(m.link, route, m.subnets)
        if why is not None:
            rejected.setdefault(m.link.link_id, {})[prefix] = why
            continue
        if not m.carrying[family] or vpc_table is None:
            continue  # without a VPC nothing propagates; rejections still count
        m.scw[prefix] = m.to_peer[family]
        if m.propagating[family] and (
                best is None or (-preference(route), m.link.order)
                < (-preference(best[1]), best[0].link.order)):
            best = (m, route)
    if best is not None and vpc_table is not None:
        vpc_table[prefix] = best[0].to_transit[family]


def _empty_desired(links: list[LinkView], vpc_ids: Iterable[str]) -> Desired:
    d = Desired()
    for vpc_id in vpc_ids:
        d.vpc_tables[vpc_id] = {}
    for link in links:
        d.scw_tables[link.link_id] = {}
        if link.vpc_id is not None:
            d.vpc_tables.setdefault(link.vpc_id, {})
    return d


def _prefixes_of(rib: Rib, links: Iterable[LinkView]) -> set[str]:
    out: set[str] = set()
    for link in links:
        for fam in rib.get(link.link_id, {}).values():
            out.update(fam)
    return out


def compute_prefixes(
    links: list[LinkView], vpc_subnets: Mapping[str, list[str]], rib: Rib,
    prefixes: Iterable[str], known: Verdicts | None = None,
) -> Desired:
    """Desired entries for ``prefixes`` only (absent from the result = must not be installed).
    ``known``: the verdicts of the last computation, still true (only propagation changed
    since): no policy is matched again."""
    compiled = {vpc: PrefixFilter.compile(s) for vpc, s in vpc_subnets.items()}
    desired = _empty_desired(links, vpc_subnets)
    by_vpc: dict[str | None, list[_Member]] = {}
    for link in links:
        by_vpc.setdefault(link.vpc_id, []).append(
            _Member.of(link, rib, known, compiled, desired))
    groups = [(group, desired.vpc_tables[vpc_id] if vpc_id is not None else None)
              for vpc_id, group in by_vpc.items()]
    alone = [(g[0], table) for g, table in groups if len(g) == 1 and g[0].known is not None]
    if alone:
        prefixes = prefixes if isinstance(prefixes, (set, frozenset)) else set(prefixes)
        for m, vpc_table in alone:
            _place_known(prefixes, m, vpc_table, desired.rejected)
        groups = [(g, t) for g, t in groups if len(g) != 1 or g[0].known is None]
    for prefix in prefixes:
        for group, vpc_table in groups:
            _place(prefix, group, vpc_table, desired.rejected)
    return desired


def _place_known(prefixes: Collection[str], m: _Member, vpc_table: Table | None,
                 rejected: dict[str, dict[str, str]]) -> None:
    """``_place`` for a link alone in its group, its verdicts known (a propagation switch
    at 100k routes): nothing competes, so whole families are placed at once."""
    known = m.known or {}
    for family, routes in m.routes.items():
        mine = routes.keys() & prefixes if len(routes) < len(prefixes) else {
            p for p in prefixes if p in routes}
        refused = {p: known[p] for p in mine & known.keys()}
        if refused:
            rejected.setdefault(m.link.link_id, {}).update(refused)
        if not m.carrying[family] or vpc_table is None:
            continue
        accepted = mine - refused.keys() if refused else mine
        m.scw.update(dict.fromkeys(accepted, m.to_peer[family]))
        if m.propagating[family]:
            vpc_table.update(dict.fromkeys(accepted, m.to_transit[family]))


def compute(links: list[LinkView], vpc_subnets: Mapping[str, list[str]], rib: Rib) -> Desired:
    desired = compute_prefixes(links, vpc_subnets, rib, _prefixes_of(rib, links))
    for link in links:
        desired.announce.update(link_announcements(link, vpc_subnets))
    return desired


def link_announcements(link: LinkView, vpc_subnets: Mapping[str, list[str]]
                       ) -> dict[tuple[str, str], frozenset[str]]:
    """(link id, family) -> the VPC prefixes to announce to the link's customer."""
    subnets = vpc_subnets.get(link.vpc_id or "", [])
    return {(link.link_id, fam): p for fam, p in announcements(link, subnets).items()}


BULK_REMOVAL = 1000  # routes through one gateway, all removed: its nexthop object goes instead


def emptied(applied: Mapping[str, tuple[str, ...]], add: Mapping[str, tuple[str, ...]],
            remove: Collection[str], bulk: int = BULK_REMOVAL) -> dict[tuple[str, ...], list[str]]:
    """The single gateways that no route goes through once ``add`` and ``remove`` (a diff
    of ``applied``) are applied, with the prefixes of ``remove`` through each, where there
    are at least ``bulk`` of them: the table deletes each one's nexthop object, which takes
    those routes with it in one request. Smaller removals stay route by route: the kernel
    announces no per-route deletion when a nexthop goes, and for a few routes it saves
    nothing. A gateway some ECMP route goes through is left out, even one removed now:
    its group holds its object."""
    through: dict[tuple[str, ...], list[str]] = {}
    for p in remove:
        gateways = applied.get(p)
        if gateways is not None and len(gateways) == 1:
            through.setdefault(gateways, []).append(p)
    big = {gw: ps for gw, ps in through.items() if len(ps) >= bulk}
    if not big:
        return {}
    held = list(applied.values())  # list.count and set() run in C: 100k routes, ~5 ms
    kept = {gw for gateways in add.values() for gw in gateways}
    kept.update(gw for gateways in set(held) if len(gateways) > 1 for gw in gateways)
    return {gw: ps for gw, ps in big.items()
            if gw[0] not in kept and held.count(gw) == len(ps)}


def diff(applied: Mapping[str, tuple[str, ...]], desired: Mapping[str, tuple[str, ...]],
         scope: Iterable[str] | None = None) -> tuple[Table, list[str]]:
    """(routes to add or replace, prefixes to remove); ``scope`` limits the comparison.
    Comprehensions: this runs over 100k prefixes per propagation switch."""
    if scope is None:
        keys: Iterable[str] = set(applied) | set(desired)
    else:
        within = scope if isinstance(scope, (set, frozenset)) else set(scope)
        # the smaller side: 100k prefixes in scope against a table that holds none of them
        # (another link's router) costs nothing
        keys = (within if len(within) <= len(applied) + len(desired)
                else {p for p in applied if p in within} | {p for p in desired if p in within})
    # set operations on the keys run in C: a 100k-route propagation switch costs ~20 ms
    wanted = desired.keys() & keys
    add: Table = {p: desired[p] for p in wanted - applied.keys()}
    add.update({p: want for p in wanted & applied.keys()
                if (want := desired[p]) != applied[p]})
    remove = list((applied.keys() & keys) - desired.keys())
    return add, remove
