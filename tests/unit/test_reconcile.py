"""Reconciliation: what the VPC table, the Scaleway router and the announcements must hold."""

from controller.core.events import Route
from controller.core.prefixes import PrefixFilter
from controller.core.reconcile import (
    LinkView,
    PolicyView,
    announcements,
    compute,
    compute_prefixes,
    diff,
    emptied,
    preference,
    verdict,
)

V4_IN = ["198.51.100.0/24", "198.19.0.0/16"]
VPC = {"vpc1": ["203.0.113.0/24", "2001:db8:200::/64"]}


def policy(f_in, f_out):
    return PolicyView(PrefixFilter.compile(f_in), tuple(f_out))


def link(link_id="l1", order="1", vpc="vpc1", prop=True, v4=True, v6=True, transit="198.18.0.0"):
    pols = {
        "ipv4": policy(V4_IN, ["203.0.113.0/24"]) if v4 else None,
        "ipv6": policy(["2001:db8:100::/48"], ["2001:db8:200::/48"]) if v6 else None,
    }
    return LinkView(link_id=link_id, order=order, vpc_id=vpc, propagation=prop, provisioned=True,
                    policies=pols, peer_address={"ipv4": f"peer-{link_id}", "ipv6": "p6"},
                    transit_address={"ipv4": transit, "ipv6": "2001:db8:ffff::"})


def route(prefix, as_path=(64512,), communities=(), nh="169.254.0.17"):
    fam = "ipv6" if ":" in prefix else "ipv4"
    return Route(prefix, nh, tuple(as_path), tuple(communities), fam)


def rib(link_id, *routes):
    out: dict = {link_id: {"ipv4": {}, "ipv6": {}}}
    for r in routes:
        out[link_id][r.family][r.prefix] = r
    return out


SUBNETS = PrefixFilter.compile(VPC["vpc1"])


def test_verdicts():
    lk = link()
    assert verdict(lk, route("198.51.100.0/24"), SUBNETS) is None
    assert verdict(lk, route("198.51.100.128/25"), SUBNETS) is None   # inside a range
    assert verdict(lk, route("10.0.0.0/8"), SUBNETS) == "filter_in"
    assert verdict(lk, route("0.0.0.0/0"), SUBNETS) == "default_route"
    assert verdict(lk, route("203.0.113.128/25"), SUBNETS) == "vpc_prefix"
    assert verdict(lk, route("198.51.100.0/24", as_path=(64512, 12876)), SUBNETS) == "as_path_loop"
    assert verdict(link(v4=False), route("198.51.100.0/24"), SUBNETS) == "no_policy"


def test_accepted_routes_go_to_vpc_and_scw_tables():
    d = compute([link()], VPC, rib("l1", route("198.51.100.0/24"), route("10.0.0.0/8"),
                                   route("2001:db8:100::/64", nh="2001:db8:fc60::1")))
    assert d.vpc_tables["vpc1"] == {"198.51.100.0/24": ("198.18.0.0",),
                                    "2001:db8:100::/64": ("2001:db8:ffff::",)}
    assert d.scw_tables["l1"] == {"198.51.100.0/24": ("peer-l1",),
                                  "2001:db8:100::/64": ("p6",)}
    assert d.rejected == {"l1": {"10.0.0.0/8": "filter_in"}}
    assert d.announce[("l1", "ipv4")] == {"203.0.113.0/24"}
    assert d.announce[("l1", "ipv6")] == {"2001:db8:200::/64"}


def test_propagation_off_or_no_vpc_installs_and_announces_nothing():
    learned = rib("l1", route("198.51.100.0/24"))
    for lk in (link(prop=False), link(vpc=None)):
        d = compute([lk], VPC, learned)
        assert all(not t for t in d.vpc_tables.values())
        assert d.announce[("l1", "ipv4")] == frozenset()
    # the router keeps forwarding what it accepted: the switch is the VPC's table only
    assert compute([link(prop=False)], VPC, learned).scw_tables["l1"] == {
        "198.51.100.0/24": ("peer-l1",)}
    assert compute([link(vpc=None)], VPC, learned).scw_tables["l1"] == {}


def test_known_verdicts_give_what_a_full_computation_gives():
    """A propagation flip reuses the last verdicts: same tables as computing them again."""
    a, b = link("a", order="1"), link("b", order="2", transit="198.18.0.2")
    learned = {**rib("a", route("198.51.100.0/24"), route("10.0.0.0/8"),
                     route("198.19.1.0/24", communities=[(12876, 42050)])),
               **rib("b", route("198.51.100.0/24"), route("198.19.1.0/24"))}
    before = compute([a, b], VPC, learned)
    for flipped in ([link("a", order="1", prop=False), b],
                    [a, link("b", order="2", transit="198.18.0.2", prop=False)]):
        full = compute(flipped, VPC, learned)
        prefixes = {p for lk in learned.values() for fam in lk.values() for p in fam}
        fast = compute_prefixes(flipped, VPC, learned, prefixes, known=before.rejected)
        assert fast.vpc_tables == full.vpc_tables and fast.scw_tables == full.scw_tables
        assert fast.rejected == full.rejected == {"a": {"10.0.0.0/8": "filter_in"}}
    # b's route wins 198.19.1.0/24 (a's is low preference) until b stops propagating
    assert before.vpc_tables["vpc1"]["198.19.1.0/24"] == ("198.18.0.2",)
    assert compute([a, link("b", order="2", transit="198.18.0.2", prop=False)], VPC,
                   learned).vpc_tables["vpc1"]["198.19.1.0/24"] == ("198.18.0.0",)


