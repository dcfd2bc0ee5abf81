"""802.1Q without the kernel's 8021q module: VLANs emulated with tiny hand-assembled tc-BPF
programs that put real 802.1Q tags on the wire (I/O only in ``load`` and ``attach_vlan_programs``).

This machine's kernel has neither the `vlan` link type (CONFIG_VLAN_8021Q) nor bridge VLAN
filtering (CONFIG_BRIDGE_VLAN_FILTERING), but it has eBPF and tc clsact. So:

* sub-interface `<parent>.<vid>` = a veth pair (`il0.2451` <-> hidden `il0q2451`) in the same
  namespace; on `il0q2451` ingress: push tag <vid> and redirect out of `il0`; on `il0`
  ingress: tagged <vid> -> pop and redirect out of `il0q2451` (so it arrives on `il0.2451`),
  unknown VID -> drop, untagged -> the parent itself (as with real 802.1Q).
* VLAN-aware bridge `br0` = a plain Linux bridge (it forwards tagged frames as they are) plus,
  on each port, ingress and egress filters that drop anything not tagged with the port's VIDs.

The programs are a pure function of their VIDs and ifindexes (``port_filter``,
``trunk_demux``, ``subif_mux``); ``attach_vlan_programs`` loads and attaches them, from a
thread inside the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
from collections.abc import Iterable

from controller.drivers import netlink as nl
from lab.scenario.topology import Bridge, VlanInterface

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SCHED_CLS = 3
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
_FN_VLAN_PUSH, _FN_VLAN_POP, _FN_REDIRECT = 18, 19, 23
_TC_ACT_UNSPEC, _TC_ACT_OK, _TC_ACT_SHOT = -1, 0, 2
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


def port_filter(vids: Iterable[int]) -> bytes:
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
    # Unspecified, not OK: the port's next filters run too (a shared port's redirect into
    # its IFB, lab.dataplane.shaping); with none, the frame goes on as with OK.
    a.ret(_TC_ACT_UNSPEC)
    return a.bytes()


def trunk_demux(vid_to_ifindex: dict[int, int]) -> bytes:
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


def subif_mux(vid: int, trunk_ifindex: int) -> bytes:
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


LOAD_ATTEMPTS = 5


def load(prog: bytes, name: str) -> int:
    """Load a tc (SCHED_CLS) program; its fd. The verifier's complaint in the OSError."""
    # Without a verifier log first: a log that does not fit its buffer fails the load itself
    # (ENOSPC: a trunk's demux program with ~70 VLANs outgrew 16 KiB of log). The log is
    # asked for only to explain a failure, as libbpf does.
    fd, e, _ = _load(prog, name, log_size=0)
    if fd < 0:
        fd, e, text = _load(prog, name, log_size=LOG_SIZE)
        if fd < 0:
            raise OSError(e, f"BPF_PROG_LOAD {name}: {os.strerror(e)}: {text[-500:]}")
    return fd


LOG_SIZE = 1 << 20


def _load(prog: bytes, name: str, log_size: int) -> tuple[int, int, str]:
    """(fd or -1, errno, the verifier's log) of one BPF_PROG_LOAD, EAGAIN retried."""
    insns = ctypes.create_string_buffer(prog, len(prog))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(max(log_size, 1))
    pname = name.encode()[:15]
    # union bpf_attr for BPF_PROG_LOAD up to prog_name (offset 48, 16 bytes).
    attr = struct.pack("<IIQQIIQII16s", _BPF_PROG_TYPE_SCHED_CLS, len(prog) // 8,
                       ctypes.addressof(insns), ctypes.addressof(lic), 1 if log_size else 0,
                       log_size, ctypes.addressof(log) if log_size else 0, 0, 0, pname)
    buf = ctypes.create_string_buffer(attr.ljust(128, b"\0"), 128)
    # The kernel may answer EAGAIN on a loaded machine (measured: 1 load in a few hundred
    # while provisioning links); libbpf retries it too.
    for _attempt in range(LOAD_ATTEMPTS):
        fd = _libc.syscall(_SYS_BPF, _BPF_PROG_LOAD, buf, 128)
        if fd >= 0 or ctypes.get_errno() != errno.EAGAIN:
            break
    err = ctypes.get_errno() if fd < 0 else 0
    return int(fd), err, log.value.decode(errors="replace") if log_size else ""


