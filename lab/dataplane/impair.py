"""Impairments on a link's wire (I/O): delay, jitter, loss, corruption, duplication, rate.

This kernel has no netem, so each part uses what it has, all inside the link's Scaleway
router (``lab.dataplane.shaping`` for where the link's traffic passes):

* loss: an ``iptables -m statistic --mode random`` DROP rule (in the kernel, exact rate);
* duplication: ``-j TEE`` to the next hop with the same statistic match (a clone is sent);
* delay, jitter, corruption: ``-j NFQUEUE --queue-bypass``; a thread of the lab daemon
  (``QueueWorker``) holds each queued packet until its time and gives its verdict, flipping a
  bit of the corrupted ones (``nfnetlink_queue`` spoken over a netlink socket opened in the
  node's namespace). Without a listener (the daemon restarting) packets pass undelayed;
* rate: the side's HTB class set to min(link bandwidth, rate).

The link's egress toward the customer is ``mangle POSTROUTING -o pe0.<vid>``, toward the VPC
``mangle PREROUTING -i pe0.<vid>`` (duplication: ``FORWARD``). Every rule carries the comment
``ilab-impair:<side>:<tag>``: the kernel's rules are the only record (``active`` reads them
back, a restarted daemon restarts its workers from them).
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import os
import random
import re
import select
import socket
import struct
import threading
import time

from controller.drivers import netlink as nl
from lab.dataplane import faults, shaping
from lab.dataplane.nodes import runtime_for
from lab.scenario import impairment
from lab.scenario.impairment import Impairment
from lab.scenario.topology import LinkWiring, Topology

log = logging.getLogger("lab.dataplane.impair")

COMMENT_PREFIX = "ilab-impair:"
_COMMENT_RE = re.compile(r'--comment "?' + re.escape(COMMENT_PREFIX)
                         + r'(to-vpc|to-customer):([^" ]*)"?')


class ImpairError(RuntimeError):
    pass


# --------------------------------------------------------------------------- rules (pure)

def queue_num(w: LinkWiring, side: str) -> int:
    return 2 * w.index + (1 if side == "to-customer" else 0)


def _prob(pct: float) -> str:
    return f"{pct / 100:.6f}"


def rule_lines(w: LinkWiring, side: str, imp: Impairment, version: int) -> list[str]:
    """``iptables-restore --noflush`` lines (mangle table) impairing one side of link `w`
    for one IP version; empty when the link has no address of that version."""
    peer = w.peer_v4 if version == 4 else w.peer_v6
    if peer is None:
        return []
    tag = f"{COMMENT_PREFIX}{side}:{imp.tag()}"
    tail = f"-m comment --comment {tag}"
    dev = w.scw_ifname
    chain, match = ("POSTROUTING", f"-o {dev}") if side == "to-customer" else (
        "PREROUTING", f"-i {dev}")
    out: list[str] = []
    if imp.loss_pct:
        out.append(f"-A {chain} {match} -m statistic --mode random --probability "
                   f"{_prob(imp.loss_pct)} {tail} -j DROP")
    if imp.duplicate_pct:
        gateway = peer if side == "to-customer" else (
            w.vpc_router_transit_v4 if version == 4 else w.vpc_router_transit_v6)
        if gateway is not None:
            dup_chain = chain if side == "to-customer" else "FORWARD"
            out.append(f"-A {dup_chain} {match} -m statistic --mode random --probability "
                       f"{_prob(imp.duplicate_pct)} {tail} -j TEE --gateway {gateway}")
    if imp.queued:
        out.append(f"-A {chain} {match} {tail} -j NFQUEUE --queue-num {queue_num(w, side)} "
                   "--queue-bypass")
    if not out:  # rate only: a rule that does nothing keeps the record
        out.append(f"-A {chain} {match} {tail}")
    return out


def parse_rules(lines: list[str]) -> dict[str, Impairment]:
    """Pure: ``iptables -t mangle -S`` lines -> {side: impairment} of the rules they hold."""
    out: dict[str, Impairment] = {}
    for line in lines:
        m = _COMMENT_RE.search(line)
        if m and m.group(1) not in out:
            with contextlib.suppress(impairment.ImpairmentError):
                out[m.group(1)] = impairment.from_tag(m.group(2))
    return out


# --------------------------------------------------------------------------- rules (I/O)

def _run(netns: str, argv: list[str], stdin: str | None = None) -> str:
    return faults.in_node(netns, argv, stdin, error=ImpairError)


def _tool(version: int, suffix: str = "") -> str:
    return faults.iptables(version, suffix, error=ImpairError)


def _mangle(netns: str, version: int) -> list[str]:
    return _run(netns, [_tool(version), "-w", "-t", "mangle", "-S"]).splitlines()


def _ours(line: str, dev: str, sides: tuple[str, ...]) -> bool:
    m = _COMMENT_RE.search(line)
    return (line.startswith("-A ") and m is not None and m.group(1) in sides
            and re.search(rf"-[io] {re.escape(dev)}( |$)", line) is not None)


def active(w: LinkWiring) -> dict[str, Impairment]:
    """{side: impairment} in force on link `w` (read from its router's rules)."""
    out: dict[str, Impairment] = {}
    for version in (4, 6):
        lines = [ln for ln in _mangle(w.scw_netns, version)
                 if _ours(ln, w.scw_ifname, impairment.SIDES)]
        for side, imp in parse_rules(lines).items():
            out.setdefault(side, imp)
    return dict(sorted(out.items()))


def _delete(w: LinkWiring, sides: tuple[str, ...]) -> None:
    for version in (4, 6):
        dels = [ln.replace("-A ", "-D ", 1) for ln in _mangle(w.scw_netns, version)
                if _ours(ln, w.scw_ifname, sides)]
        if dels:
            script = "*mangle\n" + "\n".join(dels) + "\nCOMMIT\n"
            _run(w.scw_netns, [_tool(version, "-restore"), "-w", "--noflush"], script)


def apply(topology: Topology, w: LinkWiring, imp: Impairment, direction: str = "both") -> None:
    """Impair link `w` in `direction` (replacing what was in force on those sides)."""
    sides = impairment.sides(direction)
    clear(topology, w, direction)
    for side in sides:
        if imp.queued:
            start_worker(w, side, imp)
        for version in (4, 6):
            lines = rule_lines(w, side, imp, version)
            if lines:
                script = "*mangle\n" + "\n".join(lines) + "\nCOMMIT\n"
                _run(w.scw_netns, [_tool(version, "-restore"), "-w", "--noflush"], script)
        if imp.rate_mbit:
            s = {sh.side: sh for sh in shaping.shapers(topology, w)}[side]
            rate = min(imp.rate_mbit, w.bandwidth_mbps or imp.rate_mbit)
            try:
                shaping.set_rate(s, rate)
            except shaping.ShapingError as e:
                raise ImpairError(str(e)) from None


def clear(topology: Topology, w: LinkWiring, direction: str = "both") -> dict[str, Impairment]:
    """Remove the impairments of link `w` in `direction`; returns those that were in force."""
    sides = impairment.sides(direction)
    was = {s: i for s, i in active(w).items() if s in sides}
    _delete(w, sides)  # first: no new packet is queued
    for side in sides:
        stop_worker(w, side)
        if was.get(side) is not None and was[side].rate_mbit and w.bandwidth_mbps:
            s = {sh.side: sh for sh in shaping.shapers(topology, w)}[side]
            with contextlib.suppress(shaping.ShapingError):
                shaping.set_rate(s, w.bandwidth_mbps)
    return was


def resume(topology: Topology) -> None:
    """Start the workers of the delays in force (a restarted daemon: the rules stayed)."""
    for w in topology.links:
        try:
            for side, imp in active(w).items():
                if imp.queued:
                    start_worker(w, side, imp)
        except (ImpairError, OSError) as e:
            log.warning("impairments of link %s not resumed: %s", w.name, e)


# --------------------------------------------------------------------------- nfnetlink_queue

_NFNL_SUBSYS_QUEUE = 3
_MSG_PACKET, _MSG_VERDICT, _MSG_CONFIG = 0, 1, 2
_CFG_CMD, _CFG_PARAMS, _CFG_MASK, _CFG_FLAGS = 1, 2, 4, 5
_CMD_BIND = 1
_COPY_META, _COPY_PACKET = 1, 2
_F_FAIL_OPEN, _F_GSO = 0x1, 0x4
_ATTR_PACKET_HDR, _ATTR_VERDICT_HDR, _ATTR_PAYLOAD = 1, 2, 10
_NF_DROP, _NF_ACCEPT = 0, 1
_NETLINK_NETFILTER = 12
_NETLINK_NO_ENOBUFS = 5
_NFGEN = struct.Struct("!BBH")  # family, version, res_id (queue number, big-endian)


def _nfmsg(kind: int, queue: int, attrs: bytes, flags: int = nl.NLM_F_REQUEST) -> bytes:
    return nl.message((_NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0,
                      _NFGEN.pack(socket.AF_UNSPEC, 0, queue) + attrs)


def config_msgs(queue: int, copy_packet: bool) -> list[bytes]:
    """Bind `queue`, then its copy mode and flags (fail open: a full queue passes packets)."""
    ack = nl.NLM_F_REQUEST | nl.NLM_F_ACK
    flags = _F_FAIL_OPEN | (0 if copy_packet else _F_GSO)
    return [
        _nfmsg(_MSG_CONFIG, queue, nl.attr(_CFG_CMD, struct.pack("!BxH", _CMD_BIND, 0)), ack),
        _nfmsg(_MSG_CONFIG, queue, nl.attr(_CFG_PARAMS, struct.pack(
            "!IB", 0xFFFF, _COPY_PACKET if copy_packet else _COPY_META)) + nl.attr(
            _CFG_FLAGS, struct.pack("!I", flags)) + nl.attr(
            _CFG_MASK, struct.pack("!I", _F_FAIL_OPEN | _F_GSO)), ack),
    ]


def verdict_msg(queue: int, packet_id: int, verdict: int, payload: bytes | None = None) -> bytes:
    attrs = nl.attr(_ATTR_VERDICT_HDR, struct.pack("!II", verdict, packet_id))
    if payload is not None:
        attrs += nl.attr(_ATTR_PAYLOAD, payload)
    return _nfmsg(_MSG_VERDICT, queue, attrs)


def parse_packets(data: bytes) -> list[tuple[int, bytes | None]]:
    """(packet id, payload or None) of the queued packets in one read."""
    out: list[tuple[int, bytes | None]] = []
    for off, mlen, mtype, _flags, _seq in nl.iter_msgs(data):
        if mtype == nl.NLMSG_ERROR:
            err = nl.error_code(data, off)
            if err:
                raise OSError(err, os.strerror(err))
            continue
        if mtype != (_NFNL_SUBSYS_QUEUE << 8) | _MSG_PACKET:
            continue
        pid: int | None = None
        payload: bytes | None = None
        for kind, start, end in nl.iter_attrs(data, off + 16 + _NFGEN.size, off + mlen):
            if kind == _ATTR_PACKET_HDR:
                pid = struct.unpack_from("!I", data, start)[0]
            elif kind == _ATTR_PAYLOAD:
                payload = data[start:end]
        if pid is not None:
            out.append((pid, payload))
    return out


def corrupt(payload: bytes, rng: random.Random) -> bytes:
    """One bit flipped past the IP header (the transport checksum then fails)."""
    if not payload:
        return payload
    hdr = (payload[0] & 0x0F) * 4 if payload[0] >> 4 == 4 else 40
    lo = hdr if len(payload) > hdr else 0
    i = rng.randrange(lo, len(payload))
    b = bytearray(payload)
    b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


class QueueWorker:
    """Holds the packets of one queue for `delay ± jitter` and gives their verdicts."""

    def __init__(self, netns: str, queue: int, imp: Impairment):
        self.netns, self.queue, self.imp = netns, queue, imp
        self.rng = random.Random()
        self.sock = runtime_for(netns).socket(netns, socket.AF_NETLINK, socket.SOCK_RAW,
                                              _NETLINK_NETFILTER)
        try:
            with contextlib.suppress(OSError):  # root: a large buffer, beyond rmem_max
                self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
            self.sock.setsockopt(nl.SOL_NETLINK, _NETLINK_NO_ENOBUFS, 1)
            self.sock.bind((0, 0))
            for msg in config_msgs(queue, copy_packet=bool(imp.corrupt_pct)):
                self.sock.send(msg)
                parse_packets(self.sock.recv(65536))  # the ack; an error raises
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self._stop = threading.Event()
        self._held: list[tuple[float, int, bytes | None]] = []
        self.thread = threading.Thread(target=self._loop, name=f"impair-{netns}-{queue}",
                                       daemon=True)
        self.thread.start()

    def _due(self, now: float) -> float:
        d = self.imp.delay_ms
        if self.imp.jitter_ms:
            d += self.rng.uniform(-self.imp.jitter_ms, self.imp.jitter_ms)
        return now + max(0.0, d) / 1000.0

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 17)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    continue
                raise
            now = time.monotonic()
            for pid, payload in parse_packets(data):
                if payload is not None and self.rng.random() * 100 < self.imp.corrupt_pct:
                    payload = corrupt(payload, self.rng)
                else:
                    payload = None  # unchanged: no payload in the verdict
                heapq.heappush(self._held, (self._due(now), pid, payload))

    def _release(self, everything: bool = False) -> None:
        now = time.monotonic()
        out = bytearray()
        while self._held and (everything or self._held[0][0] <= now):
            _, pid, payload = heapq.heappop(self._held)
            out += verdict_msg(self.queue, pid, _NF_ACCEPT, payload)
            if len(out) > 60000:
                self.sock.send(bytes(out))
                out.clear()
        if out:
            self.sock.send(bytes(out))

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                timeout = 0.1
                if self._held:
                    timeout = min(timeout, max(0.0, self._held[0][0] - time.monotonic()))
                readable, _, _ = select.select([self.sock], [], [], timeout)
                if readable:
                    self._read()
                self._release()
            self._release(everything=True)
        except OSError as e:  # the namespace went: its packets went with it
            log.info("impairment queue %d in %s ended: %s", self.queue, self.netns, e)
        finally:
            self.sock.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2.0)


_workers: dict[tuple[str, int], QueueWorker] = {}
_lock = threading.Lock()


def start_worker(w: LinkWiring, side: str, imp: Impairment) -> None:
    stop_worker(w, side)
    try:
        worker = QueueWorker(w.scw_netns, queue_num(w, side), imp)
    except OSError as e:
        raise ImpairError(f"queue {queue_num(w, side)} in {w.scw_netns}: {e}") from None
    with _lock:
        _workers[(w.scw_netns, queue_num(w, side))] = worker


def stop_worker(w: LinkWiring, side: str) -> None:
    with _lock:
        worker = _workers.pop((w.scw_netns, queue_num(w, side)), None)
    if worker is not None:
        worker.stop()


def stop_all() -> None:
    with _lock:
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop()

