"""The lab's data plane on a real kernel, no BGP: the routes a BGP controller would install are
added by hand. Default lab (`tdp`): scapy proves on-prem <-> VPC traffic (v4 + v6), tcpdump the
802.1Q tag on the partner's ports, a cut blocks tcp/179 but not ICMP. Two tenants (`tdt`):
per-tenant traffic flows, cross-tenant traffic and cross-VLAN frames do not. `sync` adds
and removes links (and renames namespaces) under a running ping without losing a packet.
Redundant (`tdr`): both paths of one customer to one VPC carry traffic. Teardown leaves
nothing behind."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lab.control.polling import assert_stays, wait_for
from lab.dataplane import faults, iproute, probes
from lab.dataplane.build import LabBuildError, build
from lab.dataplane.nodes import runtime
from lab.dataplane.sync import sync
from lab.dataplane.teardown import existing_namespaces, teardown
from lab.scenario.addressing import build_topology
from lab.scenario.model import LinkSpec, Scenario
from lab.scenario.parse import load_scenario
from lab.scenario.topology import LinkWiring, Topology

LAB = "tdp"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def ip(netns_name: str, *args: str) -> str:
    return subprocess.run(("ip", "-n", netns_name, *args), check=True, capture_output=True,
                          text=True).stdout


def _clean() -> None:
    teardown(LAB, existing_namespaces(LAB))


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    t = build_topology(load_scenario("basic"), lab=LAB)
    _clean()  # leftovers of an interrupted run
    try:
        build(t)
        w = t.links[0]
        lan4, lan6 = "198.51.100.0/24", "2001:db8:100::/64"
        # What the BGP side would install.
        for prefix, via in (("203.0.113.0/24", w.scw_v4), ("2001:db8:200::/64", w.scw_v6)):
            ip(w.customer_netns, "route", "add", prefix, "via", str(via))
        for prefix, via in ((lan4, w.peer_v4), (lan6, w.peer_v6)):
            ip(w.scw_netns, "route", "add", prefix, "via", str(via))
        for prefix, via in ((lan4, w.scw_transit_v4), (lan6, w.scw_transit_v6)):
            ip(w.vpc_router_netns, "route", "add", prefix, "via", via)
        yield t
    finally:
        _clean()
        assert existing_namespaces(LAB) == []


def test_namespaces_and_addresses(topo: Topology) -> None:
    assert existing_namespaces(LAB) == sorted(topo.netns_names)
    for node in topo.nodes:
        out = ip(node.netns, "-br", "addr")
        for cidr in topo.node_addresses(node):
            assert cidr in out, f"{cidr} missing on {node.name}"
    assert "2001:db8:fc60::1/127" in ip("tdp-customer-router", "-br", "addr", "show", "il0.2451")
    ports = ip("tdp-partner", "-o", "link", "show", "master", "br0")
    assert "cust0@" in ports and "scw0@" in ports and ports.count("state UP") == 2
    with pytest.raises(LabBuildError, match="already exist"):
        build(topo)  # refuses, and does not touch the running lab
    assert existing_namespaces(LAB) == sorted(topo.netns_names)


@pytest.mark.parametrize("dst", ["2001:db8:200::10", "203.0.113.10"])  # v6 first: fresh ND
def test_scapy_ping_onprem_to_vpc(topo: Topology, dst: str) -> None:
    # Empty neighbour caches: scapy must resolve the next hop (ARP / NS) by itself.
    for node in ("onprem-host", "customer-router", "vpc-router", "vpc-instance"):
        ip(topo.netns(node), "neigh", "flush", "all")
    r = probes.ping("tdp-onprem-host", dst, count=3, timeout=2.0)
    assert (r.sent, r.received, r.family) == (3, 3, 6 if ":" in dst else 4), r
    assert len(r.rtt_ms) == 3 and all(0 < x < 1000 for x in r.rtt_ms)


def test_kernel_routes_read_back(topo: Topology) -> None:
    w = topo.links[0]
    got = {r["prefix"]: r for r in iproute.routes(w.customer_netns)}
    assert got["203.0.113.0/24"] == {"prefix": "203.0.113.0/24", "via": str(w.scw_v4),
                                     "dev": w.customer_ifname, "proto": ""}  # boot
    assert got["2001:db8:200::/64"]["via"] == str(w.scw_v6)
    assert "169.254.0.16/31" not in got and not any(p.startswith("fe80") for p in got)
    assert iproute.routes(w.customer_netns, proto="bgp") == []
    assert iproute.routes("tdp-onprem-host", proto="static") == []  # they are proto boot
    assert [r["prefix"] for r in iproute.routes("tdp-onprem-host")
            if r["via"]] == ["0.0.0.0/0", "::/0"]


def test_udp_crosses_without_nat(topo: Topology) -> None:
    for dst, src in (("203.0.113.10", "198.51.100.10"), ("2001:db8:200::10", "2001:db8:100::10")):
        r = probes.udp_probe("tdp-onprem-host", "tdp-vpc-instance", dst, 40001)
        assert r.delivered and r.source == src, r
    assert probes.ping_fast("tdp-vpc-instance", "198.51.100.10")
    assert not probes.ping_fast("tdp-onprem-host", "203.0.113.99", timeout=0.3)


def _tcpdump(ns: str, iface: str, count: int, bpf: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-e", "-nn", "-l",
                          "-c", str(count), *bpf.split()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    seen = ""
    while "listening on" not in seen:  # printed once the capture is armed
        line = p.stderr.readline()
        assert line, f"tcpdump did not start: {seen}"
        seen += line
    return p


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_vlan_tag_on_partner_ports(topo: Topology) -> None:
    caps = {port: _tcpdump("tdp-partner", port, 2, "vlan 2451 and icmp")
            for port in ("cust0", "scw0")}
    try:
        assert probes.ping_fast("tdp-onprem-host", "203.0.113.10")
        for port, cap in caps.items():
            out, _ = cap.communicate(timeout=5)
            lines = out.strip().splitlines()
            assert len(lines) == 2, (port, out)
            for line in lines:
                assert re.search(r"ethertype 802\.1Q \(0x8100\).*vlan 2451", line), line
    finally:
        for cap in caps.values():
            if cap.poll() is None:
                cap.kill()
                cap.wait()


def test_vlan_isolation(topo: Topology) -> None:
    # Untagged traffic between the trunk parents must not cross the VLAN-aware partner switch.
    m = re.search(r"inet6 (fe80::\S+)/64", ip("tdp-scw-interlink", "-6", "addr", "show", "pe0"))
    assert m
    p = subprocess.run(["ip", "netns", "exec", "tdp-customer-router", "ping", "-6", "-c1",
                        "-W0.5", f"{m.group(1)}%il0"], capture_output=True, check=False)
    assert p.returncode != 0
    m2 = re.search(r"inet6 (fe80::\S+)/64",
                   ip("tdp-scw-interlink", "-6", "addr", "show", "pe0.2451"))
    assert m2
    p = subprocess.run(["ip", "netns", "exec", "tdp-customer-router", "ping", "-6", "-c1",
                        "-W1", f"{m2.group(1)}%il0.2451"], capture_output=True, check=False)
    assert p.returncode == 0


def _tcp_connects(src_ns: str, dst_ns: str, addr: str, timeout: float = 0.5) -> bool:
    af = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = runtime().enter(dst_ns, lambda: socket.socket(af, socket.SOCK_STREAM))
    cli = runtime().enter(src_ns, lambda: socket.socket(af, socket.SOCK_STREAM))
    try:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((addr, 179))
        srv.listen()
        cli.settimeout(timeout)
        try:
            cli.connect((addr, 179))
            return True
        except OSError:
            return False
    finally:
        cli.close()
        srv.close()


def test_cut_blocks_bgp_not_icmp(topo: Topology) -> None:
    w = topo.links[0]
    pairs = [(w.peer_v4, w.scw_v4), (w.peer_v6, w.scw_v6)]
    for peer, scw in pairs:
        assert peer and scw
        assert _tcp_connects(w.scw_netns, w.customer_netns, peer)
        assert _tcp_connects(w.customer_netns, w.scw_netns, scw)
    try:
        for peer, _ in pairs:
            assert faults.cut(w.scw_netns, str(peer))
            assert not faults.cut(w.scw_netns, str(peer))  # idempotent
        assert faults.active_cuts(w.scw_netns) == sorted([str(w.peer_v4), str(w.peer_v6)])
        for peer, scw in pairs:
            assert not _tcp_connects(w.scw_netns, w.customer_netns, str(peer))  # outbound
            assert not _tcp_connects(w.customer_netns, w.scw_netns, str(scw))  # inbound
            assert probes.ping_fast(w.scw_netns, str(peer))  # ICMP still flows
            assert probes.ping_fast(w.customer_netns, str(scw))
        assert probes.ping_fast("tdp-onprem-host", "2001:db8:200::10")  # data plane untouched
    finally:
        for peer, _ in pairs:
            faults.restore(w.scw_netns, str(peer))
    assert faults.active_cuts(w.scw_netns) == []
    assert not faults.restore(w.scw_netns, str(w.peer_v4))
    for peer, _ in pairs:
        assert _tcp_connects(w.scw_netns, w.customer_netns, str(peer))


def test_build_failure_cleans_up() -> None:
    t = build_topology(load_scenario("basic"), lab="tdpf")
    # Break one batch: a route via an unreachable gateway.
    from lab.scenario.topology import Route
    bad = replace(t, routes=(*t.routes, Route("vpc-instance", "tdpf-vpc-instance",
                                              "10.99.0.0/16", "10.98.0.1")))
    try:
        with pytest.raises(LabBuildError, match="tdpf-vpc-instance"):
            build(bad)
        assert existing_namespaces("tdpf") == []
    finally:
        teardown("tdpf")


def test_teardown_kills_processes() -> None:
    t = build_topology(load_scenario("basic"), lab="tdpk")
    build(t)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(["ip", "netns", "exec", "tdpk-partner", "sleep", "300"]))
        # Ignores SIGTERM (and so does its sleep, the disposition survives exec): needs SIGKILL.
        procs.append(subprocess.Popen(["ip", "netns", "exec", "tdpk-vpc-router", "sh", "-c",
                                       "trap '' TERM; sleep 300; true"]))
        def started() -> bool:
            found = runtime().pids(["tdpk-partner", "tdpk-vpc-router"])
            return len(found["tdpk-partner"]) >= 1 and len(found["tdpk-vpc-router"]) >= 2

        wait_for(started, "the sleeps running in both nodes", timeout=5)
        pids = {p.pid for p in procs}
        r = teardown("tdpk", grace=0.3)
        assert pids <= set(r.terminated)
        assert procs[1].pid in r.killed and procs[0].pid not in r.killed
        assert sorted(r.removed) == sorted(t.netns_names) and r.missing == ()
        for p in procs:
            assert p.wait(timeout=5) in (-signal.SIGTERM, -signal.SIGKILL)
        assert existing_namespaces("tdpk") == []
        assert teardown("tdpk", t.netns_names).missing == t.netns_names  # idempotent
    finally:
        teardown("tdpk")
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_teardown_refuses_foreign_namespaces() -> None:
    with pytest.raises(ValueError, match="outside lab"):
        teardown(LAB, ["tsp-a"])


def test_no_root_namespace_changes(topo: Topology) -> None:
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                check=True).stdout
    for name in ("il0", "pe0", "cust0", "scw0", "br0", "vpc0", "lan0", "pn0"):
        assert not re.search(rf"^\d+: {re.escape(name)}[@:]", root_links, re.M), name


# --------------------------------------------------------------------------- helpers (N links)


def _routes_by_hand(t: Topology, w: LinkWiring) -> None:
    """What the BGP side would install for link `w`: customer LAN <-> the link's VPC."""
    c = t.customer(w.customer)
    assert w.vpc_router_netns and w.scw_transit_v4 and w.scw_transit_v6
    for subnet in w.vpc_subnets:
        via = w.scw_v6 if ":" in subnet else w.scw_v4
        ip(w.customer_netns, "route", "replace", subnet, "via", str(via))
    for lan, v6 in ((c.lan_v4, False), (c.lan_v6, True)):
        assert lan
        ip(w.scw_netns, "route", "replace", lan, "via", str(w.peer_v6 if v6 else w.peer_v4))
        ip(w.vpc_router_netns, "route", "replace", lan, "via",
           w.scw_transit_v6 if v6 else w.scw_transit_v4)


