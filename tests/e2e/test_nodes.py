"""The netns node runtime on a real kernel: nodes `tnr-*` are created, entered, run programs
(short, long-running, self-daemonising, with a bind mount), are removed."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.drivers.procs import process_alive
from lab.control.polling import wait_for
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import Mount, NodeError, NodeRuntime

LAB = "tnr"
SIOCGIFINDEX = 0x8933

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                       reason="needs root and iproute2"),
]


@pytest.fixture
def nodes() -> NodeRuntime:
    return runtime("netns")


@pytest.fixture
def node(nodes: NodeRuntime) -> Iterator[str]:
    nodes.remove(nodes.lab_nodes(LAB))  # leftovers of an interrupted run
    handle = nodes.handle(LAB, "a")
    nodes.create([handle])
    try:
        yield handle
    finally:
        nodes.remove(nodes.lab_nodes(LAB))
        assert nodes.lab_nodes(LAB) == []


def _netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def test_create_and_naming(nodes: NodeRuntime, node: str) -> None:
    assert node == "tnr-a" and nodes.exists(node)
    assert nodes.lab_nodes(LAB) == [node]
    assert nodes.netns_path(node) == "/run/netns/tnr-a"
    with pytest.raises(NodeError, match="ip netns add tnr-a"):
        nodes.create([node])  # exists already


def test_enter_and_socket(nodes: NodeRuntime, node: str) -> None:
    inode = _netns_inode(nodes.netns_path(node))
    assert nodes.enter(node, lambda: _netns_inode("/proc/thread-self/ns/net")) == inode
    assert _netns_inode("/proc/thread-self/ns/net") != inode  # the caller never moved
    veth = ["ip", "link", "add", "tnr0", "type", "veth", "peer", "tnr1"]
    assert nodes.run(node, veth).returncode == 0
    # An interface ioctl acts in the socket's namespace: only the node's socket sees tnr0.
    ifreq = struct.pack("16si", b"tnr0", 0)
    with nodes.socket(node, socket.AF_INET, socket.SOCK_DGRAM) as inside:
        assert struct.unpack("16si", fcntl.ioctl(inside, SIOCGIFINDEX, ifreq))[1] > 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as here, pytest.raises(OSError):
        fcntl.ioctl(here, SIOCGIFINDEX, ifreq)
    with pytest.raises(FileNotFoundError):
        nodes.enter("tnr-missing", lambda: None)


def test_run(nodes: NodeRuntime, node: str) -> None:
    p = nodes.run(node, ["ip", "-o", "link"])
    assert p.returncode == 0 and [ln.split(":")[1].strip() for ln in p.stdout.splitlines()] \
        == ["lo"]
    assert nodes.run(node, ["sh", "-c", "cat; exit 4"], input="hi").stdout == "hi"
    assert nodes.run(node, ["sh", "-c", "exit 4"]).returncode == 4
    with pytest.raises(NodeError, match="not found"):
        nodes.run(node, ["/nonexistent/tool"])
    with pytest.raises(NodeError, match="within"):
        nodes.run(node, ["sleep", "5"], timeout=0.1)


def test_start_and_stop(nodes: NodeRuntime, node: str, tmp_path: Path) -> None:
    log = tmp_path / "prog.log"
    pid = nodes.start(node, ["sh", "-c", 'echo "$ILAB_X in $PWD"; exec sleep 300'],
                      log_path=log, env={"ILAB_X": "hello"}, cwd=tmp_path)
    wait_for(lambda: log.exists() and log.read_text(), "the program's output", 5.0)
    assert log.read_text() == f"hello in {tmp_path}\n"
    assert pid in nodes.pids([node])[node]  # the program's own PID, in the node
    assert os.getsid(pid) == pid  # its own session
    assert nodes.stop(node, pid)
    assert not process_alive(pid)
    assert not nodes.stop(node, pid)
    with pytest.raises(NodeError, match="does not exist"):
        nodes.start("tnr-missing", ["true"], log_path=log)


def test_start_with_a_mount(nodes: NodeRuntime, node: str, tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("inside")
    log = tmp_path / "out.log"
    pid = nodes.start(node, ["sh", "-c", "cat /var/tmp/marker; exec sleep 300"],
                      log_path=log, mounts=[Mount(tmp_path, "/var/tmp")])
    try:
        wait_for(lambda: log.exists() and log.read_text(), "the program's output", 5.0)
        assert log.read_text() == "inside"
        assert not Path("/var/tmp/marker").exists()  # bound in its mount namespace only
    finally:
        nodes.stop(node, pid)


def test_start_daemon(nodes: NodeRuntime, node: str, tmp_path: Path) -> None:
    pid_file, log = tmp_path / "d.pid", tmp_path / "d.log"
    nodes.start_daemon(node, ["sh", "-c", f"sleep 300 >/dev/null 2>&1 & echo $! > {pid_file}; "
                                          "echo started"], log_path=log)
    pid = int(pid_file.read_text())
    assert process_alive(pid) and pid in nodes.pids([node])[node]
    assert log.read_text() == "started\n"
    with pytest.raises(NodeError, match=r"(?s)failed to start \(exit 3\).*no luck"):
        nodes.start_daemon(node, ["sh", "-c", "echo no luck; exit 3"], log_path=log)
    with pytest.raises(NodeError, match="did not daemonise"):
        nodes.start_daemon(node, ["sleep", "5"], log_path=log, timeout=0.2)
    r = nodes.remove([node], grace=0.5)  # the daemon goes with its node
    assert pid in r.terminated and r.removed == (node,)
    assert not process_alive(pid)


def test_attach_passes_the_exit_status(nodes: NodeRuntime, node: str) -> None:
    assert nodes.attach(node, ["sh", "-c", "exit 7"]) == 7
