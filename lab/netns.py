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
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from lab.topology import Bridge, Topology, VlanInterface

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
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 1, 4, 0x200, 0x400
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

    def request(self, msg_type: int, body: bytes, what: str) -> None:
        self.seq += 1
        flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
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
        self.request(_RTM_NEWQDISC, tcm + _nla(_TCA_KIND, b"clsact\0"), f"clsact on {ifname}")

    def bpf_filter(self, ifindex: int, ifname: str, parent: int, fd: int, name: str) -> None:
        info = (1 << 16) | socket.htons(_ETH_P_ALL)  # prio 1, all protocols
        tcm = struct.pack("<BxxxiIII", socket.AF_UNSPEC, ifindex, 1, parent, info)
        opts = (_nla(_TCA_BPF_FD, struct.pack("<I", fd))
                + _nla(_TCA_BPF_NAME, name.encode() + b"\0")
                + _nla(_TCA_BPF_FLAGS, struct.pack("<I", 1)))  # direct-action
        body = tcm + _nla(_TCA_KIND, b"bpf\0") + _nla(_TCA_OPTIONS | 0x8000, opts)
        self.request(_RTM_NEWTFILTER, body, f"bpf filter {name} on {ifname}")


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
    if node.role == "switch":
        # A pure L2 node: no link-local chatter of its own on the ports.
        s |= {"net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"}
    return s


def _write_sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)


# --------------------------------------------------------------------------- build


def _batch_lines(topology: Topology, netns: str) -> list[str]:
    lines = ["link set lo up"]
    ifaces: list[str] = []
    for v in topology.veths:
        ifaces += [e.ifname for e in (v.a, v.b) if e.netns == netns]
    for vl in topology.vlans:
        if vl.netns != netns:
            continue
        lines.append(f"link add {vl.ifname} type veth peer name {_hidden_peer(vl)}")
        # The hidden end only relays frames: no link-local address, no IPv6 chatter.
        lines.append(f"link set dev {_hidden_peer(vl)} addrgenmode none")
        ifaces += [vl.ifname, _hidden_peer(vl)]
    for br in topology.bridges:
        if br.netns != netns:
            continue
        lines.append(f"link add {br.ifname} type bridge stp_state 0")
        lines += [f"link set dev {p.ifname} master {br.ifname}" for p in br.ports]
        ifaces.append(br.ifname)
    # Links up before addresses: the other order costs ~1 s on the first IPv6 packet.
    lines += [f"link set dev {i} up" for i in ifaces]
    for a in topology.addresses:
        if a.netns == netns:
            lines.append(f"addr add {a.cidr} dev {a.ifname}" + (" nodad" if ":" in a.cidr else ""))
    lines += [f"route add {r.prefix} via {r.via}" for r in topology.routes if r.netns == netns]
    return lines


def _run(cmd: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)


def _fail(what: str, proc: subprocess.CompletedProcess[str] | None = None) -> LabBuildError:
    detail = f": {proc.stderr.strip() or proc.stdout.strip()}" if proc is not None else ""
    return LabBuildError(f"{what}{detail}")


def build(topology: Topology) -> None:
    """Create every namespace, veth, VLAN, bridge, address and static route of `topology`.
    On failure everything built is removed again and LabBuildError is raised."""
    if shutil.which("ip") is None:
        raise LabBuildError("the `ip` command (iproute2) is not installed")
    names = list(topology.netns_names)
    taken = [n for n in names if os.path.exists(_netns_path(n))]
    if taken:
        raise LabBuildError(f"namespaces already exist: {', '.join(taken)} (lab "
                            f"{topology.lab!r} already up? tear it down first)")
    created: list[str] = []
    try:
        # 1. Namespaces, in parallel.
        procs = [(n, subprocess.Popen(["ip", "netns", "add", n], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)) for n in names]
        errors = []
        for n, p in procs:
            _, err = p.communicate()
            if p.returncode == 0:
                created.append(n)
            else:
                errors.append(f"ip netns add {n}: {err.strip()}")
        if errors:
            raise LabBuildError("; ".join(errors))

        # 2. Sysctls, before any interface exists (accept_dad).
        for n in names:
            values = _sysctls(topology, n)
            try:
                run_in_netns(n, functools.partial(_write_sysctls, values))
            except OSError as e:
                raise LabBuildError(f"sysctls in {n}: {e}") from e

        # 3. All veth pairs in one go, each end created directly in its namespace.
        if topology.veths:
            veth_lines = [f"link add {v.a.ifname} netns {v.a.netns} type veth "
                          f"peer name {v.b.ifname} netns {v.b.netns}" for v in topology.veths]
            cp = _run(["ip", "-n", topology.veths[0].a.netns, "-batch", "-"],
                      "\n".join(veth_lines) + "\n")
            if cp.returncode:
                raise _fail("creating veth pairs", cp)

        # 4. Per-namespace configuration, all namespaces in parallel.
        running = []
        for n in names:
            script = "\n".join(_batch_lines(topology, n)) + "\n"
            proc = subprocess.Popen(["ip", "-n", n, "-batch", "-"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            running.append((n, script, proc))
        errors = []
        for n, script, proc in running:
            out, err = proc.communicate(script)
            if proc.returncode:
                errors.append(f"configuring {n}: {(err or out).strip()}")
        if errors:
            raise LabBuildError("; ".join(errors))

        # 5. VLAN emulation (tc-BPF) where there are sub-interfaces or a VLAN-aware bridge.
        for n in names:
            vlans = [v for v in topology.vlans if v.netns == n]
            bridges = [b for b in topology.bridges if b.netns == n and b.vlan_filtering]
            if vlans or bridges:
                try:
                    run_in_netns(n, functools.partial(_attach_vlan_programs, vlans, bridges))
                except OSError as e:
                    raise LabBuildError(f"802.1Q emulation in {n}: {e}") from e
    except BaseException as e:
        try:
            teardown(topology.lab, created)
        except Exception as te:  # keep the original error, mention the cleanup one
            e.add_note(f"teardown after the failed build also failed: {te}")
        if isinstance(e, LabBuildError):
            raise
        if isinstance(e, Exception):
            raise LabBuildError(f"building lab {topology.lab!r} failed: {e}") from e
        raise


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