def _lab_fixture(path: Path, lab: str) -> Iterator[Topology]:
    t = build_topology(load_scenario(str(path)), lab=lab)
    teardown(lab)  # leftovers of an interrupted run
    try:
        build(t)
        for w in t.links:
            _routes_by_hand(t, w)
        yield t
    finally:
        teardown(lab)
        assert existing_namespaces(lab) == []


def _instance(t: Topology, vpc: str, family: int) -> str:
    return t.vpc(vpc).instances[0].addresses[0 if family == 4 else 1]


class _Ping:
    """iputils ping in the background, `count` echoes 10 ms apart (~1.5 s): with a count, ping
    waits for the last replies, so its tally is exact (no echo in flight at the end)."""

    def __init__(self, src_netns: str, dst: str, count: int = 150) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", src_netns, "ping", "-n", "-i",
                                      "0.01", "-W", "1", "-c", str(count), dst],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the PING header
        deadline = time.monotonic() + 5
        while "bytes from" not in line:  # running once the first reply came back
            assert time.monotonic() < deadline and line, f"ping {dst} did not start: {line}"
            line = self.proc.stdout.readline()

    def running(self) -> bool:
        return self.proc.poll() is None

    def result(self) -> tuple[int, int]:
        out, _ = self.proc.communicate(timeout=10)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert m, out
        return int(m.group(1)), int(m.group(2))


