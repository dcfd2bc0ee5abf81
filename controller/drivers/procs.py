"""Process liveness, shared by everything that manages daemons by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (a zombie still answers ``kill(pid, 0)``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    try:
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except IndexError:
        return False


def tagged_pid(pid_file: Path, tag: str) -> int | None:
    """The PID in ``pid_file`` if that process runs and ``tag`` is one of its command line's
    arguments (a PID reused by another process is not ours); else None."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if tag.encode() in cmdline and process_alive(pid) else None


def project_pythonpath() -> str:
    """PYTHONPATH for a process that must import this project as we do: its root first."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), None if it is gone or a zombie: with
    the PID, an identity that PID reuse cannot fake; one read of /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == b"Z":  # fields[0] is stat's 3rd, state
        return None
    return int(fields[19])  # stat's 22nd field


def yield_cpu(pid: int, nice: int) -> None:
    """Run ``pid`` (and the children it starts later) at ``nice``, also across sessions.

    The kernel schedules each session as a group (autogroup), and a plain nice only ranks
    processes inside their group: a daemon started in its own session takes a full share
    of the CPU whatever its nice. So the group's nice is set too, where the kernel has
    one. Best effort: a process that is gone, or a kernel without autogroup, keeps what
    it has."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as f:
        f.write(f"{nice}\n")


def run_first() -> bool:
    """Put the calling thread ahead of ordinary processes: round-robin real-time priority
    1, which the threads and processes it starts do not inherit (SCHED_RESET_ON_FORK),
    and which takes at most the kernel's real-time share of a CPU (95 % by default).

    Why: 200 speakers on 2 cores kept the controller's event loop 15-78 ms in the run
    queue per step, and its API's p99 while 100 links were wired was 37-57 ms; first in
    line, 14 ms. Not on one CPU (the speakers' keepalives would wait behind a busy loop);
    False where it is not done (one CPU, no CAP_SYS_NICE, no such policy)."""
    if (os.cpu_count() or 1) < 2:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(1))
    except (OSError, AttributeError):
        return False
    return True


def stop_process(pid: int, timeout: float = 1.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; returns once it is gone (at most 2 s more).

    True if the process was running.
    """
    return bool(stop_processes([pid], timeout))


def stop_processes(pids: Iterable[int], timeout: float = 1.0) -> list[int]:
    """``stop_process`` for several at once: all signalled, then waited for together (one
    grace period, not one each). Returns those that were running."""
    running = [p for p in dict.fromkeys(pids) if process_alive(p)]
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, timeout), (None, 2.0)):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(map(process_alive, running)):
            time.sleep(0.01)
        left = [p for p in running if process_alive(p)]
        if sig is None or not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    return running
