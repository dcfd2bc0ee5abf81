"""ExaBGP speakers forked from one interpreter that has imported ExaBGP already.

A speaker started with exec spends ~0.33 s of CPU importing ExaBGP before it does anything
(0.36 s against 0.04 s for a bare interpreter, measured with ``time``): 100 links, 33 s of the
two cores. This server imports it once; a start is then a fork. The child leaves the server's
session, takes the node's network namespace, its log, environment and working directory, and
the command line ``python -P -m controller.drivers.exabgp_host server CONF`` would have had
(and /proc shows that command line and that environment, as after an exec: the lab tells it
from any other process exactly as it tells an exec'd speaker, ``speaker.speaker_pid``); then
it runs ExaBGP. The server is one thread by design (a fork copies only the calling thread)
and ignores SIGCHLD, so the kernel reaps what it forked.

Run as ``python -P -m controller.drivers.speaker_forkserver SOCKET``. Protocol: one JSON
line per connection, ``{"argv", "netns", "env", "cwd", "log"}``; the answer is one JSON line,
``{"pid": N}`` or ``{"error": "..."}``. :class:`Forkserver` is the client.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.drivers.nsenter import enter_netns
from controller.drivers.procs import project_pythonpath, tagged_pid

__all__ = ["Forkserver", "ForkserverError", "serve"]

MODULE = __name__  # what ``python -m`` runs
# The server's own command line and environment are padded by this many bytes: a child's
# are written over them (/proc/self/mem), so that /proc shows its own, as after an exec.
CMDLINE_ROOM = 2048
ENVIRON_ROOM = 16384
CMDLINE_FIELD, ENVIRON_FIELD = 48, 50  # arg_start and env_start in /proc/PID/stat
START_TIMEOUT_S = 20.0  # the server's import, on a loaded 2-core machine
CLIENT_TIMEOUT_S = 10.0  # a request to read, a child to get ready


class ForkserverError(RuntimeError):
    """The server could not be started or reached, or refused a start."""


# --- server --------------------------------------------------------------------------------
def _preload() -> None:
    """What an ExaBGP server start imports, imported here once. ExaBGP reads its settings
    from the environment at its first ``getenv()``, never at import: checked, since a child
    must read its own environment, not the server's."""
    import exabgp.application.server
    import exabgp.configuration.configuration
    import exabgp.reactor.api.processes
    import exabgp.reactor.loop  # noqa: F401
    from exabgp.application.main import main  # noqa: F401
    from exabgp.environment.environment import Env

    import controller.drivers.exabgp_host  # noqa: F401

    if Env._setup:
        raise RuntimeError("ExaBGP read its environment at import: a fork would share it")


