"""Build and tear down a lab's network namespaces (I/O).

Nothing is ever created in the root namespace: veths are created with both ends placed
directly in their namespaces, and per-namespace work runs either in `ip -n NS -batch -` or in a
short-lived thread that has `setns()`-ed into the namespace (sysctls, tc/BPF via netlink).

802.1Q without the kernel's 8021q module: this machine's kernel has neither the `vlan` link
type (CONFIG_VLAN_8021Q) nor bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), but it has
eBPF and tc clsact. So VLANs are emulated with tiny hand-assembled tc-BPF programs that put
real 802.1Q tags on the wire:

* sub-interface `<parent>.<vid>` = a veth pair (`il0.2451` <-> hidden `il0q2451`) in the same
  namespace; on `il0q2451` ingress: push tag <vid> and redirect out of `il0`; on `il0`
  ingress: tagged <vid> -> pop and redirect out of `il0q2451` (so it arrives on `il0.2451`),
  unknown VID -> drop, untagged -> the parent itself (as with real 802.1Q).
* VLAN-aware bridge `br0` = a plain Linux bridge (it forwards tagged frames as they are) plus,
  on each port, ingress and egress filters that drop anything not tagged with the port's VIDs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import ipaddress
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from lab.scenario.topology import Bridge, Endpoint, Topology, VethPair, VlanInterface

NETNS_DIR = "/run/netns"
T = TypeVar("T")


class LabBuildError(RuntimeError):
    """Building the lab failed; whatever had been built was torn down."""


@dataclass(frozen=True)
class TeardownReport:
    removed: tuple[str, ...]  # namespaces deleted
    missing: tuple[str, ...]  # asked for but already gone
    terminated: tuple[int, ...]  # PIDs that got SIGTERM
    killed: tuple[int, ...]  # PIDs that also needed SIGKILL
    seconds: float


# --------------------------------------------------------------------------- libc helpers

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
MS_BIND = 4096


def _check(rc: int, what: str) -> int:
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return rc


def _netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def run_in_netns(name: str, fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread that has joined namespace `name`; the caller's thread (and so
    the rest of the process) never leaves its own namespace."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            fd = os.open(_netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(_libc.setns(fd, CLONE_NEWNET), f"setns {name}")
            finally:
                os.close(fd)
            box["result"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    th = threading.Thread(target=target, name=f"netns-{name}")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


# --------------------------------------------------------------------------- BPF (VLAN emulation)

_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SCHED_CLS = 3
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
_FN_VLAN_PUSH, _FN_VLAN_POP, _FN_REDIRECT = 18, 19, 23
_TC_ACT_OK, _TC_ACT_SHOT = 0, 2
_SKB_VLAN_PRESENT, _SKB_VLAN_TCI = 20, 24  # offsetof(struct __sk_buff, vlan_present/vlan_tci)


class _Asm:
    """Just enough of an eBPF assembler for the VLAN programs (with forward labels)."""

    def __init__(self) -> None:
        self.insns: list[tuple[int, int, int, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def _i(self, code: int, dst: int = 0, src: int = 0, off: int | str = 0, imm: int = 0) -> None:
        self.insns.append((code, dst, src, off, imm))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.insns)

    def mov_reg(self, dst: int, src: int) -> None:
        self._i(0xBF, dst, src)

    def mov_imm(self, dst: int, imm: int) -> None:
        self._i(0xB7, dst, imm=imm)

    def ldx_w(self, dst: int, src: int, off: int) -> None:
        self._i(0x61, dst, src, off)

    def and_imm(self, dst: int, imm: int) -> None:
        self._i(0x57, dst, imm=imm)

    def jeq(self, dst: int, imm: int, label: str) -> None:
        self._i(0x15, dst, off=label, imm=imm)

    def jne(self, dst: int, imm: int, label: str) -> None:
        self._i(0x55, dst, off=label, imm=imm)

    def call(self, fn: int) -> None:
        self._i(0x85, imm=fn)

    def exit(self) -> None:
        self._i(0x95)

    def ret(self, value: int) -> None:
        self.mov_imm(0, value)
        self.exit()

    def bytes(self) -> bytes:
        out = b""
        for pc, (code, dst, src, off, imm) in enumerate(self.insns):
            if isinstance(off, str):
                off = self.labels[off] - pc - 1
            out += struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
        return out


def _prog_port_filter(vids: Iterable[int]) -> bytes:
    """Bridge port: pass frames tagged with one of `vids`, drop everything else."""
    a = _Asm()
    a.ldx_w(2, 1, _SKB_VLAN_PRESENT)
    a.jeq(2, 0, "drop")
    a.ldx_w(2, 1, _SKB_VLAN_TCI)
    a.and_imm(2, 0xFFF)
    for vid in vids:
        a.jeq(2, vid, "pass")
    a.label("drop")
    a.ret(_TC_ACT_SHOT)
    a.label("pass")
    a.ret(_TC_ACT_OK)
    return a.bytes()


def _prog_trunk_demux(vid_to_ifindex: dict[int, int]) -> bytes:
    """Trunk ingress: tagged <vid> -> pop, out of the sub-interface's hidden peer."""
    a = _Asm()
    a.mov_reg(6, 1)
    a.ldx_w(2, 6, _SKB_VLAN_PRESENT)
    a.jne(2, 0, "tagged")
    a.ret(_TC_ACT_OK)  # untagged: for the parent itself
    a.label("tagged")
    a.ldx_w(7, 6, _SKB_VLAN_TCI)
    a.and_imm(7, 0xFFF)
    for i, (vid, ifindex) in enumerate(sorted(vid_to_ifindex.items())):
        a.jne(7, vid, f"next{i}")
        a.mov_reg(1, 6)
        a.call(_FN_VLAN_POP)
        a.mov_imm(1, ifindex)
        a.mov_imm(2, 0)  # 0 = egress of that device
        a.call(_FN_REDIRECT)
        a.exit()
        a.label(f"next{i}")
    a.ret(_TC_ACT_SHOT)
    return a.bytes()


