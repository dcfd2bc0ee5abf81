"""controller.drivers.kernel against a real kernel table in namespace tkn-a.

tkn-a --v0-- tkn-b   198.18.0.0/31 <-> .1, 2001:db8:ffff::/127 <-> ::1
tkn-a --v1-- tkn-b   198.18.0.2/31 <-> .3, 2001:db8:ffff::2/127 <-> ::3 (second ECMP path)
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from controller.drivers import kernel
from controller.drivers.kernel import BGP_PROTO, KernelRoute, RouteTable
from lab.testing.namespaces import Link, linked_namespaces

NS_A = "tkn-a"
NS_B = "tkn-b"
GW4, GW4_B = "198.18.0.1", "198.18.0.3"
GW6, GW6_B = "2001:db8:ffff::1", "2001:db8:ffff::3"

def ip(*args: str) -> str:
    return subprocess.run(("ip", *args), check=True, capture_output=True, text=True).stdout


LINKS = [
    Link("v0", a=("198.18.0.0/31", "2001:db8:ffff::/127"),
         b=("198.18.0.1/31", "2001:db8:ffff::1/127")),
    Link("v1", a=("198.18.0.2/31", "2001:db8:ffff::2/127"),
         b=("198.18.0.3/31", "2001:db8:ffff::3/127")),
]


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with linked_namespaces("tkn", LINKS, replace=True) as names:
        assert names == (NS_A, NS_B)
        yield NS_A


@pytest.fixture
def table(netns: str) -> Iterator[RouteTable]:
    rt = RouteTable(netns)
    try:
        yield rt
    finally:
        rt.close()
        # independent of the code under test; the nexthop objects first, which takes their
        # routes with them (`ip route flush` fails with EINVAL on such routes)
        subprocess.run(["ip", "-n", netns, "nexthop", "flush"], capture_output=True)
        for fam in ("-4", "-6"):
            subprocess.run(["ip", "-n", netns, fam, "route", "flush", "proto", "bgp"])


def _canon(dst: str, family: str) -> str:
    if dst == "default":
        return "0.0.0.0/0" if family == "-4" else "::/0"
    return str(ipaddress.ip_network(dst))


def kernel_view(ns: str = NS_A) -> dict[str, tuple[str, ...]]:
    """What `ip -j route show proto bgp` says: prefix -> gateways (ECMP sorted)."""
    out: dict[str, tuple[str, ...]] = {}
    for fam in ("-4", "-6"):
        for r in json.loads(ip("-j", "-n", ns, fam, "route", "show", "proto", "bgp") or "[]"):
            if "nexthops" in r:
                gws = tuple(sorted(nh["gateway"] for nh in r["nexthops"]))
            else:
                gws = (r["gateway"],) if "gateway" in r else ()
            out[_canon(r["dst"], fam)] = gws
    return out


def listed(rt: RouteTable) -> dict[str, tuple[str, ...]]:
    return {p: tuple(sorted(r.gateways)) for p, r in rt.list().items()}


def v4_routes(n: int, gw: str = GW4) -> list[KernelRoute]:
    return [KernelRoute(f"10.{i >> 8 & 255}.{i & 255}.0/24", (gw,)) for i in range(n)]


def v6_routes(n: int, gw: str = GW6) -> list[KernelRoute]:
    return [KernelRoute(f"2001:db8:1:{i:x}::/64", (gw,)) for i in range(n)]


# -- encoding: no root needed -------------------------------------------------------------


def _pyroute2_encode(msg_type: int, flags: int, seq: int, attrs: list, **fields):
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    m = rtmsg()
    for k, v in fields.items():
        m[k] = v
    m["attrs"] = attrs
    m["header"]["type"] = msg_type
    m["header"]["flags"] = flags
    m["header"]["sequence_number"] = seq
    m.encode()
    return bytes(m.data)


@pytest.mark.parametrize("table_id", [254, 1000])
def test_encoding_matches_pyroute2_rtmsg(table_id: int) -> None:
    rtm_table = table_id if table_id < 256 else 0
    new = dict(table=rtm_table, proto=BGP_PROTO, scope=0, type=1)
    flags = 0x505  # REQUEST|ACK|REPLACE|CREATE
    cases = [
        (
            kernel._encode(24, flags, 7, table_id, BGP_PROTO, "10.1.0.0/16", (GW4,)),
            _pyroute2_encode(
                24, flags, 7,
                [("RTA_TABLE", table_id), ("RTA_DST", "10.1.0.0"), ("RTA_GATEWAY", GW4)],
                family=socket.AF_INET, dst_len=16, **new,
            ),
        ),
        (
            kernel._encode(24, flags, 8, table_id, BGP_PROTO, "2001:db8:5::/48", (GW6,)),
            _pyroute2_encode(
                24, flags, 8,
                [("RTA_TABLE", table_id), ("RTA_DST", "2001:db8:5::"), ("RTA_GATEWAY", GW6)],
                family=socket.AF_INET6, dst_len=48, **new,
            ),
        ),
        (
            kernel._encode(24, flags, 9, table_id, BGP_PROTO, "12.0.0.0/8", (GW4, GW4_B)),
            _pyroute2_encode(
                24, flags, 9,
                [
                    ("RTA_TABLE", table_id),
                    ("RTA_DST", "12.0.0.0"),
                    ("RTA_MULTIPATH", [{"attrs": [("RTA_GATEWAY", g)]} for g in (GW4, GW4_B)]),
                ],
                family=socket.AF_INET, dst_len=8, **new,
            ),
        ),
        (
            kernel._encode(25, 5, 10, table_id, BGP_PROTO, "2001:db8:5::/48"),
            _pyroute2_encode(
                25, 5, 10,
                [("RTA_TABLE", table_id), ("RTA_DST", "2001:db8:5::")],
                family=socket.AF_INET6, dst_len=48, table=rtm_table, proto=BGP_PROTO,
                scope=255, type=0,
            ),
        ),
    ]  # fmt: skip
    for ours, theirs in cases:
        assert ours.hex() == theirs.hex()


@pytest.mark.parametrize(
    ("prefix", "gateways"),
    [
        ("10.0.0.1/24", (GW4,)),  # host bits
        ("10.0.0.0/33", (GW4,)),
        ("nonsense", (GW4,)),
        ("10.0.0.0/24", (GW6,)),  # family mismatch
        ("10.0.0.0/24", ()),
        ("10.0.0.0/24", (GW4, GW4)),
    ],
)
def test_bad_input_rejected_before_sending(prefix: str, gateways: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        kernel._encode(24, 5, 1, 254, BGP_PROTO, prefix, gateways)


# -- against the kernel -------------------------------------------------------------------


@pytest.mark.e2e
def test_bulk_apply_matches_kernel(table: RouteTable) -> None:
    routes = v4_routes(10_000) + v6_routes(1_000)
    res = table.apply(routes, [])
    assert res.failures == []
    assert res.added == 11_000
    expected = {str(ipaddress.ip_network(r.prefix)): r.gateways for r in routes}
    assert kernel_view() == expected
    assert listed(table) == expected


@pytest.mark.e2e
def test_replace_changes_gateway(table: RouteTable) -> None:
    table.apply([KernelRoute("10.9.0.0/16", (GW4,)), KernelRoute("2001:db8:9::/48", (GW6,))], [])
    res = table.apply(
        [KernelRoute("10.9.0.0/16", (GW4_B,)), KernelRoute("2001:db8:9::/48", (GW6_B,))], []
    )
    assert (res.added, res.failures) == (2, [])
    assert kernel_view() == {"10.9.0.0/16": (GW4_B,), "2001:db8:9::/48": (GW6_B,)}


@pytest.mark.e2e
def test_remove(table: RouteTable, netns: str) -> None:
    table.apply(v4_routes(100) + v6_routes(10), [])
    ip("-n", netns, "route", "add", "10.200.0.0/24", "via", GW4, "proto", "static")
    try:
        gone = [r.prefix for r in v4_routes(50)] + ["2001:db8:1:3::/64"]
        # missing routes, and one another protocol owns: no failure, nothing removed
        res = table.apply([], [*gone, "10.250.0.0/24", "2001:db8:99::/64", "10.200.0.0/24"])
        assert (res.removed, res.failures) == (51, [])
        view = kernel_view()
        assert len(view) == 59
        assert not set(gone) & set(view)
        assert "10.200.0.0/24" in ip("-n", netns, "route", "show", "proto", "static")
    finally:
        ip("-n", netns, "route", "del", "10.200.0.0/24", "proto", "static")


@pytest.mark.e2e
def test_unreachable_gateway_fails_alone(table: RouteTable) -> None:
    good = v4_routes(3_000) + v6_routes(300)
    bad = [
        KernelRoute("10.123.0.0/16", ("203.0.113.9",)),  # not on any link
        KernelRoute("2001:db8:bad::/48", ("2001:db8:4444::1",)),
        KernelRoute("2001:db8:bbb::/48", ("2001:db8:ffff::",)),  # our own address
    ]
    routes = good[:1500] + bad[:1] + good[1500:] + bad[1:]
    res = table.apply(routes, [])
    assert res.added == len(good)
    assert sorted(p for p, _ in res.failures) == sorted(r.prefix for r in bad)
    assert all(reason for _, reason in res.failures)
    assert len(kernel_view()) == len(good)


@pytest.mark.e2e
def test_a_route_refused_with_its_gateway_spelled_out_is_not_sent_again(
        table: RouteTable, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    run = table._run

    def counting(sock, msg_type, flags, items):  # type: ignore[no-untyped-def]
        sent.extend(label for label, _ in items)
        return run(sock, msg_type, flags, items)

    monkeypatch.setattr(table, "_run", counting)
    res = table.apply([KernelRoute("10.123.0.0/16", ("203.0.113.9",))], [])  # unreachable
    assert [p for p, _ in res.failures] == ["10.123.0.0/16"]
    assert sent == ["10.123.0.0/16"]  # once: no object was made for it, nothing to retry


@pytest.mark.e2e
def test_bad_input_fails_alone(table: RouteTable) -> None:
    res = table.apply(
        [KernelRoute("10.0.0.1/24", (GW4,)), KernelRoute("10.1.0.0/24", (GW6,)),
         KernelRoute("10.2.0.0/24", (GW4,))],
        ["junk"],
    )  # fmt: skip
    assert res.added == 1
    assert sorted(p for p, _ in res.failures) == ["10.0.0.1/24", "10.1.0.0/24", "junk"]
    assert kernel_view() == {"10.2.0.0/24": (GW4,)}


@pytest.mark.e2e
def test_ecmp(table: RouteTable, netns: str) -> None:
    res = table.apply(
        [KernelRoute("10.77.0.0/16", (GW4, GW4_B)), KernelRoute("2001:db8:77::/48", (GW6, GW6_B))],
        [],
    )
    assert (res.added, res.failures) == (2, [])
    for fam, dst in (("-4", "10.77.0.0/16"), ("-6", "2001:db8:77::/48")):
        [route] = json.loads(ip("-j", "-n", netns, fam, "route", "show", dst))
        assert len(route["nexthops"]) == 2
        assert {nh["dev"] for nh in route["nexthops"]} == {"v0", "v1"}
    assert listed(table) == {"10.77.0.0/16": (GW4, GW4_B), "2001:db8:77::/48": (GW6, GW6_B)}
    # back to a single path, and ECMP again
    single = [KernelRoute("10.77.0.0/16", (GW4_B,)), KernelRoute("2001:db8:77::/48", (GW6,))]
    table.apply(single, [])
    assert kernel_view() == {"10.77.0.0/16": (GW4_B,), "2001:db8:77::/48": (GW6,)}
    table.apply([KernelRoute("2001:db8:77::/48", (GW6_B, GW6))], [])
    assert kernel_view()["2001:db8:77::/48"] == (GW6, GW6_B)


def nexthops(ns: str = NS_A) -> list[dict]:
    return json.loads(ip("-j", "-n", ns, "nexthop", "show") or "[]")


def nhids(ns: str = NS_A) -> dict[str, int | None]:
    """prefix -> the nexthop id its route goes through (None: gateways spelled out)."""
    return {_canon(r["dst"], fam): r.get("nhid")
            for fam in ("-4", "-6")
            for r in json.loads(ip("-j", "-n", ns, fam, "route", "show", "proto", "bgp") or "[]")}


@pytest.mark.e2e
def test_routes_go_through_shared_nexthop_objects(table: RouteTable) -> None:
    res = table.apply(v4_routes(200) + v6_routes(20)
                      + [KernelRoute("10.78.0.0/16", (GW4, GW4_B))], [])
    assert (res.added, res.failures) == (221, [])
    ids = nhids()
    assert None not in ids.values()
    # one object per gateway, one group per ECMP set: 3 ids for 221 routes
    assert len(set(ids.values())) == 3
    groups = [nh for nh in nexthops() if "group" in nh]
    assert [nh["id"] for nh in groups] == [ids["10.78.0.0/16"]]
    assert kernel_view()["10.78.0.0/16"] == (GW4, GW4_B)


@pytest.mark.e2e
def test_emptied_gateway_goes_in_one_request(table: RouteTable) -> None:
    many, other = v4_routes(3_000), [KernelRoute("10.250.0.0/24", (GW4_B,))]
    table.apply(many + other + v6_routes(5), [])
    before = {nh["id"] for nh in nexthops()}
    prefixes = [r.prefix for r in many]
    res = table.apply_map({}, prefixes, emptied={(GW4,): prefixes})
    assert (res.removed, res.failures) == (3_000, [])
    view = kernel_view()
    assert not set(prefixes) & set(view)
    assert view["10.250.0.0/24"] == (GW4_B,) and len(view) == 6
    assert len(before - {nh["id"] for nh in nexthops()}) == 1  # GW4's object, only it
    # and the gateway is used again: a new object
    assert table.apply(many[:10], []).added == 10
    assert None not in nhids().values()


@pytest.mark.e2e
def test_emptied_gateway_in_an_ecmp_group_is_removed_route_by_route(table: RouteTable) -> None:
    many = v4_routes(100)
    ecmp = KernelRoute("10.79.0.0/16", (GW4, GW4_B))
    table.apply([*many, ecmp], [])
    prefixes = [r.prefix for r in many]
    res = table.apply_map({}, prefixes, emptied={(GW4,): prefixes})
    assert (res.removed, res.failures) == (100, [])
    assert kernel_view() == {"10.79.0.0/16": (GW4, GW4_B)}  # the group still has both


@pytest.mark.e2e
def test_a_restarted_table_reuses_the_objects(table: RouteTable, netns: str) -> None:
    table.apply([*v4_routes(10), KernelRoute("10.80.0.0/16", (GW4, GW4_B))], [])
    objects = nexthops()
    with RouteTable(netns) as again:
        assert again.apply([*v4_routes(20), KernelRoute("10.81.0.0/16", (GW4_B, GW4))],
                           []).added == 21
    assert nexthops() == objects
    assert len(set(nhids().values())) == 2


@pytest.mark.e2e
def test_an_object_deleted_behind_its_back_is_made_again(table: RouteTable, netns: str) -> None:
    table.apply(v4_routes(10), [])
    [nh_id] = set(nhids().values())
    ip("-n", netns, "nexthop", "del", "id", str(nh_id))  # its routes go with it
    assert kernel_view() == {}
    res = table.apply(v4_routes(10), [])  # refused once through the old id, then spelled
    assert (res.added, res.failures) == (10, [])
    assert len(kernel_view()) == 10
    assert table.apply(v4_routes(10), []).added == 10
    assert None not in nhids().values()  # a new object for them


@pytest.mark.e2e
def test_list_is_exactly_what_is_installed(table: RouteTable, netns: str) -> None:
    assert table.list() == {}
    table.apply(
        [KernelRoute("0.0.0.0/0", (GW4,)), KernelRoute("::/0", (GW6,)),
         KernelRoute("10.5.5.5/32", (GW4,)), KernelRoute("2001:DB8:5::/48", (GW6,))],
        [],
    )  # fmt: skip
    # not ours: another protocol, and our protocol in another table
    ip("-n", netns, "route", "add", "10.6.0.0/16", "via", GW4, "proto", "static")
    ip("-n", netns, "route", "add", "10.7.0.0/16", "via", GW4, "proto", "bgp", "table", "100")
    ip("-n", netns, "route", "add", "10.8.0.0/16", "via", GW4, "proto", "bgp", "table", "1000")
    try:
        assert table.list() == {
            "0.0.0.0/0": KernelRoute("0.0.0.0/0", (GW4,)),
            "::/0": KernelRoute("::/0", (GW6,)),
            "10.5.5.5/32": KernelRoute("10.5.5.5/32", (GW4,)),
            "2001:db8:5::/48": KernelRoute("2001:db8:5::/48", (GW6,)),
        }
        assert listed(table) == kernel_view()
        assert table.count() == 4
        with RouteTable(netns, table=100) as other:
            assert other.list() == {"10.7.0.0/16": KernelRoute("10.7.0.0/16", (GW4,))}
            assert other.count() == 1
        with RouteTable(netns, table=1000) as high:  # the table id is in RTA_TABLE only
            assert list(high.list()) == ["10.8.0.0/16"]
            assert high.count() == 1
    finally:
        ip("-n", netns, "route", "del", "10.6.0.0/16", "proto", "static")
        ip("-n", netns, "route", "del", "10.7.0.0/16", "table", "100")
        ip("-n", netns, "route", "del", "10.8.0.0/16", "table", "1000")


@pytest.mark.e2e
def test_flush(table: RouteTable, netns: str) -> None:
    table.apply(v4_routes(2_000) + v6_routes(200) + [KernelRoute("10.88.0.0/16", (GW4, GW4_B))], [])
    ip("-n", netns, "route", "add", "10.6.0.0/16", "via", GW4, "proto", "static")
    try:
        assert table.flush() == 2_201
        assert kernel_view() == {}
        assert table.list() == {}
        assert "10.6.0.0/16" in ip("-n", netns, "route", "show", "proto", "static")
        assert table.flush() == 0
    finally:
        ip("-n", netns, "route", "del", "10.6.0.0/16", "proto", "static")


@pytest.mark.e2e
def test_concurrent_callers(table: RouteTable) -> None:
    chunks = [
        [KernelRoute(f"10.{k}.{i}.0/24", (GW4,)) for i in range(250)] for k in range(100, 108)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda rs: table.apply(rs, []), chunks))
    assert sum(r.added for r in results) == 2_000
    assert all(not r.failures for r in results)
    assert len(kernel_view()) == 2_000


@pytest.mark.e2e
def test_missing_namespace() -> None:
    with pytest.raises(OSError):
        RouteTable("tkn-does-not-exist")
    assert not os.path.exists("/run/netns/tkn-does-not-exist")