def _kill(p: _Ping) -> None:
    if p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()


# --------------------------------------------------------------------------- two tenants


TENANTS = FIXTURES / "two_tenants.yaml"


@pytest.fixture(scope="module")
def tenants() -> Iterator[Topology]:
    yield from _lab_fixture(TENANTS, "tdt")


def test_tenant_names(tenants: Topology) -> None:
    assert existing_namespaces("tdt") == sorted(tenants.netns_names)
    assert [n.name for n in tenants.nodes] == [
        "onprem-host-acme", "customer-router-acme", "onprem-host-globex",
        "customer-router-globex", "partner", "scw-interlink-1", "scw-interlink-2",
        "vpc-router-1", "vpc-router-2", "vpc-instance-1-1", "vpc-instance-2-1"]


@pytest.mark.parametrize("family", [4, 6])
def test_per_tenant_traffic(tenants: Topology, family: int) -> None:
    for cust, vpc in (("acme", "vpc-acme"), ("globex", "vpc-globex")):
        src = tenants.customer(cust).lan_host_netns
        assert probes.ping_fast(src, _instance(tenants, vpc, family)), (cust, family)


def test_no_cross_tenant_traffic(tenants: Topology) -> None:
    acme, globex = tenants.link("link-acme"), tenants.link("link-globex")
    # Both links use the same peering /31: a leak between the VLANs would let acme reach
    # globex's scw-interlink (it has a route to globex's VPC). Give acme's router that route.
    ip(acme.customer_netns, "route", "replace", "10.30.0.0/24", "via", str(acme.scw_v4))
    try:
        for family in (4, 6):
            dst = _instance(tenants, "vpc-globex", family)
            assert not probes.ping_fast("tdt-onprem-host-acme", dst, timeout=0.3)
        assert not probes.ping_fast("tdt-onprem-host-globex", _instance(tenants, "vpc-acme", 4),
                                    timeout=0.3)
        # Each customer router reaches only its own scw-interlink at the shared address.
        before = _rx_packets(globex.scw_netns, "pe0")
        assert probes.ping_fast(acme.customer_netns, str(acme.scw_v4))
        assert _rx_packets(globex.scw_netns, "pe0") == before
    finally:
        ip(acme.customer_netns, "route", "del", "10.30.0.0/24")