# --------------------------------------------------------------------------- tc via netlink

_RTM_NEWQDISC, _RTM_NEWTFILTER = 36, 44
_TCA_KIND, _TCA_OPTIONS = 1, 2
_TCA_BPF_FD, _TCA_BPF_NAME, _TCA_BPF_FLAGS = 6, 7, 8
_TCA_BPF_FLAG_ACT_DIRECT = 1
_TC_H_CLSACT, _TC_H_INGRESS, _TC_H_EGRESS = 0xFFFFFFF1, 0xFFFFFFF2, 0xFFFFFFF3
_ETH_P_ALL = 0x0003
_TCMSG = struct.Struct("<BxxxiIII")  # tcmsg: family, ifindex, handle, parent, info


def _clsact(ch: nl.Channel, ifindex: int, ifname: str) -> None:
    tcm = _TCMSG.pack(socket.AF_UNSPEC, ifindex, 0xFFFF0000, _TC_H_CLSACT, 0)
    # Already there (sync): keep it, replacing it would drop its filters.
    with contextlib.suppress(FileExistsError):
        ch.request(_RTM_NEWQDISC, nl.NLM_F_CREATE | nl.NLM_F_EXCL,
                   tcm + nl.attr(_TCA_KIND, b"clsact\0"), f"clsact on {ifname}")


def _bpf_filter(ch: nl.Channel, ifindex: int, ifname: str, parent: int, fd: int,
                name: str) -> None:
    info = (1 << 16) | socket.htons(_ETH_P_ALL)  # prio 1, all protocols
    # Fixed handle 1 + NLM_F_REPLACE: attaching again swaps the program atomically (RCU),
    # so `sync` can widen a trunk's VLAN list without dropping a frame of the others.
    tcm = _TCMSG.pack(socket.AF_UNSPEC, ifindex, 1, parent, info)
    opts = nl.nested(_TCA_OPTIONS,
                     nl.attr(_TCA_BPF_FD, struct.pack("<I", fd)),
                     nl.attr(_TCA_BPF_NAME, name.encode() + b"\0"),
                     nl.attr(_TCA_BPF_FLAGS, struct.pack("<I", _TCA_BPF_FLAG_ACT_DIRECT)))
    ch.request(_RTM_NEWTFILTER, nl.NLM_F_CREATE | nl.NLM_F_REPLACE,
               tcm + nl.attr(_TCA_KIND, b"bpf\0") + opts, f"bpf filter {name} on {ifname}")


def hidden_peer(v: VlanInterface) -> str:
    """The veth end behind sub-interface `v` that relays its frames to and from the trunk."""
    return f"{v.parent}q{v.vid}"


def attach_vlan_programs(vlans: list[VlanInterface], bridges: list[Bridge]) -> None:
    """Load and attach the VLAN emulation programs of one namespace; runs in a thread that
    joined it (the interfaces are looked up by name there)."""
    fds: list[int] = []
    done: set[int] = set()
    with nl.Channel() as ch:
        try:
            def attach(ifname: str, parent: int, prog: bytes, name: str) -> None:
                idx = socket.if_nametoindex(ifname)
                if idx not in done:
                    _clsact(ch, idx, ifname)
                    done.add(idx)
                fd = load(prog, name)
                fds.append(fd)
                _bpf_filter(ch, idx, ifname, parent, fd, name)

            by_parent: dict[str, dict[int, int]] = {}
            for v in vlans:
                by_parent.setdefault(v.parent, {})[v.vid] = socket.if_nametoindex(hidden_peer(v))
                attach(hidden_peer(v), _TC_H_INGRESS,
                       subif_mux(v.vid, socket.if_nametoindex(v.parent)), f"ilab_mux{v.vid}")
            for parent, table in by_parent.items():
                attach(parent, _TC_H_INGRESS, trunk_demux(table), "ilab_demux")
            for br in bridges:
                for port in br.ports:
                    prog = port_filter(port.tagged_vids)
                    attach(port.ifname, _TC_H_INGRESS, prog, "ilab_vlanfilt")
                    attach(port.ifname, _TC_H_EGRESS, prog, "ilab_vlanfilt")
        finally:
            for fd in fds:  # the tc filters hold their own references
                os.close(fd)
