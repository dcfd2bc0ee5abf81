"""Traffic probes run inside a lab namespace (I/O).

`ping` crafts ICMP / ICMPv6 echoes with scapy in a child process started inside the source
node's namespace (`python -m lab.dataplane.probes ping ...`): importing scapy costs ~0.8 s,
so the parent never imports it. `udp_probe` uses plain sockets created in the two namespaces
(no child at all), `ping_fast` the iputils `ping` for quick reachability checks. All of them
are host programs run in a node's network namespace (``NodeRuntime.run_tool``/``socket``).

Command line (the child): python -m lab.dataplane.probes ping DST [--count N] [--timeout T] [--json]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import NodeError


class ProbeError(RuntimeError):
    pass


@dataclass(frozen=True)
class ProbeResult:
    sent: int
    received: int
    rtt_ms: list[float] = field(default_factory=list)
    family: int = 4

    @property
    def ok(self) -> bool:
        return self.sent > 0 and self.received == self.sent

    @property
    def loss(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0


@dataclass(frozen=True)
class UdpProbeResult:
    delivered: bool
    source: str | None  # source address the receiver saw (proves no NAT on the way)
    elapsed_ms: float


def _family(addr: str) -> int:
    try:
        return ipaddress.ip_address(addr).version
    except ValueError:
        raise ProbeError(f"not an IP address: {addr!r}") from None


def _check_netns(netns: str) -> None:
    if not runtime_for(netns).exists(netns):
        raise ProbeError(f"network namespace {netns!r} does not exist")


# --------------------------------------------------------------------------- parent side


def ping(src_netns: str, dst: str, count: int = 3, timeout: float = 2.0) -> ProbeResult:
    """ICMP(v6) echo from `src_netns` to `dst`, crafted and matched by scapy."""
    family = _family(dst)
    _check_netns(src_netns)
    cmd = [sys.executable, "-m", "lab.dataplane.probes", "ping", dst,
           "--count", str(count), "--timeout", str(timeout), "--json"]
    try:
        p = runtime_for(src_netns).run_tool(src_netns, cmd, timeout=30 + count * timeout)
    except NodeError as e:
        raise ProbeError(f"scapy ping {dst} from {src_netns}: {e}") from e
    lines = p.stdout.strip().splitlines()
    if p.returncode or not lines:
        raise ProbeError(f"scapy ping {dst} from {src_netns} failed (rc {p.returncode}): "
                         f"{p.stderr.strip()[-800:]}")
    d = json.loads(lines[-1])
    return ProbeResult(sent=d["sent"], received=d["received"], rtt_ms=d["rtt_ms"], family=family)


def ping_fast(src_netns: str, dst: str, timeout: float = 1.0) -> bool:
    """One iputils ping: True if `dst` answered within `timeout` seconds."""
    family = _family(dst)
    _check_netns(src_netns)
    cmd = ["ping", f"-{family}", "-n", "-q", "-c", "1", "-W", f"{timeout:g}", dst]
    return runtime_for(src_netns).run_tool(src_netns, cmd, timeout=timeout + 5).returncode == 0


def _socket_in(netns: str, family: int) -> socket.socket:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    return runtime_for(netns).socket(netns, af, socket.SOCK_DGRAM)


def udp_probe(src_netns: str, dst_netns: str, dst_addr: str, port: int = 40000,
              timeout: float = 2.0) -> UdpProbeResult:
    """Send one UDP datagram from `src_netns` to dst_addr:port, received by a socket bound in
    `dst_netns`: delivered only if it really crossed the lab."""
    family = _family(dst_addr)
    _check_netns(src_netns)
    _check_netns(dst_netns)
    token = b"ilab-probe-" + secrets.token_hex(8).encode()
    rx = _socket_in(dst_netns, family)
    tx = _socket_in(src_netns, family)
    try:
        rx.bind((dst_addr, port))
        t0 = time.perf_counter()
        deadline = t0 + timeout
        tx.sendto(token, (dst_addr, port))
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return UdpProbeResult(False, None, (time.perf_counter() - t0) * 1000)
            rx.settimeout(left)
            try:
                data, src = rx.recvfrom(2048)
            except TimeoutError:
                continue
            if data == token:
                return UdpProbeResult(True, src[0], (time.perf_counter() - t0) * 1000)
    finally:
        rx.close()
        tx.close()


# --------------------------------------------------------------------------- child side


def _scapy_ping(dst: str, count: int, timeout: float) -> dict[str, Any]:
    from scapy.config import conf  # slow import: only in the child
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.sendrecv import sr

    conf.verb = 0
    family = _family(dst)
    ident = os.getpid() & 0xFFFF
    pkts: list[Any]
    if family == 4:
        conf.route.resync()
        pkts = [IP(dst=dst) / ICMP(id=ident, seq=i) / b"ilab" for i in range(count)]
    else:
        conf.route6.resync()
        pkts = [IPv6(dst=dst) / ICMPv6EchoRequest(id=ident, seq=i, data=b"ilab")
                for i in range(count)]
    # scapy's L3 socket resolves the next hop's MAC itself (ARP, or NS/NA for IPv6).
    answered, _ = sr(pkts, timeout=timeout, inter=0.01, verbose=0)
    rtts = []
    for snd, rcv in answered:
        if family == 6 and not rcv.haslayer(ICMPv6EchoReply):
            continue
        if family == 4 and not (rcv.haslayer(ICMP) and rcv[ICMP].type == 0):
            continue
        rtts.append(round((float(rcv.time) - float(snd.sent_time or 0)) * 1000, 3))
    return {"sent": count, "received": len(rtts), "rtt_ms": rtts, "family": family}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.dataplane.probes")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ping", help="scapy ICMP/ICMPv6 echo from the current namespace")
    p.add_argument("dst")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = _scapy_ping(args.dst, args.count, args.timeout)
    if args.json:
        print(json.dumps(res))
        return 0  # loss is data for the parent, not a failure of the probe
    else:
        r = ProbeResult(**res)
        print(f"{args.dst}: {r.received}/{r.sent} received, rtt ms {r.rtt_ms}")
        print(json.dumps(asdict(r)))
    return 0 if res["received"] == res["sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
