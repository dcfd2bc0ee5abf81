"""The ``netns`` node runtime: a node is a bare network namespace named ``<lab>-<node>``,
sharing the host's filesystem (I/O).

Programs are started with ``ip netns exec``, as the lab always did: besides joining the
namespace it gives the program a private mount namespace (with /sys remounted for the
namespace), where ``mounts`` are bound without touching the host's view. Short commands
(``run``) are spawned from a thread that joined the namespace instead: no mount work, faster.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

from controller.drivers.nsenter import NETNS_DIR
from controller.drivers.procs import stop_process
from lab.dataplane.iproute import parallel, run
from lab.dataplane.nodes.base import (
    Mount,
    NodeError,
    NodeOptions,
    NodeProcess,
    NodeRuntime,
    RemoveReport,
)
from lab.scenario.model import node_handle

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _alive_in(pid: int, ns: tuple[int, int]) -> bool:
    # A zombie has no namespace any more; a reused PID lives elsewhere: both are "gone".
    return _ns_id(f"/proc/{pid}/ns/net") == ns


def _tail(path: Path, size: int = 800) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class NetnsRuntime(NodeRuntime):
    name = "netns"

    def __init__(self) -> None:
        # Our long-running children, reaped once they end (no zombie left to look alive).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- naming -------------------------------------------------------------------------

    def handle(self, lab: str, node: str) -> str:
        return node_handle(self.name, lab, node)

    def lab_nodes(self, lab: str) -> list[str]:
        try:
            entries = os.listdir(NETNS_DIR)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if e.startswith(f"{lab}-"))

    # -- life cycle ---------------------------------------------------------------------

    def exists(self, handle: str) -> bool:
        return os.path.exists(self.netns_path(handle))

    def create(self, handles: Sequence[str],
               options: Mapping[str, NodeOptions] | None = None) -> None:
        results = parallel({n: (["ip", "netns", "add", n], None) for n in handles})
        errors = [f"ip netns add {n}: {err.strip()}" for n, (rc, _, err) in results.items()
                  if rc]
        if errors:
            raise NodeError("; ".join(errors))

    def pids(self, handles: Iterable[str]) -> dict[str, list[int]]:
        """As `ip netns pids`, for all of them in one pass over /proc."""
        ids = {}
        for n in handles:
            i = _ns_id(self.netns_path(n))
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

    def remove(self, handles: Iterable[str], grace: float = 1.0) -> RemoveReport:
        t0 = time.perf_counter()
        names = list(handles)
        present = [n for n in names if self.exists(n)]
        missing = tuple(n for n in names if n not in present)
        ns_ids = {n: _ns_id(self.netns_path(n)) for n in present}
        # Everything is signalled first, then waited for once: removing N nodes costs one
        # grace period at most, not N.
        victims = [(pid, ns_ids[n]) for n, pids in self.pids(present).items() for pid in pids]
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
        self._reap()

        removed, errors = [], []
        for n in present:
            try:
                self._delete(n)
                removed.append(n)
            except OSError as e:
                p = run(["ip", "netns", "delete", n])  # fall back to iproute2's own way
                if p.returncode:
                    errors.append(f"{n}: {e}; ip netns delete: {p.stderr.strip()}")
                else:
                    removed.append(n)
        if errors:
            raise NodeError("could not delete: " + "; ".join(errors))
        return RemoveReport(removed=tuple(removed), missing=missing,
                            terminated=tuple(terminated), killed=tuple(killed),
                            seconds=time.perf_counter() - t0)

    def _delete(self, handle: str) -> None:
        # What `ip netns delete` does, without a process: the namespace itself goes once
        # nothing holds it any more.
        path = self.netns_path(handle)
        if _libc.umount2(path.encode(), MNT_DETACH) < 0:
            e = ctypes.get_errno()
            if e not in (errno.EINVAL, errno.ENOENT):
                raise OSError(e, f"umount {path}: {os.strerror(e)}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    # -- programs -----------------------------------------------------------------------

    def run(self, handle: str, argv: Sequence[str], *, input: str | None = None,
            timeout: float | None = 10.0) -> subprocess.CompletedProcess[str]:
        return self.run_tool(handle, argv, input=input, timeout=timeout)

    def _exec_argv(self, handle: str, argv: Sequence[str], mounts: Sequence[Mount]) -> list[str]:
        if not self.exists(handle):
            raise NodeError(f"network namespace {handle!r} does not exist")
        cmd = ["ip", "netns", "exec", handle]
        if mounts:
            # In the private mount namespace `ip netns exec` made; `exec` keeps the PID.
            binds = " && ".join(f"mount --bind {shlex.quote(str(m.source))} "
                                f"{shlex.quote(m.target)}" for m in mounts)
            cmd += ["sh", "-c", f'{binds} && exec "$@"', "sh"]
        return cmd + list(argv)

    @staticmethod
    def _env(env: Mapping[str, str] | None) -> dict[str, str] | None:
        return None if env is None else {**os.environ, **env}

    def start(self, handle: str, argv: Sequence[str], *, log_path: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None,
              mounts: Sequence[Mount] = ()) -> int:
        cmd = self._exec_argv(handle, argv, mounts)
        self._reap()
        with open(log_path, "ab") as logf:
            try:
                # `ip netns exec` execs the program: the PID we get is the program's own.
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                        stderr=subprocess.STDOUT, env=self._env(env),
                                        cwd=cwd, start_new_session=True, close_fds=True)
            except OSError as exc:
                raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        self._children[proc.pid] = proc
        return proc.pid

    def spawn(self, handle: str, argv: Sequence[str], *, stdout: int | IO[bytes],
              stderr: int | IO[bytes]) -> NodeProcess:
        try:
            proc = subprocess.Popen(self._exec_argv(handle, argv, ()), stdin=subprocess.DEVNULL,
                                    stdout=stdout, stderr=stderr, start_new_session=True,
                                    close_fds=True)
        except OSError as exc:
            raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        return NodeProcess(proc, proc.pid)  # `ip netns exec` execs: the program's own PID

    def start_daemon(self, handle: str, argv: Sequence[str], *, log_path: Path,
                     env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     mounts: Sequence[Mount] = (), timeout: float = 10.0) -> None:
        cmd = self._exec_argv(handle, argv, mounts)
        with open(log_path, "ab") as logf:
            try:
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                      stderr=subprocess.STDOUT, env=self._env(env), cwd=cwd,
                                      timeout=timeout, start_new_session=True, close_fds=True)
            except subprocess.TimeoutExpired:
                raise NodeError(f"{argv[0]} did not daemonise within {timeout}s") from None
            except OSError as exc:
                raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        if proc.returncode != 0:
            raise NodeError(f"{Path(argv[0]).name} failed to start (exit {proc.returncode}) "
                            f"in {handle}; log {log_path}:\n{_tail(log_path)}")

    def attach(self, handle: str, argv: Sequence[str]) -> int:
        try:
            return subprocess.run(self._exec_argv(handle, argv, ()), check=False).returncode
        except FileNotFoundError:
            raise NodeError("`ip` (iproute2) is not installed") from None

    def stop(self, handle: str, pid: int, timeout: float = 1.0) -> bool:
        was_running = stop_process(pid, timeout)
        self._reap()
        return was_running

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]

