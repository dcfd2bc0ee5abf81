"""Customer routers: the kind registry, FRR / BIRD configuration rendering and parsing, the
announcement book (no root)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.core.model import ArgumentError
from controller.drivers.speaker import SpeakerHub
from controller.drivers.store import Store
from lab.routers import daemon_router as common
from lab.routers import registry
from lab.routers.announcements import AnnouncementBook, normalise_base
from lab.routers.bird import BirdRouter, parse_protocols
from lab.routers.daemon_router import DaemonRouter, md5_failures
from lab.routers.frr import FrrRouter, _frr_reason, parse_running_config, route_map_name
from lab.routers.kind import CustomerRouter, RouterContext, SpeakerListener
from lab.scenario.addressing import build_topology
from lab.scenario.file import validate
from lab.scenario.model import NAME_RE, SCENARIO_DIR, AnnounceSpec
from lab.scenario.parse import load_scenario
from lab.scenario.topology import CustomerSession, CustomerWiring

SESSIONS = [CustomerSession("link-lab", "ipv4", "169.254.0.17", "169.254.0.16"),
            CustomerSession("link-lab", "ipv6", "2001:db8:fc60::1", "2001:db8:fc60::")]
BASE = ["198.51.100.0/24", ("2001:db8:100::/48", ["12876:42200"])]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def frr(store: Store, tmp_path: Path, **kw: Any) -> FrrRouter:
    args: dict[str, Any] = {"hold_time": 9, "md5_password": "pw", "workdir": tmp_path}
    args.update(kw)
    return FrrRouter(store, "trt-x-c", 64512, SESSIONS, BASE, **args)


def bird(store: Store, tmp_path: Path, **kw: Any) -> BirdRouter:
    args: dict[str, Any] = {"hold_time": 9, "md5_password": "pw", "workdir": tmp_path}
    args.update(kw)
    return BirdRouter(store, "trt-x-c", 64512, SESSIONS, BASE, **args)


# --- the registry -----------------------------------------------------------------------------


def context(store: Store, tmp_path: Path) -> RouterContext:
    def listen(speaker: str, listener: SpeakerListener) -> Callable[[], None]:
        return lambda: None

    return RouterContext(store=store, workdir=tmp_path / "r", hold_time=9,
                         hub=SpeakerHub(tmp_path / "hub.sock", lambda s, e: None),
                         ensure_speaker=lambda name, netns, neighbors: None, listen=listen)


CUSTOMER = CustomerWiring(
    name="acme", router="?", asn=64512, netns="trt-x-c", lan_host_netns="trt-x-h",
    lan_v4="198.51.100.0/24", lan_v6=None, announce=(AnnounceSpec("198.51.100.0/24"),),
    md5_password=None, sessions=tuple(SESSIONS))


def test_registry() -> None:
    names = registry.names()
    assert len(set(names)) == len(names) and all(NAME_RE.match(n) for n in names)
    assert [k.name for k in registry.kinds()] == list(names)
    assert all(registry.get(n).name == n for n in names)
    assert set(registry.kernel_protos()) == {k.kernel_proto for k in registry.kinds()}
    assert len(registry.kernel_protos()) == len(set(registry.kernel_protos()))
    with pytest.raises(registry.UnknownRouterKind, match="unknown router kind 'quagga'"):
        registry.get("quagga")


@pytest.mark.parametrize("kind", registry.names())
def test_every_kind_builds_a_router_for_a_customer(kind: str, store: Store,
                                                   tmp_path: Path) -> None:
    router: CustomerRouter = registry.get(kind).factory(CUSTOMER, context(store, tmp_path))
    assert (router.name, router.netns, list(router.sessions)) == ("acme", "trt-x-c", SESSIONS)
    assert router.announced() == [{"prefix": "198.51.100.0/24", "communities": [],
                                   "link": None}]
    asyncio.run(router.update(dataclasses.replace(CUSTOMER, netns="trt-y-c")))
    assert router.netns == "trt-y-c"


def test_kinds_refuse_customers_they_cannot_hold() -> None:
    topo = build_topology(load_scenario("redundant"), "tr")
    (acme,) = topo.customers  # two links: two sessions per family, per-link announcements
    one_link = dataclasses.replace(acme, sessions=acme.sessions[:2],
                                   announce=tuple(dataclasses.replace(a, link=None)
                                                  for a in acme.announce))
    for kind in registry.kinds():
        assert kind.refusal(one_link) is None
        reason = kind.refusal(acme)
        if kind.per_link_sessions:
            assert reason is None
        else:
            assert reason is not None and "one session per family" in reason
        per_link_announce = dataclasses.replace(one_link, announce=acme.announce)
        assert (kind.refusal(per_link_announce) is None) == kind.per_link_sessions


def test_scenario_files_accept_the_registered_kinds_only(tmp_path: Path) -> None:
    text = (SCENARIO_DIR / "basic.yaml").read_text()
    assert "  router: exabgp\n" in text
    for kind in registry.names():
        p = tmp_path / f"{kind}.yaml"
        p.write_text(text.replace("  router: exabgp\n", f"  router: {kind}\n"))
        assert [i for i in validate(p, registry.names()) if i.severity == "error"] == []
    p = tmp_path / "quagga.yaml"
    p.write_text(text.replace("  router: exabgp\n", "  router: quagga\n"))
    line = text[:text.index("  router: exabgp")].count("\n") + 1
    (err,) = [i for i in validate(p, registry.names()) if i.severity == "error"]
    assert (err.line, err.col) == (line, 11), str(err)
    assert "'quagga' is not one of" in err.message and all(n in err.message
                                                           for n in registry.names())
    assert validate(p, [*registry.names(), "quagga"]) == []  # the enum is the callers'


# --- input checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "message"), [
    ({"asn": 0}, "ASN must be"),
    ({"hold_time": 2}, "hold time must be"),
    ({"md5_password": 'a"b'}, "MD5 password"),
    ({"md5_password": ""}, "MD5 password"),
    ({"sessions": []}, "at least one session"),
    ({"sessions": [CustomerSession("l", "ipv4", "2001:db8::1", "169.254.0.16")]},
     "is not ipv4"),
    ({"sessions": [CustomerSession("l", "ipv4", "x", "169.254.0.16")]}, "not an IP address"),
    ({"sessions": SESSIONS[:1] * 2}, "more than one ipv4"),
    ({"sessions": [CustomerSession("l", "ip", "1.1.1.1", "1.1.1.2")]}, "ipv4 or ipv6"),
    ({"name": "a/b"}, "bad customer name"),
])
def test_bad_arguments(store: Store, tmp_path: Path, kw: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"store": store, "netns": "n", "asn": 64512, "sessions": SESSIONS,
                            "base_announce": [], "hold_time": 9, "md5_password": None,
                            "workdir": tmp_path}
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        FrrRouter(**args)


def test_bad_base_announcement(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"prefixes\.0"):
        FrrRouter(store, "n", 1, SESSIONS, ["10.0.0.1/33"], 9, None, tmp_path)
    with pytest.raises(ArgumentError, match=r"communities\.0"):
        normalise_base([("10.0.0.0/8", ["12876"])])
    with pytest.raises(ValueError, match="bad base announcement"):
        normalise_base([42])
    assert normalise_base(["10.1.2.0/24", {"prefix": "2001:db8::/32", "communities": ["1:2"]},
                           ("10.0.0.0/8", ["1:1"]), AnnounceSpec("10.3.0.0/16", ("3:3",))]) == {
        "10.1.2.0/24": (), "2001:db8::/32": ("1:2",), "10.0.0.0/8": ("1:1",),
        "10.3.0.0/16": ("3:3",)}


def test_announce_rejects_bad_input_before_touching_the_daemon(
        store: Store, tmp_path: Path) -> None:
    r = frr(store, tmp_path)
    with pytest.raises(ArgumentError) as exc:
        asyncio.run(r.announce(["10.0.0.0/8", "nope"], ["12876:42200", "x"]))
    assert [d["argument_name"] for d in exc.value.details] == ["prefixes.1", "communities.1"]
    with pytest.raises(ArgumentError):
        asyncio.run(r.withdraw(["300.0.0.0/8"]))
    assert store.all("customer_route") == []


# --- the announcement book -------------------------------------------------------------------


def test_withdraw_returns_what_was_announced(store: Store) -> None:
    book = AnnouncementBook(store, "customer", {"198.51.100.0/24": ()})
    book.announce(["10.0.0.0/16"], [])
    many = [f"10.{i // 256}.{i % 256}.0/24" for i in range(300)]
    assert book.withdraw(["10.0.0.0/16", "198.51.100.0/24", *many, "10.0.0.0/16"]) == [
        "10.0.0.0/16", "198.51.100.0/24"]
    assert book.desired() == {}
    assert book.withdraw(["10.0.0.0/16"]) == []  # already gone


def test_book_persists_per_customer(store: Store) -> None:
    a = AnnouncementBook(store, "a", {"198.51.100.0/24": ()})
    b = AnnouncementBook(store, "b", {"198.51.100.0/24": ()})
    a.announce(["10.0.0.0/8"], ["12876:42200"])
    a.withdraw(["198.51.100.0/24"])  # a base prefix: remembered as withdrawn
    assert a.desired() == {"10.0.0.0/8": ("12876:42200",)}
    assert b.desired() == {"198.51.100.0/24": ()}
    assert {d["prefix"] for d in store.all("customer_withdrawn")} == {"198.51.100.0/24"}
    assert store.get("customer_route", "a/10.0.0.0/8") == {
        "customer": "a", "prefix": "10.0.0.0/8", "communities": ["12876:42200"], "link": None}
    a.announce(["198.51.100.0/24"], [])  # re-announced: no longer withdrawn
    a.withdraw(["10.0.0.0/8"])
    assert a.as_list() == [{"prefix": "198.51.100.0/24", "communities": [], "link": None}]
    assert store.all("customer_withdrawn") == []


def test_book_reads_the_exabgp_routers_entries_as_customer(store: Store) -> None:
    with store.transaction() as tx:  # as older ExaBGP customer routers wrote them
        tx.put("customer_route", "10.9.0.0/16", {"prefix": "10.9.0.0/16", "communities": []})
    assert AnnouncementBook(store, "customer", {}).desired() == {"10.9.0.0/16": ()}
    assert AnnouncementBook(store, "other", {}).desired() == {}


# --- FRR ------------------------------------------------------------------------------------


def test_frr_config(store: Store, tmp_path: Path) -> None:
    text = frr(store, tmp_path).bgpd_config({"198.51.100.0/24": (),
                                             "2001:db8:100::/48": ("12876:42200",)})
    lines = [ln.rstrip() for ln in text.splitlines()]
    for needed in ["router bgp 64512", " bgp router-id 169.254.0.17",
                   " no bgp ebgp-requires-policy", " no bgp network import-check",
                   " no bgp default ipv4-unicast",
                   " neighbor 169.254.0.16 remote-as 12876",
                   " neighbor 169.254.0.16 timers 3 9",
                   " neighbor 169.254.0.16 timers connect 2",
                   " neighbor 2001:db8:fc60:: password pw",
                   "route-map ILAB-C-12876-42200 permit 10", " set community 12876:42200"]:
        assert needed in lines, needed
    v4 = lines[lines.index(" address-family ipv4 unicast"):]
    v4 = v4[:v4.index(" exit-address-family")]
    assert v4[1:] == ["  network 198.51.100.0/24", "  neighbor 169.254.0.16 activate"]
    v6 = lines[lines.index(" address-family ipv6 unicast"):]
    v6 = v6[:v6.index(" exit-address-family")]
    assert v6[1:] == ["  network 2001:db8:100::/48 route-map ILAB-C-12876-42200",
                      "  neighbor 2001:db8:fc60:: activate"]
    no_md5 = frr(store, tmp_path, md5_password=None, hold_time=0).bgpd_config({})
    assert "password" not in no_md5 and "timers 0 0" in no_md5


def test_frr_running_config_parse() -> None:
    text = """router bgp 64512
 no bgp network import-check
 neighbor 169.254.0.16 remote-as 12876
 !
 address-family ipv4 unicast
  network 10.0.0.0/8
  network 198.51.100.0/24 route-map ILAB-C-12876-42200
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:100::/48
 exit-address-family
