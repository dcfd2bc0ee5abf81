"""ExaBGP with its bridge inside the same process: the API process is a thread.

Run as ``python -m controller.drivers.exabgp_host server CONF`` (exabgp's own arguments).
ExaBGP forks one API process per ``process`` block; a bridge forked that way is a second
interpreter, 14-15 MiB RSS beside ExaBGP's 30 (measured with ``/proc/PID/smaps_rollup``),
so at 100 links the bridges alone were 1.4 GiB. Here the configuration's bridge command
(``python -m controller.drivers.exabgp_bridge ...``) is served by a :class:`BridgeThread`
instead: the same :class:`~controller.drivers.exabgp_bridge.Bridge` on a pair of pipes, so
ExaBGP reads and writes them exactly as it would a child's, and respawns the thread as it
would a child that died. Any other command is forked as usual.

The bridge's CPU is small beside ExaBGP's (0.9 s against 6.7 s over the 100k-route bench), so
sharing a GIL with it costs the bulk path little.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import types
from collections.abc import Sequence
from typing import IO, Any

from controller.drivers.exabgp_bridge import Bridge, parse_args

__all__ = ["BRIDGE_MODULE", "THREAD_NAME", "BridgeThread", "bridge_argv", "main", "popen"]

BRIDGE_MODULE = Bridge.__module__  # what a bridge command runs with -m
THREAD_NAME = "ilab-bridge"  # its /proc comm (15 characters at most)

log = logging.getLogger(__name__)


def bridge_argv(run: Sequence[str] | str) -> list[str] | None:
    """The bridge's own arguments if ``run`` is a bridge command line, else None."""
    argv = run.split() if isinstance(run, str) else list(run)
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == BRIDGE_MODULE:
            return argv[i + 2:]
    return None


class BridgeThread:
    """What ``subprocess.Popen`` gives ExaBGP for its API process, served by a thread: the
    ``stdin``/``stdout`` pipes it uses, ``poll``, ``wait``, ``terminate`` and ``kill``."""

    def __init__(self, args: list[str]):
        opts = parse_args(args)
        to_bridge, self._events_w = os.pipe()  # ExaBGP -> bridge
        self._commands_r, from_bridge = os.pipe()  # bridge -> ExaBGP
        self.stdin: IO[bytes] = os.fdopen(self._events_w, "wb")
        self.stdout: IO[bytes] = os.fdopen(self._commands_r, "rb", buffering=0)
        self.pid = os.getpid()
        self.returncode: int | None = None
        self._fds = (to_bridge, from_bridge)
        self._bridge = Bridge(opts.socket, opts.speaker, stdin_fd=to_bridge,
                              stdout_fd=from_bridge)
        self._thread = threading.Thread(target=self._run, name=f"bridge-{opts.speaker}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # named for ps/top -H and the tests, which see threads, not Python's names
        with contextlib.suppress(OSError), open("/proc/thread-self/comm", "w") as comm:
            comm.write(THREAD_NAME)
        code = 0
        try:
            self._bridge.run()
        except Exception:  # a child that crashed: ExaBGP sees it end and respawns it
            log.exception("bridge thread failed")
            code = 1
        finally:
            for fd in self._fds:  # ExaBGP then reads the end of its stdout
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.returncode = code

    def poll(self) -> int | None:
        return None if self._thread.is_alive() else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired("bridge", timeout or 0.0)
        return self.returncode or 0

    def terminate(self) -> None:
        # a bridge ends when ExaBGP closes its stdin, as a forked one does
        with contextlib.suppress(OSError):
            self.stdin.close()

    kill = terminate


def popen(run: Any, *args: Any, **kwargs: Any) -> Any:
    """``subprocess.Popen`` for ExaBGP's API processes: a bridge command runs as a thread."""
    argv = bridge_argv(run)
    if argv is None:
        return subprocess.Popen(run, *args, **kwargs)
    return BridgeThread(argv)


def main(argv: list[str] | None = None) -> int:
    from exabgp.application.main import main as exabgp_main
    from exabgp.reactor.api import processes

    # the API-process module's view of subprocess, with Popen ours: nothing else changes
    shim = types.SimpleNamespace(**{k: getattr(subprocess, k) for k in dir(subprocess)
                                    if not k.startswith("__")})
    shim.Popen = popen
    processes.subprocess = shim
    sys.argv = ["exabgp", *(sys.argv[1:] if argv is None else argv)]
    return int(exabgp_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
