import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.prefixes import (
    PrefixError,
    PrefixFilter,
    _canonical_fast,
    _entry,
    canonical_prefix,
    covers,
    parse_prefix,
    prefix_entry,
    prefix_key,
)


@pytest.mark.parametrize("entries,prefix,expected", [
    (["10.0.0.0/8"], "10.1.0.0/16", True),          # inside a range
    (["10.0.0.0/8"], "10.0.0.0/8", True),           # the range itself
    (["10.0.0.0/8"], "0.0.0.0/0", False),           # less specific never matches
    (["10.0.0.0/8"], "11.0.0.0/16", False),
    (["198.51.100.0/24"], "198.51.100.128/25", True),
    (["198.51.100.0/24"], "198.51.0.0/16", False),
    (["0.0.0.0/0"], "203.0.113.0/24", True),        # a default entry admits everything v4
    (["0.0.0.0/0"], "2001:db8::/32", False),        # ...but not another family
    (["2001:db8:100::/48"], "2001:db8:100:5::/64", True),
    (["2001:db8:100::/48"], "2001:db8:101::/64", False),
    ([], "198.51.100.0/24", False),                 # empty list: default deny
])
def test_range_matching(entries, prefix, expected):
    assert PrefixFilter.compile(entries).matches(prefix) is expected


@pytest.mark.parametrize("text,msg", [
    ("10.0.0.1/8", "host bits"),
    ("10.0.0.0", "not a CIDR"),
    ("300.0.0.0/8", "not a valid"),
    ("2001:db8::/129", "not a valid"),
])
def test_invalid_prefixes(text, msg):
    with pytest.raises(PrefixError, match=msg):
        parse_prefix(text)


def test_family_enforced():
    with pytest.raises(PrefixError, match="not an IPv4"):
        parse_prefix("2001:db8::/32", ipv6=False)
    with pytest.raises(PrefixError, match="not an IPv6"):
        parse_prefix("10.0.0.0/8", ipv6=True)


# --- the libc fast path agrees with ipaddress on every spelling -------------------------------
def _exact(text: str) -> tuple[int, int, int] | str:
    try:
        net = parse_prefix(text)
    except PrefixError as exc:
        return str(exc)
    return net.version, int(net.network_address), net.prefixlen


def _spellings() -> st.SearchStrategy[str]:
    v4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
    v6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
    v6_long = st.integers(0, 2**128 - 1).map(lambda n: ipaddress.IPv6Address(n).exploded)
    mapped = st.integers(0, 2**32 - 1).map(lambda n: f"::ffff:{ipaddress.IPv4Address(n)}")
    odd = st.sampled_from(["01.2.3.4", "1.2.3", "::", "::1", "1::", "2001:DB8::", "1.2.3.4 ",
                           "2001:db8::%eth0", "0:0:0:0:0:0:0:1", "1:0:0:1:0:0:0:1", ""])
    addr = st.one_of(v4, v6, v6_long, mapped, odd, st.text(max_size=12))
    plen = st.one_of(st.integers(0, 129).map(str), st.sampled_from(["", "08", "00", "+8", "٣"]))
    return st.tuples(addr, plen).map("/".join)


@settings(max_examples=800, deadline=None)
@given(_spellings())
def test_fast_path_agrees_with_ipaddress(text: str) -> None:
    expected = _exact(text)
    if isinstance(expected, str):  # an error: the same message either way
        with pytest.raises(PrefixError, match="^" + re.escape(expected) + "$"):
            canonical_prefix(text)
        return
    assert _entry(text) == expected
    assert canonical_prefix(text) == str(parse_prefix(text))


@pytest.mark.parametrize("net", ["198.51.100.0/24", "2001:db8::/32", "0.0.0.0/0", "::/0",
                                 "2001:db8:0:1::/64", "1:0:0:1::/64"])
def test_canonical_inputs_take_the_fast_path(net: str) -> None:
    assert _canonical_fast(net) is not None and str(ipaddress.ip_network(net)) == net



_nets = st.one_of(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: ipaddress.ip_network((t[0], t[1]), strict=False)))


@settings(max_examples=500, deadline=None)
@given(_nets, _nets)
def test_covers_agrees_with_subnet_of(outer: ipaddress._BaseNetwork,
                                      inner: ipaddress._BaseNetwork) -> None:
    expected = inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]
    o, i = _entry(str(outer)), _entry(str(inner))  # prefix_entry may decline (then exact)
    assert prefix_entry(str(inner)) in (None, i)
    assert covers(o, i) == expected
    assert PrefixFilter.compile([str(outer)]).matches(str(inner)) == expected
    assert sorted([str(outer), str(inner)], key=prefix_key) == [
        str(n) for n in sorted([outer, inner], key=lambda n: (n.version, n))]