def _prog_subif_mux(vid: int, trunk_ifindex: int) -> bytes:
    """Hidden peer ingress (= what the sub-interface sent): push <vid>, out of the trunk."""
    a = _Asm()
    a.mov_reg(6, 1)
    a.mov_reg(1, 6)
    a.mov_imm(2, socket.htons(0x8100))  # __be16 ETH_P_8021Q
    a.mov_imm(3, vid)
    a.call(_FN_VLAN_PUSH)
    a.jeq(0, 0, "ok")
    a.ret(_TC_ACT_SHOT)
    a.label("ok")
    a.mov_imm(1, trunk_ifindex)
    a.mov_imm(2, 0)
    a.call(_FN_REDIRECT)
    a.exit()
    return a.bytes()


def _bpf_load(prog: bytes, name: str) -> int:
    insns = ctypes.create_string_buffer(prog, len(prog))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(16384)
    pname = name.encode()[:15]
    # union bpf_attr for BPF_PROG_LOAD up to prog_name (offset 48, 16 bytes).
    attr = struct.pack("<IIQQIIQII16s", _BPF_PROG_TYPE_SCHED_CLS, len(prog) // 8,
                       ctypes.addressof(insns), ctypes.addressof(lic), 1, len(log),
                       ctypes.addressof(log), 0, 0, pname)
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    fd = _libc.syscall(_SYS_BPF, _BPF_PROG_LOAD, buf, 128)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"BPF_PROG_LOAD {name}: {os.strerror(e)}: "
                         f"{log.value.decode(errors='replace')[-500:]}")
    return int(fd)


# --------------------------------------------------------------------------- netlink tc

_RTM_NEWQDISC, _RTM_NEWTFILTER = 36, 44
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_REPLACE, _NLM_F_EXCL, _NLM_F_CREATE = 1, 4, 0x100, 0x200, 0x400
_NLMSG_ERROR = 2
_TCA_KIND, _TCA_OPTIONS = 1, 2
_TCA_BPF_FD, _TCA_BPF_NAME, _TCA_BPF_FLAGS = 6, 7, 8
_TC_H_CLSACT, _TC_H_INGRESS, _TC_H_EGRESS = 0xFFFFFFF1, 0xFFFFFFF2, 0xFFFFFFF3
_ETH_P_ALL = 0x0003