def _rx_packets(ns: str, ifname: str) -> int:
    out = ip(ns, "-s", "-j", "link", "show", ifname)
    return int(json.loads(out)[0]["stats64"]["rx"]["packets"])


MAGIC = b"ilab-vlan-probe:"


def _raw(ns: str, ifname: str) -> socket.socket:
    def make() -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind((ifname, 0))  # resolved in the socket's namespace
        s.setblocking(False)
        return s
    return runtime().enter(ns, make)


def _tagged_frame(vid: int, tag: bytes) -> bytes:
    # Broadcast, so the partner's bridge floods it to every port that lets it out.
    head = b"\xff" * 6 + bytes.fromhex("02aabbccdd01") + struct.pack("!HHH", 0x8100, vid, 0x88B5)
    return (head + MAGIC + tag).ljust(64, b"\0")


def test_no_cross_vlan_frames(tenants: Topology) -> None:
    """Frames acme puts on its trunk tagged with globex's VLAN die at the partner's port;
    acme's own VLAN reaches only acme's scw-interlink."""
    send = _raw("tdt-customer-router-acme", "il0")
    watch = {"scw1": _raw("tdt-scw-interlink-1", "pe0"),
             "scw2": _raw("tdt-scw-interlink-2", "pe0"),
             "globex": _raw("tdt-customer-router-globex", "il0")}
    try:
        send.send(_tagged_frame(2452, b"foreign"))  # globex's VLAN, from acme's port
        send.send(_tagged_frame(2451, b"own"))
        seen: dict[str, set[bytes]] = {k: set() for k in watch}

        def look() -> dict[str, set[bytes]]:
            for k, sock in watch.items():
                _drain(sock, seen[k])
            return seen

        # The own frame was sent after the foreign one: once it arrived, the foreign one had
        # its chance too; a short last look catches stragglers on the other ports.
        wait_for(lambda: b"own" in look()["scw1"], "acme's own VLAN frame at scw1", timeout=3)
        assert_stays(lambda: look() == {"scw1": {b"own"}, "scw2": set(), "globex": set()},
                     "the foreign VLAN frame nowhere, the own one only at scw1", 0.05)
    finally:
        send.close()
        for sock in watch.values():
            sock.close()


