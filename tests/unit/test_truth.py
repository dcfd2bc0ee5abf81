"""The wire oracle's pure parts: reading `ss`, comparing the controller's word with the wire."""

from __future__ import annotations

from typing import Any

from lab.control.truth import LinkWire, Wire, compare, expected_status, parse_ss

SS = """\
0      0           169.254.0.16:37805       169.254.0.17:179
0      0      [2001:db8:fc60::]:40371 [2001:db8:fc60::1]:179
0      0           198.18.0.1:22       198.18.0.9:5555
0      0      [::ffff:169.254.0.20]:179 [::ffff:169.254.0.21]:40000
0      0      [2001:db8:fc62::1]%il0.2451:42945 [2001:db8:fc62::]:179
0      0      169.254.0.33%il0.2451:46657 169.254.0.32:179
"""


def test_parse_ss_keeps_bgp_connections_only() -> None:
    assert parse_ss(SS) == {
        frozenset({"169.254.0.16", "169.254.0.17"}),
        frozenset({"2001:db8:fc60::", "2001:db8:fc60::1"}),
        frozenset({"169.254.0.20", "169.254.0.21"}),
        frozenset({"2001:db8:fc62::1", "2001:db8:fc62::"}),
        frozenset({"169.254.0.33", "169.254.0.32"}),
    }
    assert parse_ss("") == set()


def _link(**kw: Any) -> dict[str, Any]:
    base = {"id": "L", "name": "link-lab", "status": "active", "bgp_v4_status": "up",
            "bgp_v6_status": "up", "enable_route_propagation": True, "vpc_id": "V",
            "routing_policy_v4_id": "P4", "routing_policy_v6_id": "P6"}
    return base | kw


POLICIES = {"P4": {"prefix_filter_in": ["198.51.100.0/24"]},
            "P6": {"prefix_filter_in": ["2001:db8:100::/48"]}}
ANNOUNCED = ["198.51.100.0/24", "2001:db8:100::/64", "100.64.0.0/30"]


def test_truthful_lab_has_no_problem() -> None:
    wire = Wire({"L": LinkWire("L", {"ipv4": True, "ipv6": True})},
                {"198.51.100.0/24", "2001:db8:100::/64"})
    assert compare([_link()], POLICIES, wire, ANNOUNCED) == []


def test_dead_session_reported_up_and_stale_routes_are_caught() -> None:
    wire = Wire({"L": LinkWire("L", {"ipv4": False, "ipv6": True})},
                {"198.51.100.0/24", "2001:db8:100::/64"})
    problems = compare([_link()], POLICIES, wire, ANNOUNCED)
    assert any("bgp_v4_status says up, the wire says down" in p for p in problems)
    assert any("status says active" in p and "limited_connectivity" in p for p in problems)
    assert any("no live session allows" in p and "198.51.100.0/24" in p for p in problems)


def test_missing_routes_and_propagation_off() -> None:
    wire = Wire({"L": LinkWire("L", {"ipv4": True, "ipv6": True})}, set())
    assert any("lacks 2" in p for p in compare([_link()], POLICIES, wire, ANNOUNCED))
    off = _link(enable_route_propagation=False)
    assert compare([off], POLICIES, wire, ANNOUNCED) == []


def test_expected_status() -> None:
    assert expected_status({"ipv4": True, "ipv6": True}, ["ipv4", "ipv6"]) == "active"
    assert expected_status({"ipv4": True}, ["ipv4", "ipv6"]) == "limited_connectivity"
    assert expected_status({}, ["ipv4", "ipv6"]) == "all_down"
    assert expected_status({"ipv4": True}, ["ipv4"]) == "active"


def test_customer_router_word_is_checked() -> None:
    wire = Wire({"L": LinkWire("L", {"ipv4": False, "ipv6": True})}, {"2001:db8:100::/64"})
    link = _link(status="limited_connectivity", bgp_v4_status="down",
                 scw_bgp_config={"ipv4": "169.254.0.16/31", "ipv6": "2001:db8:fc60::/127"})
    ok = {"169.254.0.16": "down", "2001:db8:fc60::": "up"}
    assert compare([link], POLICIES, wire, ANNOUNCED, ok) == []
    stale = {"169.254.0.16": "up", "2001:db8:fc60::": "up"}
    assert compare([link], POLICIES, wire, ANNOUNCED, stale) == [
        "customer router: session to 169.254.0.16 says up, the wire says down"]
