"""`ip -j route` output made plain (lab.dataplane.routes)."""

from __future__ import annotations

import json

import pytest

from lab.dataplane.routes import parse_ip_routes

V4 = [
    {"dst": "default", "gateway": "198.18.0.1", "dev": "vpc0", "protocol": "static",
     "flags": []},
    {"dst": "198.51.100.0/24", "gateway": "169.254.0.17", "dev": "pe0.2451", "protocol": "bgp",
     "metric": 20, "flags": []},
    {"dst": "203.0.113.10", "gateway": "198.18.0.3", "dev": "vpc0", "protocol": "bird",
     "flags": []},
    {"dst": "169.254.0.16/31", "dev": "pe0.2451", "protocol": "kernel", "scope": "link",
     "prefsrc": "169.254.0.16", "flags": []},
    {"dst": "10.77.0.0/16", "protocol": "bgp", "flags": [],
     "nexthops": [{"gateway": "198.18.0.1", "dev": "v0", "weight": 1, "flags": []},
                  {"gateway": "198.18.0.3", "dev": "v1", "weight": 1, "flags": []}]},
    {"dst": "198.18.0.0/31", "dev": "vpc0", "protocol": "kernel", "scope": "link",
     "prefsrc": "198.18.0.0", "flags": []},
]
V6 = [
    {"dst": "2001:db8:100::/64", "gateway": "2001:db8:fc60::1", "dev": "pe0.2451",
     "protocol": "bgp", "metric": 20, "flags": [], "pref": "medium"},
    {"dst": "2001:db8:200::10", "gateway": "fe80::1", "dev": "vpc0", "protocol": "static",
     "flags": []},
    {"dst": "fe80::/64", "dev": "pe0", "protocol": "kernel", "metric": 256, "flags": [],
     "pref": "medium"},
    {"dst": "default", "gateway": "2001:db8:fc60::1", "dev": "pe0.2451", "flags": []},
]


def test_ipv4() -> None:
    assert parse_ip_routes(json.dumps(V4), 4) == [
        {"prefix": "0.0.0.0/0", "via": "198.18.0.1", "dev": "vpc0", "proto": "static"},
        {"prefix": "198.51.100.0/24", "via": "169.254.0.17", "dev": "pe0.2451",
         "proto": "bgp"},
        {"prefix": "203.0.113.10/32", "via": "198.18.0.3", "dev": "vpc0", "proto": "bird"},
        # 169.254.0.16/31 is link-local: left out
        {"prefix": "10.77.0.0/16", "via": "198.18.0.1", "dev": None, "proto": "bgp"},
        {"prefix": "198.18.0.0/31", "via": None, "dev": "vpc0", "proto": "kernel"},
    ]


def test_ipv6() -> None:
    assert parse_ip_routes(json.dumps(V6).encode(), 6) == [
        {"prefix": "2001:db8:100::/64", "via": "2001:db8:fc60::1", "dev": "pe0.2451",
         "proto": "bgp"},
        {"prefix": "2001:db8:200::10/128", "via": "fe80::1", "dev": "vpc0", "proto": "static"},
        {"prefix": "::/0", "via": "2001:db8:fc60::1", "dev": "pe0.2451", "proto": ""},
    ]


def test_empty_output() -> None:
    assert parse_ip_routes("", 4) == [] == parse_ip_routes("[]", 6)


def test_family_is_required() -> None:
    with pytest.raises(ValueError, match="family"):
        parse_ip_routes("[]", 5)