def _drain(sock: socket.socket, into: set[bytes]) -> None:
    """Read what the socket has queued, recording which probe tags went by."""
    while True:
        try:
            frame = sock.recv(65535)
        except BlockingIOError:
            return
        into |= {t for t in (b"own", b"foreign") if MAGIC + t in frame}


# --------------------------------------------------------------------------- sync


def _with_link(s: Scenario, link: LinkSpec) -> Scenario:
    return replace(s, links=(*s.links, link))


def test_sync_adds_and_removes_a_link_under_traffic() -> None:
    """Default lab + a second link (through a second partner, same VPC) under a running ping:
    the new nodes get new names, scw-interlink and partner keep theirs (and their processes),
    nothing is lost, and the new link carries traffic; removing it again restores the default
    lab exactly."""
    lab = "tds"
    base = load_scenario("basic")
    extra = LinkSpec(name="link-b", vlan=2452, bandwidth_mbps=1000,
                     peering_v4="169.254.0.18/31", peering_v6="2001:db8:fc60::2/127",
                     vpc="vpc-lab", routing_policies=(), enable_route_propagation=False,
                     customer="customer", index=2, partner="pop-b")
    t1 = build_topology(base, lab)
    t2 = build_topology(_with_link(base, extra), lab, t1.node_names)
    assert build_topology(base, lab, t2.node_names) == t1
    teardown(lab)
    pings: list[_Ping] = []
    sleeper: subprocess.Popen[bytes] | None = None
    try:
        build(t1)
        _routes_by_hand(t1, t1.links[0])
        sleeper = subprocess.Popen(["ip", "netns", "exec", f"{lab}-scw-interlink", "sleep",
                                    "300"])
        pings = [_Ping(f"{lab}-onprem-host", "203.0.113.10"),
                 _Ping(f"{lab}-onprem-host", "2001:db8:200::10")]

        r = sync(t1, t2)
        assert all(p.running() for p in pings), "the sync outlasted the pings"
        assert set(r.added_nodes) == {f"{lab}-scw-interlink-2", f"{lab}-partner-pop-b"}
        assert r.removed_nodes == ()
        assert existing_namespaces(lab) == sorted(t2.netns_names)
        assert set(t1.netns_names) < set(t2.netns_names)
        # The process in the kept namespace lives on, in it.
        assert sleeper.poll() is None
        assert sleeper.pid in runtime().pids([f"{lab}-scw-interlink"])[f"{lab}-scw-interlink"]
        # The new link: its VLAN, peering and transit work; then traffic moves to it.
        w2 = t2.link("link-b")
        assert (w2.customer_ifname, w2.scw_transit_v4) == ("il1.2452", "198.18.0.2")
        assert probes.ping_fast(w2.customer_netns, str(w2.scw_v4))
        assert probes.ping_fast(w2.customer_netns, str(w2.scw_v6))
        assert probes.ping_fast(w2.scw_netns, str(w2.vpc_router_transit_v4))
        for p in pings:
            assert p.result() == (150, 150)
        r_again = sync(None, t2)  # a restarting controller: nothing to do
        assert (r_again.added_nodes, r_again.removed_nodes) == ((), ())
        _routes_by_hand(t2, w2)
        assert probes.ping_fast(f"{lab}-onprem-host", "203.0.113.10")
        assert probes.ping_fast(f"{lab}-onprem-host", "2001:db8:200::10")

        # Back to link-a only, ping running on it.
        _routes_by_hand(t2, t2.link("link-lab"))
        pings = [_Ping(f"{lab}-onprem-host", "203.0.113.10")]
        r = sync(t2, t1)
        assert pings[0].running(), "the sync outlasted the ping"
        assert set(r.removed_nodes) == {f"{lab}-scw-interlink-2", f"{lab}-partner-pop-b"}
        assert pings[0].result() == (150, 150)
        assert existing_namespaces(lab) == sorted(t1.netns_names)
        assert sleeper.poll() is None
        for node in t1.nodes:  # exactly the default lab's interfaces and addresses again
            links = {x["ifname"] for x in _ip_json(node.netns, "link")} - {"lo"}
            hidden = {f"{v.parent}q{v.vid}" for v in t1.vlans if v.netns == node.netns}
            assert links == set(t1.interfaces(node.netns)) | hidden, node.name
            addrs = {f"{a['local']}/{a['prefixlen']}" for x in _ip_json(node.netns, "addr")
                     for a in x["addr_info"] if a["family"] == "inet"
                     or not a["local"].startswith("fe80")}
            addrs.discard("127.0.0.1/8")
            addrs.discard("::1/128")
            assert addrs == set(t1.node_addresses(node)), node.name
    finally:
        for p in pings:
            _kill(p)
        teardown(lab)
        if sleeper is not None:
            assert sleeper.wait(timeout=5) is not None
        assert existing_namespaces(lab) == []