exit
!
route-map ILAB-C-12876-42200 permit 10
 set community 12876:42200
exit
"""
    networks, maps = parse_running_config(text)
    assert networks == {"10.0.0.0/8": None, "198.51.100.0/24": "ILAB-C-12876-42200",
                        "2001:db8:100::/48": None}
    assert maps == {"ILAB-C-12876-42200"}
    assert route_map_name(["12876:42100", "12876:42200"]) == "ILAB-C-12876-42100_12876-42200"


def test_frr_reason() -> None:
    assert _frr_reason({"lastResetDueTo": "No AFI/SAFI activated for peer",
                        "connectionsEstablished": 0, "connectionsDropped": 0}) is None
    assert _frr_reason({"lastResetDueTo": "BGP Notification received",
                        "connectionsDropped": 1}) == "BGP Notification received"
    assert _frr_reason({"lastNotificationReason": "OPEN Message Error/Bad Peer AS",
                        "lastResetDueTo": "x"}) == "OPEN Message Error/Bad Peer AS"


# --- BIRD -----------------------------------------------------------------------------------


def test_bird_config(store: Store, tmp_path: Path) -> None:
    r = bird(store, tmp_path)
    text = r.bird_config()
    for needed in ["router id 169.254.0.17;", "protocol bgp ilab_bgp4 {",
                   "local 169.254.0.17 as 64512;", "neighbor 169.254.0.16 as 12876;",
                   "neighbor 2001:db8:fc60:: as 12876;", "hold time 9;", "keepalive time 3;",
                   "connect retry time 2;", "connect delay time 0;", 'password "pw";',
                   'export where proto = "ilab_static6";',
                   "ipv4 { import none; export where source = RTS_BGP; };",
                   f'include "{tmp_path / "bird" / "announce.conf"}";']:
        assert needed in text, needed
    ann = r.announce_config({"198.51.100.0/24": (), "10.0.0.0/8": ("12876:42200", "1:2"),
                             "2001:db8:100::/48": ("12876:42050",)})
    assert ("route 10.0.0.0/8 unreachable { bgp_community.add((12876,42200)); "
            "bgp_community.add((1,2)); };") in ann
    assert ann.index("10.0.0.0/8") < ann.index("198.51.100.0/24")
    assert "route 2001:db8:100::/48 unreachable { bgp_community.add((12876,42050)); };" in ann
    assert "protocol static ilab_static6 {" in ann


def test_bird_protocols_parse() -> None:
    text = """BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     12:00:00.000
