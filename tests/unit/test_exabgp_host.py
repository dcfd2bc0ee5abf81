"""The bridge as a thread of ExaBGP (controller.drivers.exabgp_host): the Popen-like object
ExaBGP's API-process code gets, against a real unix socket served by the test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.drivers import exabgp_bridge
from controller.drivers.exabgp_host import BRIDGE_MODULE, BridgeThread, bridge_argv, popen

UP = json.dumps({"exabgp": "5.0.0", "type": "state", "neighbor": {
    "address": {"local": "169.254.0.1", "peer": "169.254.0.2"},
    "asn": {"local": 12876, "peer": 64512}, "state": "up"}})
COMMAND = b"neighbor 169.254.0.2 announce route 198.51.100.0/24 next-hop self\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "hub.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(2)
    srv.settimeout(5)
    yield srv, path
    srv.close()


def _lines(conn: socket.socket, n: int) -> list[dict[str, object]]:
    buf = b""
    while buf.count(b"\n") < n:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    return [json.loads(line) for line in buf.split(b"\n")[:n]]


def test_the_bridge_command_is_recognised_by_its_module() -> None:
    argv = ["/x/python", "-m", BRIDGE_MODULE, "--socket", "/s", "--speaker", "scw-1"]
    assert bridge_argv(argv) == ["--socket", "/s", "--speaker", "scw-1"]
    assert bridge_argv(" ".join(argv)) == ["--socket", "/s", "--speaker", "scw-1"]
    assert bridge_argv(["/x/python", "-m", "exabgp"]) is None
    assert bridge_argv(["/bin/cat"]) is None


def test_another_api_process_is_forked_as_usual() -> None:
    proc = popen(["/bin/cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert isinstance(proc, subprocess.Popen)
    out, _ = proc.communicate(b"hi\n", timeout=5)
    assert out == b"hi\n"


def test_a_thread_bridge_relays_both_ways_and_ends_with_its_stdin(
        server: tuple[socket.socket, str]) -> None:
    srv, path = server
    bt = popen(["python", "-m", BRIDGE_MODULE, "--socket", path, "--speaker", "scw-t"])
    assert isinstance(bt, BridgeThread)
    conn, _ = srv.accept()
    conn.settimeout(5)
    hello, done = _lines(conn, 2)
    assert hello == {"type": "hello", "speaker": "scw-t", "pid": os.getpid(), "fresh": True}
    assert done["type"] == "replay_done"
    assert bt.poll() is None and bt.pid == os.getpid()
    # ExaBGP -> controller: an event line, as ExaBGP writes it
    bt.stdin.write(UP.encode() + b"\n")
    bt.stdin.flush()
    (state,) = _lines(conn, 1)
    assert (state["type"], state["peer"], state["state"]) == ("state", "169.254.0.2", "up")
    # controller -> ExaBGP: a command, read from the pipe ExaBGP polls
    conn.sendall(COMMAND)
    assert bt.stdout.read(100) == COMMAND
    # ExaBGP closes its stdin: the bridge ends, its stdout reads end of file
    bt.terminate()
    assert bt.wait(timeout=5) == 0 and bt.poll() == 0
    assert bt.stdout.read(100) == b""
    conn.close()


def test_a_crashed_thread_bridge_ends_like_a_crashed_child(
        server: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _srv, path = server

    def crash(self: exabgp_bridge.Bridge) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(exabgp_bridge.Bridge, "run", crash)
    bt = BridgeThread(["--socket", path, "--speaker", "scw-t"])
    assert bt.wait(timeout=5) == 1 and bt.poll() == 1
    assert bt.stdout.read(100) == b""  # ExaBGP sees it end and respawns it
    bt.terminate()


def test_bad_bridge_arguments_are_refused_before_any_thread() -> None:
    with pytest.raises(SystemExit):
        BridgeThread(["--speaker"])
