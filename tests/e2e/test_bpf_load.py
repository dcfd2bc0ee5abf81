"""The 802.1Q programs load at scale (root: BPF_PROG_LOAD): a trunk carrying a VLAN per link of
a 128-link lab. With a verifier log always asked for, its 16 KiB buffer overflowed near 70
VLANs and the load itself failed (ENOSPC), failing the 73rd link's provisioning."""

from __future__ import annotations

import os

import pytest

from lab.dataplane import bpf


@pytest.mark.parametrize("vlans", [1, 70, 128])
def test_big_programs_load(vlans: int) -> None:
    for name, prog in (("ilab_demux", bpf.trunk_demux({2000 + i: 10 + i for i in range(vlans)})),
                       ("ilab_vlanfilt", bpf.port_filter(range(2000, 2000 + vlans)))):
        fd = bpf.load(prog, name)
        assert fd >= 0
        os.close(fd)


def test_a_rejected_program_says_why() -> None:
    exit_only = bytes([0x95, 0, 0, 0, 0, 0, 0, 0])  # `exit` with r0 never set
    with pytest.raises(OSError, match=r"(?s)BPF_PROG_LOAD bad: .*R0 !read_ok"):
        bpf.load(exit_only, "bad")
