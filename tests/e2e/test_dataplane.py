"""The lab's data plane on a real kernel, lab name `tdp`, no BGP: the routes a BGP controller
would install are added by hand, then scapy proves on-prem <-> VPC traffic (v4 + v6), tcpdump
proves the 802.1Q tag on the partner's ports, a cut blocks tcp/179 but not ICMP, and teardown
leaves nothing behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from lab import faults, netns, probes
from lab.netns import run_in_netns
from lab.topology import Topology, build_topology, load_scenario

LAB = "tdp"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="needs root and iproute2"),
]


def ip(netns_name: str, *args: str) -> str:
    return subprocess.run(("ip", "-n", netns_name, *args), check=True, capture_output=True,
                          text=True).stdout


def _clean() -> None:
    netns.teardown(LAB, netns.existing_namespaces(LAB))


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    t = build_topology(load_scenario("basic"), lab=LAB)
    _clean()  # leftovers of an interrupted run
    try:
        netns.build(t)
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
        assert netns.existing_namespaces(LAB) == []


def test_namespaces_and_addresses(topo: Topology) -> None:
    assert netns.existing_namespaces(LAB) == sorted(topo.netns_names)
    for node in topo.nodes:
        out = ip(node.netns, "-br", "addr")
        for cidr in topo.node_addresses(node):
            assert cidr in out, f"{cidr} missing on {node.name}"
    assert "2001:db8:fc60::1/127" in ip("tdp-customer-router", "-br", "addr", "show", "il0.2451")
    ports = ip("tdp-partner", "-o", "link", "show", "master", "br0")
    assert "cust0@" in ports and "scw0@" in ports and ports.count("state UP") == 2
    with pytest.raises(netns.LabBuildError, match="already exist"):
        netns.build(topo)  # refuses, and does not touch the running lab
    assert netns.existing_namespaces(LAB) == sorted(topo.netns_names)


@pytest.mark.parametrize("dst", ["2001:db8:200::10", "203.0.113.10"])  # v6 first: fresh ND
def test_scapy_ping_onprem_to_vpc(topo: Topology, dst: str) -> None:
    # Empty neighbour caches: scapy must resolve the next hop (ARP / NS) by itself.
    for node in ("onprem-host", "customer-router", "vpc-router", "vpc-instance"):
        ip(topo.netns(node), "neigh", "flush", "all")
    r = probes.ping("tdp-onprem-host", dst, count=3, timeout=2.0)
    assert (r.sent, r.received, r.family) == (3, 3, 6 if ":" in dst else 4), r
    assert len(r.rtt_ms) == 3 and all(0 < x < 1000 for x in r.rtt_ms)


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
    srv = run_in_netns(dst_ns, lambda: socket.socket(af, socket.SOCK_STREAM))
    cli = run_in_netns(src_ns, lambda: socket.socket(af, socket.SOCK_STREAM))
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
    from dataclasses import replace

    from lab.topology import Route
    bad = replace(t, routes=(*t.routes, Route("vpc-instance", "tdpf-vpc-instance",
                                              "10.99.0.0/16", "10.98.0.1")))
    try:
        with pytest.raises(netns.LabBuildError, match="tdpf-vpc-instance"):
            netns.build(bad)
        assert netns.existing_namespaces("tdpf") == []
    finally:
        netns.teardown("tdpf")


def test_teardown_kills_processes() -> None:
    t = build_topology(load_scenario("basic"), lab="tdpk")
    netns.build(t)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(["ip", "netns", "exec", "tdpk-partner", "sleep", "300"]))
        # Ignores SIGTERM (and so does its sleep, the disposition survives exec): needs SIGKILL.
        procs.append(subprocess.Popen(["ip", "netns", "exec", "tdpk-vpc-router", "sh", "-c",
                                       "trap '' TERM; sleep 300; true"]))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = netns.pids_in_namespaces(["tdpk-partner", "tdpk-vpc-router"])
            if len(found["tdpk-partner"]) >= 1 and len(found["tdpk-vpc-router"]) >= 2:
                break
            time.sleep(0.02)
        pids = {p.pid for p in procs}
        r = netns.teardown("tdpk", grace=0.3)
        assert pids <= set(r.terminated)
        assert procs[1].pid in r.killed and procs[0].pid not in r.killed
        assert sorted(r.removed) == sorted(t.netns_names) and r.missing == ()
        for p in procs:
            assert p.wait(timeout=5) in (-signal.SIGTERM, -signal.SIGKILL)
        assert netns.existing_namespaces("tdpk") == []
        assert netns.teardown("tdpk", t.netns_names).missing == t.netns_names  # idempotent
    finally:
        netns.teardown("tdpk")
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_teardown_refuses_foreign_namespaces() -> None:
    with pytest.raises(ValueError, match="outside lab"):
        netns.teardown(LAB, ["tsp-a"])


def test_no_root_namespace_changes(topo: Topology) -> None:
    root_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                check=True).stdout
    for name in ("il0", "pe0", "cust0", "scw0", "br0", "vpc0", "lan0", "pn0"):
        assert not re.search(rf"^\d+: {re.escape(name)}[@:]", root_links, re.M), name
