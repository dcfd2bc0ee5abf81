"""Speakers forked from a server that imported ExaBGP once (controller.drivers.speaker_forkserver):
a real server and real ExaBGP processes (no namespace: an ExaBGP with no neighbor and one
API process, ``/bin/cat``, runs until it is stopped)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.drivers.exabgp_config import speaker_env
from controller.drivers.procs import process_alive
from controller.drivers.speaker import SpeakerSpec, speaker_pid
from controller.drivers.speaker_forkserver import Forkserver, ForkserverError
from lab.control.polling import wait_for
from lab.daemon.speakers import ProcessSpeakers

IDLE = "process idle {\n    run /bin/cat;\n    encoder json;\n}\n"


def _argv(conf: Path) -> list[str]:
    return [sys.executable, "-P", "-m", "controller.drivers.exabgp_host", "server", str(conf)]


def _gone(pid: int) -> None:
    """Stop a speaker the test started (its process group: ExaBGP and its /bin/cat)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid), f"speaker {pid} to end", 5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Forkserver]:
    fs = Forkserver(tmp_path / "fs.sock", tmp_path / "fs.pid", tmp_path / "fs.log")
    yield fs
    try:
        pid = int(fs.pid_path.read_text())
    except (OSError, ValueError):
        return
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not process_alive(pid), "the forkserver to end", 5)


def test_a_forked_speaker_is_what_an_exec_would_have_made(server: Forkserver,
                                                          tmp_path: Path) -> None:
    spec = SpeakerSpec(name="scw-1", netns="", workdir=tmp_path)
    spec.config_path.write_text(IDLE)
    env = {**speaker_env(), "ILAB_MARK": "forked"}
    pid = server.start("", _argv(spec.config_path), log_path=spec.log_path, env=env,
                       cwd=tmp_path)
    try:
        spec.pid_path.write_text(f"{pid}\n")
        # tagged when start answers: the lab recognises it as it does an exec'd speaker
        assert speaker_pid(spec) == pid
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        assert [a.decode() for a in cmdline] == _argv(spec.config_path)
        environ = Path(f"/proc/{pid}/environ").read_bytes().rstrip(b"\0").split(b"\0")
        assert b"ILAB_MARK=forked" in environ and b"exabgp_api_cli=false" in environ
        assert not any(e.startswith(b"ILAB_FORKSERVER_ROOM=") for e in environ)
        assert os.readlink(f"/proc/{pid}/cwd") == str(tmp_path)
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid  # its own session
        server_pid = int(server.pid_path.read_text())
        assert os.getsid(pid) != os.getsid(server_pid)
        wait_for(lambda: "loaded new configuration successfully" in spec.log_path.read_text(),
                 "ExaBGP to load its configuration", 10, detail=spec.log_path.read_text)
        assert process_alive(pid)
        # a second speaker from the same server, while the first runs
        other = SpeakerSpec(name="scw-2", netns="", workdir=tmp_path)
        other.config_path.write_text(IDLE)
        pid2 = server.start("", _argv(other.config_path), log_path=other.log_path, env=env,
                            cwd=tmp_path)
        assert pid2 != pid and process_alive(pid2)
        _gone(pid2)
    finally:
        _gone(pid)
    assert int(server.pid_path.read_text()) == server_pid  # the same server served both


def test_a_bad_request_is_refused_and_the_server_serves_on(server: Forkserver,
                                                            tmp_path: Path) -> None:
    conf = tmp_path / "s.conf"
    conf.write_text(IDLE)
    pid = server.start("", _argv(conf), log_path=tmp_path / "s.log", cwd=tmp_path)
    _gone(pid)
    for line in (b"not json\n", b'{"argv": "not a list"}\n'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(server.socket_path))
            s.sendall(line)
            answer: dict[str, Any] = json.loads(s.makefile("rb").readline())
        assert "error" in answer and "pid" not in answer, answer
    _gone(server.start("", _argv(conf), log_path=tmp_path / "s.log", cwd=tmp_path))


def test_a_speaker_that_cannot_run_says_why_in_its_log(server: Forkserver,
                                                       tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    pid = server.start("no-such-namespace-here", _argv(tmp_path / "s.conf"), log_path=log,
                       cwd=tmp_path)
    wait_for(lambda: not process_alive(pid), "the speaker to give up", 10)
    assert "no-such-namespace-here" in log.read_text()


def test_a_server_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    broken = Forkserver(tmp_path / "fs.sock", tmp_path / "fs.pid", tmp_path / "fs.log",
                        python="/bin/false")
    with pytest.raises(ForkserverError, match="did not start"):
        broken.start("", ["x"], log_path=tmp_path / "s.log")
    missing = Forkserver(tmp_path / "fs.sock", tmp_path / "fs.pid", tmp_path / "fs.log",
                         python=str(tmp_path / "no-python"))
    with pytest.raises(ForkserverError, match="did not start"):
        missing.start("", ["x"], log_path=tmp_path / "s.log")


def test_a_server_another_process_started_that_dies_is_given_up_on_at_once(
        server: Forkserver, tmp_path: Path) -> None:
    # alive and ours (its command line tagged) when asked, dead before any socket exists
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)",
                             "controller.drivers.speaker_forkserver"])
    try:
        server.pid_path.write_text(f"{fake.pid}\n")
        wait_for(server._running, "the fake server's command line", 5)
        t0 = time.monotonic()
        with pytest.raises(ForkserverError, match="did not start"):
            server.start("", _argv(tmp_path / "x.conf"), log_path=tmp_path / "x.log")
        assert time.monotonic() - t0 < 5, "waited for a dead server's socket"
    finally:
        fake.kill()
        fake.wait()


def test_without_a_forkserver_the_speaker_is_exec_d(tmp_path: Path) -> None:
    asked: list[str] = []

    class Broken(Forkserver):
        def start(self, netns: str, argv: Any, **kwargs: Any) -> int:
            asked.append(netns)
            raise ForkserverError("down for the test")

    class Nodes:
        """The netns runtime's start (an exec), recorded; ``ns1`` exists."""

        def __init__(self) -> None:
            self.calls: list[tuple[str, list[str], dict[str, Any]]] = []

        def exists(self, netns: str) -> bool:
            return netns == "ns1"

        def start(self, netns: str, argv: Any, **kwargs: Any) -> int:
            self.calls.append((netns, list(argv), kwargs))
            return 4242

    nodes = Nodes()
    speakers = ProcessSpeakers(tmp_path, tmp_path / "hub.sock",
                               forkserver=Broken(tmp_path / "a", tmp_path / "b", tmp_path / "c"))
    fork: Any = speakers._fork
    assert fork(nodes, "ns1", ["py", "conf"], log_path=tmp_path / "l") == 4242
    # a missing namespace is the runtime's to report, as for any exec
    assert fork(nodes, "ns2", ["py", "conf"], log_path=tmp_path / "l") == 4242
    assert nodes.calls == [("ns1", ["py", "conf"], {"log_path": tmp_path / "l"}),
                           ("ns2", ["py", "conf"], {"log_path": tmp_path / "l"})]
    assert asked == ["ns1"]  # the forkserver was tried where the namespace exists
