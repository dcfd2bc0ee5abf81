import pytest

from controller.core.prefixes import PrefixError, PrefixFilter, parse_prefix


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