ilab_kernel4 Kernel   master4    up     12:00:00.000
ilab_bgp4  BGP        ---        up     12:00:00.100  Established
ilab_bgp6  BGP        ---        start  12:00:00.100  Active        Received: Bad peer AS
"""
    assert parse_protocols(text) == {
        "ilab_bgp4": ("up", "Established", None),
        "ilab_bgp6": ("start", "Active", "Received: Bad peer AS")}


# --- session details and MD5 ------------------------------------------------------------------


class FakeRouter(DaemonRouter):
    NAME = "fake"
    MAIN_DAEMON = "fake"

    def __init__(self, store: Store, tmp_path: Path):
        super().__init__(store, "n", 64512, SESSIONS, [], 9, None, tmp_path)
        self.states: dict[str, tuple[str, str | None]] = {}
        self.alive = True
        self.helper_alive = True  # a second daemon, as FRR's zebra

    def _running(self) -> bool:
        return self.alive

    def _peer_states(self) -> dict[str, tuple[str, str | None]]:
        return self.states

    def daemons(self) -> dict[str, int | None]:
        return {"helper": os.getpid() if self.helper_alive else None,
                "fake": os.getpid() if self.alive else None}


def test_session_details_and_md5(store: Store, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    counters = {"TCPMD5Failure": 0, "TCPMD5NotFound": 0, "TCPMD5Unexpected": 0}
    monkeypatch.setattr(common, "md5_failures", lambda pid: dict(counters))
    r = FakeRouter(store, tmp_path)
    r.states = {"169.254.0.16": ("Established", None),
                "2001:db8:fc60::": ("Active", "Socket: Connection refused")}
    assert r.sessions_state() == {"169.254.0.16": "up", "2001:db8:fc60::": "down"}
    assert r.session_details()["2001:db8:fc60::"]["reason"] == "Socket: Connection refused"
    counters["TCPMD5Failure"] = 3
    d = r.session_details()
    assert d["2001:db8:fc60::"]["reason"] == "TCP-MD5 authentication failures (TCPMD5Failure +3)"
    assert d["169.254.0.16"]["reason"] is None
    r.states["2001:db8:fc60::"] = ("Established", None)  # all up: old failures forgotten
    r.session_details()
    r.states["2001:db8:fc60::"] = ("Connect", None)
    assert r.session_details()["2001:db8:fc60::"]["reason"] is None
    r.states["169.254.0.16"] = ("Established", None)
    r.helper_alive = False  # the main daemon still holds its sessions
    assert r.session_details()["169.254.0.16"]["state"] == "up"
    r.helper_alive = True
    r.alive = False
    assert r.session_details()["169.254.0.16"] == {
        "state": "down", "bgp_state": "not running", "reason": "fake is not running",
        "why": "fake is not running", "link": "link-lab", "family": "ipv4"}


def test_md5_counters_of_a_real_netns() -> None:
    got = md5_failures(os.getpid())
    assert set(got) == {"TCPMD5Failure", "TCPMD5NotFound", "TCPMD5Unexpected"}
    assert md5_failures(2**22 + 12345) == {}


def test_frr_apply_diffs_and_chunks(store: Store, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    r = frr(store, tmp_path)
    calls: list[tuple[str, ...]] = []
    running = "router bgp 64512\n address-family ipv4 unicast\n  network 10.0.0.0/8\n" \
              "  network 198.51.100.0/24\n exit-address-family\nexit\n"

    def vtysh(*cmds: str, timeout: float = 30.0) -> str:
        calls.append(cmds)
        return running if cmds == ("show running-config",) else ""

    monkeypatch.setattr(r, "vtysh", vtysh)
    asyncio.run(r._apply({"198.51.100.0/24": ("12876:42200",), "2001:db8::/32": ()}))
    assert calls == [("show running-config",), (
        "configure terminal", "route-map ILAB-C-12876-42200 permit 10",
        "set community 12876:42200", "exit", "router bgp 64512",
        "address-family ipv4 unicast", "no network 10.0.0.0/8",
        "network 198.51.100.0/24 route-map ILAB-C-12876-42200", "exit-address-family",
        "address-family ipv6 unicast", "network 2001:db8::/32", "exit-address-family")]
    calls.clear()
    asyncio.run(r._apply({"198.51.100.0/24": ("12876:42200",), "2001:db8::/32": ()}))
    assert calls == []  # nothing changed: no vtysh at all
    many = {f"10.{i // 256}.{i % 256}.0/24": () for i in range(5000)}
    asyncio.run(r._apply(many))
    assert len(calls) == 3 and all(len(c) <= 2 * 2000 for c in calls)
    sent = [c for call in calls for c in call if c.startswith("network ")]
    assert len(sent) == 5000