def _rewrite_proc_area(first: int, items: Sequence[str]) -> None:
    """Make the NUL-separated area of /proc/self that /proc/self/stat locates at fields
    ``first`` and ``first + 1`` (48: the command line, 50: the environment) read ``items``:
    written over this process's own memory there, the rest zeroed. ValueError if they do
    not fit (the server pads both areas for its children)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    start, end = int(fields[first - 3]), int(fields[first - 2])  # stat's 3rd is fields[0]
    data = b"\0".join(os.fsencode(a) for a in items) + b"\0"
    if len(data) > end - start:
        raise ValueError(f"{len(data)} bytes, room for {end - start}")
    fd = os.open("/proc/self/mem", os.O_RDWR)
    try:
        os.pwrite(fd, data.ljust(end - start, b"\0"), start)
    finally:
        os.close(fd)


def _child(req: Mapping[str, Any], ready: int) -> None:
    """In the forked child: become the speaker, run ExaBGP, exit (never returns). Its
    session, command line, log, namespace, directory and environment first, then ``ready``
    closed: the server answers with the PID only then, so the caller finds what an exec
    would have made (the child may be niced to 19 right after, and wait long for a CPU)."""
    code = 1
    try:
        os.setsid()  # its own process group too, as a start_new_session exec
        argv = list(req["argv"])
        _rewrite_proc_area(CMDLINE_FIELD, argv)
        env = {str(k): str(v) for k, v in req["env"].items()}
        with contextlib.suppress(ValueError):  # (an environment too large: /proc is stale)
            _rewrite_proc_area(ENVIRON_FIELD, [f"{k}={v}" for k, v in env.items()])
        # the dispositions of a fresh interpreter (SIGPIPE ignored: EPIPE is an exception)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in map(int, os.listdir("/proc/self/fd")):  # the server's socket, the log...
            if fd > 2 and fd != ready:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if req.get("netns"):
            enter_netns(req["netns"])
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(env)  # (random reseeds itself in a forked child)
        os.close(ready)
        from controller.drivers import exabgp_host

        code = exabgp_host.main(argv[argv.index("-m") + 2:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _handle(conn: socket.socket) -> None:
    conn.settimeout(CLIENT_TIMEOUT_S)  # a client that never asks holds the next up that long
    with conn, conn.makefile("rwb") as f:
        try:
            req = json.loads(f.readline())
            if not isinstance(req, dict) or not isinstance(req.get("argv"), list):
                raise ValueError("not a start request")
            wait_r, ready = os.pipe()
        except (ValueError, OSError) as exc:
            f.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            return
        try:
            pid = os.fork()
        except OSError as exc:  # (EAGAIN): the pipe must not outlive the request
            os.close(wait_r)
            os.close(ready)
            f.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            return
        if pid == 0:
            os.close(wait_r)
            _child(req, ready)
        os.close(ready)
        # EOF: the child is ready (or dead: the caller sees it gone)
        select.select([wait_r], [], [], CLIENT_TIMEOUT_S)
        os.close(wait_r)
        f.write(json.dumps({"pid": pid}).encode() + b"\n")


def serve(path: str) -> None:
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the speakers
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.replace(path + ".tmp", path)  # connectable once it exists
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        try:
            _handle(conn)
        except OSError:  # a client that went away: the next one
            continue


# --- client --------------------------------------------------------------------------------
class Forkserver:
    """Starts speakers through the server at ``socket_path``, starting the server itself
    (its pid in ``pid_path``, a process of its own session, like the speakers) when none
    answers. Safe to call from several threads."""

    def __init__(self, socket_path: Path, pid_path: Path, log_path: Path,
                 python: str | None = None):
        self.socket_path, self.pid_path, self.log_path = socket_path, pid_path, log_path
        self.python = python or sys.executable
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None  # the server we started

    @classmethod
    def in_dir(cls, workdir: Path) -> Forkserver:
        """The lab's, in its speakers' directory (its pid file among theirs: ``down`` stops
        it with them)."""
        return cls(workdir / "forkserver.sock", workdir / "forkserver.pid",
                   workdir / "forkserver.log")

    def start(self, netns: str, argv: Sequence[str], *, log_path: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
        """``NodeRuntime.start`` for a speaker: its PID. ``argv`` must be the speaker's
        ``python -P -m controller.drivers.exabgp_host server CONF``."""
        req = {"argv": list(argv), "netns": netns, "env": {**os.environ, **(env or {})},
               "cwd": str(cwd or Path.cwd()), "log": str(log_path)}
        self._ensure()
        answer = self._ask(req)
        if "pid" not in answer:
            raise ForkserverError(f"the speaker forkserver refused: {answer.get('error')}")
        return int(answer["pid"])

    def _ask(self, req: Mapping[str, Any]) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(CLIENT_TIMEOUT_S + 5.0)
                s.connect(str(self.socket_path))
                s.sendall(json.dumps(req).encode() + b"\n")
                with s.makefile("rb") as f:
                    answer = json.loads(f.readline() or b"{}")
        except (OSError, ValueError) as exc:
            raise ForkserverError(f"the speaker forkserver did not answer: {exc}") from None
        return answer if isinstance(answer, dict) else {}

    def _running(self) -> bool:
        return tagged_pid(self.pid_path, MODULE) is not None

    def spawn(self) -> subprocess.Popen[bytes] | None:
        """Start the server unless one runs; do not wait for it (``start`` does)."""
        with self._lock:
            if self._running():
                return None
            self.socket_path.unlink(missing_ok=True)
            env = {**os.environ, "PYTHONPATH": project_pythonpath(),
                   "ILAB_FORKSERVER_ROOM": "#" * ENVIRON_ROOM}
            try:
                with open(self.log_path, "ab") as log:
                    self._proc = subprocess.Popen(
                        [self.python, "-P", "-m", MODULE, str(self.socket_path),
                         "#" * CMDLINE_ROOM], stdin=subprocess.DEVNULL, stdout=log,
                        stderr=subprocess.STDOUT, env=env, start_new_session=True,
                        close_fds=True)
            except OSError as exc:
                raise ForkserverError(f"the speaker forkserver did not start: {exc}") from None
            self.pid_path.write_text(f"{self._proc.pid}\n")
            return self._proc

    def _ensure(self) -> None:
        """A server that answers: the running one, else one started now."""
        if self.socket_path.exists() and self._running():
            return
        proc = self.spawn() or self._proc
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.socket_path.exists():
            # one another process started is watched through its pid file: dead before its
            # socket existed, it is given up on now, not after the whole timeout
            gone = proc.poll() is not None if proc is not None else not self._running()
            if gone or time.monotonic() > deadline:
                raise ForkserverError(f"the speaker forkserver did not start: see "
                                      f"{self.log_path}")
            time.sleep(0.005)


if __name__ == "__main__":
    serve(sys.argv[1])