def _nla(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return struct.pack("<HH", n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


class _Netlink:
    """A NETLINK_ROUTE socket, in the namespace of the thread that creates it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, msg_type: int, body: bytes, what: str,
                extra: int = _NLM_F_EXCL) -> None:
        self.seq += 1
        flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | extra
        self.sock.send(struct.pack("<IHHII", 16 + len(body), msg_type, flags, self.seq, 0) + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ, _, seq, _ = struct.unpack_from("<IHHII", data, off)
                if typ == _NLMSG_ERROR and seq == self.seq:
                    err = -struct.unpack_from("<i", data, off + 16)[0]
                    if err:
                        raise OSError(err, f"{what}: {os.strerror(err)}")
                    return
                off += (ln + 3) & ~3

    def clsact(self, ifindex: int, ifname: str) -> None:
        tcm = struct.pack("<BxxxiIII", socket.AF_UNSPEC, ifindex, 0xFFFF0000, _TC_H_CLSACT, 0)
        # Already there (sync): keep it, replacing it would drop its filters.
        with contextlib.suppress(FileExistsError):
            self.request(_RTM_NEWQDISC, tcm + _nla(_TCA_KIND, b"clsact\0"),
                         f"clsact on {ifname}")

    def bpf_filter(self, ifindex: int, ifname: str, parent: int, fd: int, name: str) -> None:
        info = (1 << 16) | socket.htons(_ETH_P_ALL)  # prio 1, all protocols
        # Fixed handle 1 + NLM_F_REPLACE: attaching again swaps the program atomically (RCU),
        # so `sync` can widen a trunk's VLAN list without dropping a frame of the others.
        tcm = struct.pack("<BxxxiIII", socket.AF_UNSPEC, ifindex, 1, parent, info)
        opts = (_nla(_TCA_BPF_FD, struct.pack("<I", fd))
                + _nla(_TCA_BPF_NAME, name.encode() + b"\0")
                + _nla(_TCA_BPF_FLAGS, struct.pack("<I", 1)))  # direct-action
        body = tcm + _nla(_TCA_KIND, b"bpf\0") + _nla(_TCA_OPTIONS | 0x8000, opts)
        self.request(_RTM_NEWTFILTER, body, f"bpf filter {name} on {ifname}", _NLM_F_REPLACE)


def _hidden_peer(v: VlanInterface) -> str:
    return f"{v.parent}q{v.vid}"


def _attach_vlan_programs(vlans: list[VlanInterface], bridges: list[Bridge]) -> None:
    """Runs inside the namespace: load and attach the VLAN emulation programs."""
    nl = _Netlink()
    fds: list[int] = []
    try:
        def attach(ifname: str, parent: int, prog: bytes, name: str) -> None:
            idx = socket.if_nametoindex(ifname)
            if idx not in done:
                nl.clsact(idx, ifname)
                done.add(idx)
            fd = _bpf_load(prog, name)
            fds.append(fd)
            nl.bpf_filter(idx, ifname, parent, fd, name)

        done: set[int] = set()
        by_parent: dict[str, dict[int, int]] = {}
        for v in vlans:
            by_parent.setdefault(v.parent, {})[v.vid] = socket.if_nametoindex(_hidden_peer(v))
            attach(_hidden_peer(v), _TC_H_INGRESS,
                   _prog_subif_mux(v.vid, socket.if_nametoindex(v.parent)), f"ilab_mux{v.vid}")
        for parent, table in by_parent.items():
            attach(parent, _TC_H_INGRESS, _prog_trunk_demux(table), "ilab_demux")
        for br in bridges:
            for port in br.ports:
                prog = _prog_port_filter(port.tagged_vids)
                attach(port.ifname, _TC_H_INGRESS, prog, "ilab_vlanfilt")
                attach(port.ifname, _TC_H_EGRESS, prog, "ilab_vlanfilt")
    finally:
        for fd in fds:  # the tc filters hold their own references
            os.close(fd)
        nl.close()


# --------------------------------------------------------------------------- sysctls


def _sysctls(topology: Topology, netns: str) -> dict[str, str]:
    node = next(n for n in topology.nodes if n.netns == netns)
    s = {
        # Before any interface exists: a tentative address makes ExaBGP fail to bind.
        "net/ipv6/conf/all/accept_dad": "0",
        "net/ipv6/conf/default/accept_dad": "0",
        # Routes move between links as sessions flap; strict rp_filter would drop those.
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/default/rp_filter": "0",
    }
    if node.forwarding:
        s |= {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
              "net/ipv6/conf/default/forwarding": "1"}
    if node.role == "partner":
        # A pure L2 node: no link-local chatter of its own on the ports.
        s |= {"net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"}
    return s


def _write_sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)


# --------------------------------------------------------------------------- build / sync


@dataclass(frozen=True)
class SyncReport:
    added_nodes: tuple[str, ...]  # namespaces created
    removed_nodes: tuple[str, ...]  # namespaces deleted, their processes killed
    seconds: float
    # (old name, new name): the same namespace, renamed because a node name gained or lost
    # its suffix (`scw-interlink` -> `scw-interlink-1`); its processes and routes live on.
    renamed_nodes: tuple[tuple[str, str], ...] = ()


@dataclass
class _Live:
    """What exists in a namespace now: interface names and (ifname, cidr) addresses."""

    ifaces: set[str]
    addrs: set[tuple[str, str]]


def _norm_cidr(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr))


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)


def _fail(what: str, proc: subprocess.CompletedProcess[str] | None = None) -> LabBuildError:
    detail = f": {proc.stderr.strip() or proc.stdout.strip()}" if proc is not None else ""
    return LabBuildError(f"{what}{detail}")


def _parallel(jobs: dict[str, tuple[list[str], str | None]]) -> dict[str, tuple[int, str, str]]:
    """Run one command per key concurrently: key -> (returncode, stdout, stderr)."""
    procs = {k: (subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else
                                  subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True), stdin)
             for k, (cmd, stdin) in jobs.items()}
    out = {}
    for k, (p, stdin) in procs.items():
        o, e = p.communicate(stdin)
        out[k] = (p.returncode, o, e)
    return out


def _batches(scripts: dict[str, list[str]], what: str, force: bool = False) -> None:
    """`ip -n NS -batch -` for every namespace with lines, all namespaces in parallel."""
    jobs: dict[str, tuple[list[str], str | None]] = {
        n: (["ip", *(["-force"] if force else []), "-n", n, "-batch", "-"],
            "\n".join(lines) + "\n") for n, lines in scripts.items() if lines}
    errors = [f"{what} {n}: {(err or out).strip()}"
              for n, (rc, out, err) in _parallel(jobs).items() if rc and not force]
    if errors:
        raise LabBuildError("; ".join(errors))


def _live_state(names: Iterable[str]) -> dict[str, _Live]:
    jobs: dict[str, tuple[list[str], str | None]] = {
        n: (["ip", "-n", n, "-j", "addr", "show"], None) for n in names}
    live: dict[str, _Live] = {}
    for n, (rc, out, err) in _parallel(jobs).items():
        if rc:
            raise LabBuildError(f"reading {n}: {err.strip()}")
        st = _Live(set(), set())
        for link in json.loads(out or "[]"):
            st.ifaces.add(link["ifname"])
            for a in link.get("addr_info", []):
                if a.get("family") in ("inet", "inet6") and "local" in a:
                    st.addrs.add((link["ifname"], _norm_cidr(f"{a['local']}/{a['prefixlen']}")))
        live[n] = st
    return live


def _exists(name: str) -> bool:
    return os.path.exists(_netns_path(name))


def _rename_netns(old: str, new: str) -> None:
    """Give namespace `old` the name `new`: bind-mount it at the new path, drop the old one.
    Everything inside (interfaces, routes, processes) is untouched."""
    dst = _netns_path(new)
    os.close(os.open(dst, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    try:
        _check(_libc.mount(_netns_path(old).encode(), dst.encode(), None, MS_BIND, None),
               f"bind {old} -> {new}")
    except OSError:
        os.unlink(dst)
        raise
    _delete_netns(old)


def _unplug(names: list[str]) -> None:
    """Delete the veths leaving these namespaces. A deleted namespace takes its veths (and
    their peers elsewhere) with it only later, asynchronously; deleting them first makes the
    peers' disappearance from the surviving namespaces immediate and predictable."""
    scripts: dict[str, list[str]] = {}
    for n in names:
        cp = _run(["ip", "-n", n, "-j", "link", "show", "type", "veth"])
        if cp.returncode:
            raise _fail(f"reading {n}", cp)
        scripts[n] = [f"link del {link['ifname']}" for link in json.loads(cp.stdout or "[]")
                      if "link_netnsid" in link]
    _batches(scripts, "unplugging", force=True)  # a pair between two of them: one del each


def _veth_key(v: VethPair) -> frozenset[tuple[str, str]]:
    return frozenset(((v.a.netns, v.a.ifname), (v.b.netns, v.b.ifname)))


def _renamed(topology: Topology, names: dict[str, str]) -> Topology:
    """`topology` as it reads after renaming namespaces (old netns -> new netns)."""
    def r(n: str) -> str:
        return names.get(n, n)

    def ep(e: Endpoint) -> Endpoint:
        return replace(e, netns=r(e.netns))

    return replace(
        topology,
        nodes=tuple(replace(n, netns=r(n.netns)) for n in topology.nodes),
        veths=tuple(VethPair(ep(v.a), ep(v.b)) for v in topology.veths),
        vlans=tuple(replace(v, netns=r(v.netns)) for v in topology.vlans),
        bridges=tuple(replace(b, netns=r(b.netns)) for b in topology.bridges),
        addresses=tuple(replace(a, netns=r(a.netns)) for a in topology.addresses),
        routes=tuple(replace(rt, netns=r(rt.netns)) for rt in topology.routes))


def _create_lines(topology: Topology, netns: str, live: _Live) -> list[str]:
    """ip batch lines creating what `topology` wants in `netns` and `live` lacks (veth pairs
    excepted: they are created beforehand, across namespaces)."""
    lines = ["link set lo up"]
    ifaces: list[str] = []
    for v in topology.veths:
        ifaces += [e.ifname for e in (v.a, v.b) if e.netns == netns]
    for vl in topology.vlans:
        if vl.netns != netns:
            continue
        if vl.ifname not in live.ifaces:
            lines.append(f"link add {vl.ifname} type veth peer name {_hidden_peer(vl)}")
            # The hidden end only relays frames: no link-local address, no IPv6 chatter.
            lines.append(f"link set dev {_hidden_peer(vl)} addrgenmode none")
        ifaces += [vl.ifname, _hidden_peer(vl)]
    for br in topology.bridges:
        if br.netns != netns:
            continue
        if br.ifname not in live.ifaces:
            lines.append(f"link add {br.ifname} type bridge stp_state 0")
        # Idempotent: the kernel ignores enslaving a port to the bridge it is already in.
        lines += [f"link set dev {p.ifname} master {br.ifname}" for p in br.ports]
        ifaces.append(br.ifname)
    # Links up before addresses: the other order costs ~1 s on the first IPv6 packet.
    lines += [f"link set dev {i} up" for i in ifaces]
    for a in topology.addresses:
        if a.netns == netns and (a.ifname, _norm_cidr(a.cidr)) not in live.addrs:
            lines.append(f"addr add {a.cidr} dev {a.ifname}" + (" nodad" if ":" in a.cidr else ""))
    # `replace`: re-asserting an existing static route changes nothing.
    lines += [f"route replace {r.prefix} via {r.via}" for r in topology.routes
              if r.netns == netns]
    return lines


def _remove_lines(old: Topology, new: Topology, live: dict[str, _Live]) -> tuple[
        dict[str, list[str]], dict[str, list[str]]]:
    """ip batch lines removing what `old` had and `new` does not, per namespace: (strict
    lines, best-effort route lines). Updates `live` to what will be left."""
    strict: dict[str, list[str]] = {}
    routes: dict[str, list[str]] = {}
    new_veths = {_veth_key(v) for v in new.veths}
    for v in old.veths:
        if _veth_key(v) in new_veths:
            continue
        for end in (v.a, v.b):
            if end.netns in live and end.ifname in live[end.netns].ifaces:
                strict.setdefault(end.netns, []).append(f"link del {end.ifname}")
                break  # its peer goes with it
        for end in (v.a, v.b):
            if end.netns in live:
                live[end.netns].ifaces.discard(end.ifname)
    new_vlans = {(v.netns, v.parent, v.vid) for v in new.vlans}
    for vl in old.vlans:
        if (vl.netns, vl.parent, vl.vid) not in new_vlans and vl.netns in live \
                and vl.ifname in live[vl.netns].ifaces:
            strict.setdefault(vl.netns, []).append(f"link del {vl.ifname}")
            live[vl.netns].ifaces -= {vl.ifname, _hidden_peer(vl)}
    new_addrs = {(a.netns, a.ifname, _norm_cidr(a.cidr)) for a in new.addresses}
    for a in old.addresses:
        key = (a.netns, a.ifname, _norm_cidr(a.cidr))
        st = live.get(a.netns)
        if key not in new_addrs and st is not None and a.ifname in st.ifaces \
                and key[1:] in st.addrs:
            strict.setdefault(a.netns, []).append(f"addr del {a.cidr} dev {a.ifname}")
            st.addrs.discard(key[1:])
    new_routes = {(r.netns, r.prefix, r.via) for r in new.routes}
    for r in old.routes:
        if (r.netns, r.prefix, r.via) not in new_routes and r.netns in live:
            # Best effort: the kernel already dropped it if its interface or address went.
            routes.setdefault(r.netns, []).append(f"route del {r.prefix} via {r.via}")
    for ns_lines in strict.values():
        # Delete sub-interfaces and veths after addresses: an address line on a deleted
        # interface would fail.
        ns_lines.sort(key=lambda line: line.startswith("link del"))
    return strict, routes


PORT_FORWARDING_TIMEOUT = 5.0


def _wait_ports_forwarding(topology: Topology) -> None:
    deadline = time.monotonic() + PORT_FORWARDING_TIMEOUT
    pending = {(b.netns, b.ifname): {p.ifname for p in b.ports} for b in topology.bridges}
    while pending:
        for (ns, br), ports in list(pending.items()):
            cp = _run(["ip", "-n", ns, "-j", "-d", "link", "show", "master", br])
            if cp.returncode:
                raise _fail(f"reading {br} ports in {ns}", cp)
            for link in json.loads(cp.stdout or "[]"):
                slave = link.get("linkinfo", {}).get("info_slave_data", {})
                if slave.get("state") == "forwarding":
                    ports.discard(link["ifname"])
            if not ports:
                del pending[(ns, br)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabBuildError(f"bridge ports not forwarding after {PORT_FORWARDING_TIMEOUT}"
                                f" s: {sorted((ns, sorted(p)) for (ns, _), p in pending.items())}")
        time.sleep(0.02)


def build(topology: Topology) -> None:
    """Create every namespace, veth, VLAN, bridge, address and static route of `topology`.
    On failure everything built is removed again and LabBuildError is raised."""
    taken = [n for n in topology.netns_names if _exists(n)]
    if taken:
        raise LabBuildError(f"namespaces already exist: {', '.join(taken)} (lab "
                            f"{topology.lab!r} already up? tear it down first)")
    sync(None, topology)


def sync(old: Topology | None, new: Topology) -> SyncReport:
    """Make the lab's namespaces match `new`, `old` being what was built before.

    Creates the namespaces, veths, VLAN sub-interfaces, bridge ports, addresses and static
    routes of `new` that are missing; removes the nodes of `old` that `new` lacks (killing
    their processes) and its veths, sub-interfaces, addresses and static routes that `new`
    lacks. A node whose name changed (same `Node.key`) is renamed, not rebuilt. Everything
    else is left alone, so existing links keep their traffic (VLAN programs are swapped
    atomically). With `old=None` (a restarting controller) nothing is removed and whatever
    already exists is kept: only what is missing is created.

    On failure, the namespaces this call created are removed and LabBuildError is raised;
    calling sync again with the same `new` completes the job.
    """
    t0 = time.perf_counter()
    if shutil.which("ip") is None:
        raise LabBuildError("the `ip` command (iproute2) is not installed")
    if old is not None and old.lab != new.lab:
        raise ValueError(f"cannot sync lab {old.lab!r} into lab {new.lab!r}")
    new_keys = {n.key: n for n in new.nodes}
    if len(new_keys) != len(new.nodes):
        raise ValueError("topology nodes need distinct keys")
    removed: list[str] = []
    renames: dict[str, str] = {}
    created: list[str] = []
    try:
        if old is not None:
            gone = [n.netns for n in old.nodes if n.key not in new_keys and _exists(n.netns)]
            if gone:
                _unplug(gone)
                removed = list(teardown(new.lab, gone).removed)
            renames = {n.netns: new_keys[n.key].netns for n in old.nodes
                       if n.key in new_keys and new_keys[n.key].netns != n.netns
                       and _exists(n.netns)}
            # Two steps through temporary names: a rename may target another's old name.
            tmp = {o: f"{new.lab}-.sync{i}" for i, o in enumerate(renames)}
            for o, t in tmp.items():
                _rename_netns(o, t)
            for o, t in tmp.items():
                _rename_netns(t, renames[o])
            old = _renamed(old, renames)

        names = list(new.netns_names)
        existing = [n for n in names if _exists(n)]
        missing = [n for n in names if n not in existing]
        # 1. Namespaces, in parallel.
        results = _parallel({n: (["ip", "netns", "add", n], None) for n in missing})
        created = [n for n, (rc, _, _) in results.items() if rc == 0]
        errors = [f"ip netns add {n}: {err.strip()}" for n, (rc, _, err) in results.items()
                  if rc]
        if errors:
            raise LabBuildError("; ".join(errors))

        # 2. Sysctls, before any interface exists (accept_dad); rewriting them is harmless.
        for n in names:
            values = _sysctls(new, n)
            try:
                run_in_netns(n, functools.partial(_write_sysctls, values))
            except OSError as e:
                raise LabBuildError(f"sysctls in {n}: {e}") from e

        # 3. What is there already (fresh namespaces are empty: no need to ask).
        live = _live_state(existing)
        live |= {n: _Live(set(), set()) for n in missing}

        # 4. Removals (old minus new), before creations that may reuse the names.
        if old is not None:
            strict, best_effort = _remove_lines(old, new, live)
            _batches(strict, "removing from")
            _batches(best_effort, "removing routes from", force=True)

        # 5. Veth pairs in one go, each end created directly in its namespace (from inside
        # a lab namespace, never the root one). A lone end (half a pair) is deleted first.
        lone: dict[str, list[str]] = {}
        veth_lines: list[str] = []
        for v in new.veths:
            have = [e for e in (v.a, v.b) if e.ifname in live[e.netns].ifaces]
            if len(have) == 2:
                continue
            for end in have:
                lone.setdefault(end.netns, []).append(f"link del {end.ifname}")
            veth_lines.append(f"link add {v.a.ifname} netns {v.a.netns} type veth "
                              f"peer name {v.b.ifname} netns {v.b.netns}")
        _batches(lone, "removing a lone veth end from")
        if veth_lines:
            cp = _run(["ip", "-n", names[0], "-batch", "-"], "\n".join(veth_lines) + "\n")
            if cp.returncode:
                raise _fail("creating veth pairs", cp)

        # 6. Per-namespace configuration, all namespaces in parallel.
        _batches({n: _create_lines(new, n, live[n]) for n in names}, "configuring")

        # 7. VLAN emulation (tc-BPF) where there are sub-interfaces or a VLAN-aware bridge;
        # re-attached everywhere: a replace is atomic and VLAN lists may have changed.
        for n in names:
            vlans = [v for v in new.vlans if v.netns == n]
            bridges = [b for b in new.bridges if b.netns == n and b.vlan_filtering]
            if vlans or bridges:
                try:
                    run_in_netns(n, functools.partial(_attach_vlan_programs, vlans, bridges))
                except OSError as e:
                    raise LabBuildError(f"802.1Q emulation in {n}: {e}") from e
        # 8. Bridge ports forwarding: a port whose peer came up after the bridge is enabled
        # only once linkwatch has processed its carrier (up to ~1 s later); until then the
        # switch silently drops that customer's first frames (ARP), so wait for it here.
        _wait_ports_forwarding(new)
    except BaseException as e:
        try:
            teardown(new.lab, created)
        except Exception as te:  # keep the original error, mention the cleanup one
            e.add_note(f"removing the namespaces created by the failed sync also failed: {te}")
        if isinstance(e, LabBuildError):
            raise
        if isinstance(e, Exception):
            raise LabBuildError(f"syncing lab {new.lab!r} failed: {e}") from e
        raise
    return SyncReport(added_nodes=tuple(created), removed_nodes=tuple(removed),
                      seconds=time.perf_counter() - t0, renamed_nodes=tuple(renames.items()))


# --------------------------------------------------------------------------- teardown


def existing_namespaces(lab: str) -> list[str]:
    """Namespaces named `<lab>-...` that exist now."""
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(f"{lab}-"))


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in_namespaces(netns_names: Iterable[str]) -> dict[str, list[int]]:
    """PIDs of the processes living in each namespace (as `ip netns pids`, for all at once)."""
    ids = {}
    for n in netns_names:
        i = _ns_id(_netns_path(n))
        if i is not None:
            ids[i] = n
    out: dict[str, list[int]] = {n: [] for n in ids.values()}
    if not ids:
        return out
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        i = _ns_id(f"/proc/{entry}/ns/net")
        if i in ids:
            out[ids[i]].append(int(entry))
    return out


def _alive_in(pid: int, ns: tuple[int, int]) -> bool:
    # A zombie has no namespace any more; a reused PID lives elsewhere: both are "gone".
    return _ns_id(f"/proc/{pid}/ns/net") == ns


def _delete_netns(name: str) -> None:
    path = _netns_path(name)
    if _libc.umount2(path.encode(), MNT_DETACH) < 0:
        e = ctypes.get_errno()
        if e not in (errno.EINVAL, errno.ENOENT):
            raise OSError(e, f"umount {path}: {os.strerror(e)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def teardown(lab: str, netns_names: Iterable[str] | None = None,
             grace: float = 1.0) -> TeardownReport:
    """Kill what runs in the lab's namespaces (SIGTERM, SIGKILL after `grace` s), then delete
    them (their veths go with them). Idempotent; `netns_names` defaults to every `<lab>-*`."""
    t0 = time.perf_counter()
    names = list(netns_names) if netns_names is not None else existing_namespaces(lab)
    foreign = [n for n in names if not n.startswith(f"{lab}-")]
    if foreign:
        raise ValueError(f"refusing to delete namespaces outside lab {lab!r}: {foreign}")
    present = [n for n in names if os.path.exists(_netns_path(n))]
    missing = tuple(n for n in names if n not in present)

    ns_ids = {n: _ns_id(_netns_path(n)) for n in present}
    victims = [(pid, ns_ids[n]) for n, pids in pids_in_namespaces(present).items()
               for pid in pids]
    terminated, killed = [], []
    for pid, _ in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            terminated.append(pid)
    deadline = time.monotonic() + grace
    left = victims
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [(pid, i) for pid, i in left if i is not None and _alive_in(pid, i)]
    for pid, i in left:
        if i is not None and _alive_in(pid, i):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    removed, errors = [], []
    for n in present:
        try:
            _delete_netns(n)
            removed.append(n)
        except OSError as e:
            p = _run(["ip", "netns", "delete", n])  # fall back to iproute2's own way
            if p.returncode:
                errors.append(f"{n}: {e}; ip netns delete: {p.stderr.strip()}")
            else:
                removed.append(n)
    if errors:
        raise RuntimeError("teardown could not delete: " + "; ".join(errors))
    return TeardownReport(removed=tuple(removed), missing=missing, terminated=tuple(terminated),
                          killed=tuple(killed), seconds=time.perf_counter() - t0)