def _ip_json(ns: str, what: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(ip(ns, "-j", what, "show"))
    return data


def test_sync_refuses_another_lab() -> None:
    t = build_topology(load_scenario("basic"), "tdx")
    with pytest.raises(ValueError, match="cannot sync lab"):
        sync(t, build_topology(load_scenario("basic"), "tdy"))


def test_sync_refuses_a_renamed_node() -> None:
    """Built without the old names, the grown lab would rename scw-interlink: refused."""
    base = load_scenario("basic")
    extra = replace(base.links[0], name="link-b", vlan=2452, index=2)
    t = build_topology(base, "tdx")
    with pytest.raises(ValueError, match=r"must not change.*scw-interlink -> scw-interlink-1"):
        sync(t, build_topology(_with_link(base, extra), "tdx"))
    assert existing_namespaces("tdx") == []
    assert existing_namespaces("tdy") == []


# --------------------------------------------------------------------------- redundant


@pytest.fixture(scope="module")
def redundant() -> Iterator[Topology]:
    yield from _lab_fixture(FIXTURES / "redundant.yaml", "tdr")


@pytest.mark.parametrize("use", ["link-a", "link-b"])
def test_redundant_paths(redundant: Topology, use: str) -> None:
    """Each InterLink alone carries on-prem <-> VPC traffic (the other one's trunk down)."""
    other = "link-b" if use == "link-a" else "link-a"
    w, o = redundant.link(use), redundant.link(other)
    _routes_by_hand(redundant, w)
    trunk_down = o.customer_ifname.split(".")[0]
    ip(o.customer_netns, "link", "set", trunk_down, "down")
    try:
        before = _rx_packets(w.scw_netns, "pe0")
        for dst in ("203.0.113.10", "2001:db8:200::10"):
            assert probes.ping_fast("tdr-onprem-host", dst), (use, dst)
        assert _rx_packets(w.scw_netns, "pe0") > before  # really through this link
    finally:
        ip(o.customer_netns, "link", "set", trunk_down, "up")
    assert redundant.link("link-a").partner_netns == "tdr-partner-freepro"
    assert redundant.link("link-b").partner_netns == "tdr-partner-linkt"