def test_prefix_filter_out_limits_announcements():
    lk = LinkView(link_id="l1", order="1", vpc_id="vpc1", propagation=True, provisioned=True,
                  policies={"ipv4": policy(V4_IN, ["203.0.113.0/25"]), "ipv6": None},
                  peer_address={}, transit_address={})
    assert announcements(lk, VPC["vpc1"]) == {"ipv4": frozenset(), "ipv6": frozenset()}


def test_community_preference_and_deterministic_tiebreak():
    a = link("a", order="1", transit="198.18.0.0")
    b = link("b", order="2", transit="198.18.0.2")
    high = route("198.51.100.0/24", communities=[(12876, 42200)])
    plain = route("198.51.100.0/24")
    low = route("198.51.100.0/24", communities=[(12876, 42050)])
    assert preference(high) == 200 and preference(plain) == 100 and preference(low) == 50
    both = {**rib("a", low), **rib("b", plain)}
    assert compute([a, b], VPC, both).vpc_tables["vpc1"]["198.51.100.0/24"] == ("198.18.0.2",)
    both = {**rib("a", high), **rib("b", plain)}
    assert compute([a, b], VPC, both).vpc_tables["vpc1"]["198.51.100.0/24"] == ("198.18.0.0",)
    # Same preference: the link created first wins, whatever the input order.
    both = {**rib("a", plain), **rib("b", plain)}
    assert compute([b, a], VPC, both).vpc_tables["vpc1"]["198.51.100.0/24"] == ("198.18.0.0",)
    # Both Scaleway routers can reach the customer prefix.
    assert set(compute([a, b], VPC, both).scw_tables) == {"a", "b"}


def test_incremental_matches_full():
    learned = rib("l1", *(route(f"198.19.{i}.0/24") for i in range(50)), route("10.0.0.0/8"))
    full = compute([link()], VPC, learned)
    part = compute_prefixes([link()], VPC, learned, {"198.19.7.0/24", "10.0.0.0/8", "1.0.0.0/8"})
    assert part.vpc_tables["vpc1"] == {"198.19.7.0/24": full.vpc_tables["vpc1"]["198.19.7.0/24"]}
    assert part.rejected == {"l1": {"10.0.0.0/8": "filter_in"}}


def test_emptied_names_the_gateways_no_route_keeps():
    have = {f"p{i}": ("gw1",) for i in range(5)}
    have |= {"q0": ("gw2",), "q1": ("gw2",), "e": ("gw2", "gw3")}
    gone = [f"p{i}" for i in range(5)]
    assert emptied(have, {}, gone, bulk=3) == {("gw1",): gone}
    # one route left through gw1, or moved onto it, or too few removed: route by route
    assert emptied(have, {}, gone[:4], bulk=3) == {}
    assert emptied(have, {"x": ("gw1",)}, gone, bulk=3) == {}
    assert emptied(have, {}, gone, bulk=6) == {}
    # an ECMP set is never emptied; an ECMP route through gw2 keeps it, even one removed
    # now (its group holds gw2's object), as does one added
    assert emptied(have, {}, ["q0", "q1"], bulk=1) == {}
    assert emptied(have, {}, ["e", "q0", "q1"], bulk=1) == {}
    assert emptied(have | {"e": ("gw3",)}, {}, ["q0", "q1"], bulk=1) == {("gw2",): ["q0", "q1"]}
    assert emptied(have | {"e": ("gw3",)}, {"x": ("gw2", "gw3")}, ["q0", "q1"], bulk=1) == {}
    # prefixes not held are not counted
    assert emptied(have, {}, [*gone, "nope"], bulk=3) == {("gw1",): gone}


def test_diff():
    have = {"a": ("1",), "b": ("1",), "c": ("1",)}
    want = {"a": ("1",), "b": ("2",), "d": ("1",)}
    add, remove = diff(have, want)
    assert add == {"b": ("2",), "d": ("1",)} and remove == ["c"]
    add, remove = diff(have, want, scope={"c"})
    assert add == {} and remove == ["c"]


def test_known_verdicts_place_a_lone_link_as_a_full_computation_does():
    routes = [route("198.51.100.0/24"), route("198.51.100.128/25"), route("10.0.0.0/8"),
              route("203.0.113.128/25"), route("2001:db8:100::/48"), route("2001:db8:9::/48")]
    learned = rib("l1", *routes)
    prefixes = {r.prefix for r in routes}
    for prop in (True, False):
        for v6 in (True, False):
            views = [link(prop=prop, v6=v6)]
            full = compute_prefixes(views, VPC, learned, prefixes)
            again = compute_prefixes(views, VPC, learned, prefixes, known=full.rejected)
            assert again.vpc_tables == full.vpc_tables
            assert again.scw_tables == full.scw_tables
            assert again.rejected == full.rejected
            assert full.rejected["l1"]["10.0.0.0/8"] == "filter_in"
            assert bool(full.vpc_tables["vpc1"]) == prop
