"""The VLAN emulation programs are a pure function of their VIDs and ifindexes: their
instructions are pinned here (a change to the assembler or a program shows as a diff)."""

from __future__ import annotations

import struct

import pytest

from lab.dataplane import bpf

# opcodes
LDXW, JEQ, JNE, AND, MOV, MOVX, CALL, EXIT = 0x61, 0x15, 0x55, 0x57, 0xB7, 0xBF, 0x85, 0x95
JUMPS = (JEQ, JNE)
VLAN_PUSH, VLAN_POP, REDIRECT = 18, 19, 23
UNSPEC, OK, SHOT = -1, 0, 2
PRESENT, TCI = 20, 24  # offsets in struct __sk_buff

Insn = tuple[int, int, int, int, int]  # opcode, dst, src, off, imm


def disasm(prog: bytes) -> list[Insn]:
    assert len(prog) % 8 == 0
    out = []
    for i in range(0, len(prog), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", prog, i)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def test_port_filter() -> None:
    assert disasm(bpf.port_filter([2451, 2452])) == [
        (LDXW, 2, 1, PRESENT, 0),
        (JEQ, 2, 0, 4, 0),  # untagged: drop
        (LDXW, 2, 1, TCI, 0),
        (AND, 2, 0, 0, 0xFFF),
        (JEQ, 2, 0, 3, 2451),  # one of ours: pass
        (JEQ, 2, 0, 2, 2452),
        (MOV, 0, 0, 0, SHOT),
        (EXIT, 0, 0, 0, 0),
        (MOV, 0, 0, 0, UNSPEC),  # pass: the port's next filters run too
        (EXIT, 0, 0, 0, 0),
    ]


def test_subif_mux() -> None:
    assert disasm(bpf.subif_mux(2451, 3)) == [
        (MOVX, 6, 1, 0, 0),
        (MOVX, 1, 6, 0, 0),
        (MOV, 2, 0, 0, 0x0081),  # htons(ETH_P_8021Q)
        (MOV, 3, 0, 0, 2451),
        (CALL, 0, 0, 0, VLAN_PUSH),
        (JEQ, 0, 0, 2, 0),
        (MOV, 0, 0, 0, SHOT),
        (EXIT, 0, 0, 0, 0),
        (MOV, 1, 0, 0, 3),  # out of the trunk (ifindex 3)
        (MOV, 2, 0, 0, 0),
        (CALL, 0, 0, 0, REDIRECT),
        (EXIT, 0, 0, 0, 0),
    ]


def test_trunk_demux() -> None:
    def branch(vid: int, ifindex: int) -> list[Insn]:
        return [(JNE, 7, 0, 6, vid), (MOVX, 1, 6, 0, 0), (CALL, 0, 0, 0, VLAN_POP),
                (MOV, 1, 0, 0, ifindex), (MOV, 2, 0, 0, 0), (CALL, 0, 0, 0, REDIRECT),
                (EXIT, 0, 0, 0, 0)]

    assert disasm(bpf.trunk_demux({2452: 7, 2451: 5})) == [
        (MOVX, 6, 1, 0, 0),
        (LDXW, 2, 6, PRESENT, 0),
        (JNE, 2, 0, 2, 0),
        (MOV, 0, 0, 0, OK),  # untagged: for the parent itself
        (EXIT, 0, 0, 0, 0),
        (LDXW, 7, 6, TCI, 0),
        (AND, 7, 0, 0, 0xFFF),
        *branch(2451, 5),  # sorted by VID
        *branch(2452, 7),
        (MOV, 0, 0, 0, SHOT),  # unknown VID
        (EXIT, 0, 0, 0, 0),
    ]


@pytest.mark.parametrize("prog", [
    bpf.port_filter([]), bpf.port_filter(range(1, 40)), bpf.subif_mux(4094, 1),
    bpf.trunk_demux({}), bpf.trunk_demux({v: v + 100 for v in range(1, 30)}),
])
def test_jumps_stay_inside_and_every_path_exits(prog: bytes) -> None:
    insns = disasm(prog)
    assert insns[-1][0] == EXIT
    for pc, (code, *_rest) in enumerate(insns):
        if code in JUMPS:
            target = pc + 1 + insns[pc][3]
            assert pc < target < len(insns)  # forward only: the verifier rejects loops


def test_hidden_peer_name() -> None:
    from lab.scenario.topology import VlanInterface

    v = VlanInterface(node="customer-router", netns="x-customer-router", parent="il0", vid=2451)
    assert (v.ifname, bpf.hidden_peer(v)) == ("il0.2451", "il0q2451")
