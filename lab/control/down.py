"""Taking a lab down: every process it started stops, every node it made goes, its state
directory is removed. Imports little on purpose: `interlink-lab down` should take ~0.2 s."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.drivers.procs import process_alive
from lab.control.labdir import check_lab_name, lab_dir, read_json
from lab.dataplane.nodes import DEFAULT as DEFAULT_RUNTIME
from lab.dataplane.nodes import runtime_for
from lab.dataplane.state import state_root
from lab.dataplane.teardown import existing_namespaces, teardown

# Nothing of the lab survives `down`, so nothing needs a graceful stop: ExaBGP takes ~0.15 s
# to exit on SIGTERM, the controller ~0.1 s; SIGKILL is immediate.
KILL_WAIT_S = 2.0


@dataclass
class DownResult:
    lab: str
    removed_namespaces: list[str]
    killed: list[int] = field(default_factory=list)


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _kill(pids: list[int], *, groups: bool) -> list[int]:
    """SIGKILL each running pid (with its process group when it leads one: a speaker and the
    bridge processes it spawned) and wait until they are gone. Returns those that ran."""
    running = [p for p in dict.fromkeys(pids) if process_alive(p)]
    for pid in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if groups and os.getpgid(pid) == pid:  # started with setsid by the lab
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < deadline and any(map(process_alive, running)):
        time.sleep(0.002)
    return running


def lab_runtimes(lab: str, info: dict[str, Any]) -> list[str]:
    """The runtimes a lab's nodes may be in: the netns one always (cheap to look at), the
    docker one where lab.json says so or an engine already runs that may hold them."""
    out = [DEFAULT_RUNTIME]
    if info.get("runtime", DEFAULT_RUNTIME) != DEFAULT_RUNTIME:
        out.append("docker")
    else:
        from lab.dataplane.docker import engine

        if engine.running(state_root()):
            out.append("docker")
    return out


def down(lab: str = "ilab") -> DownResult:
    check_lab_name(lab)
    d = lab_dir(lab)
    # The controller first: alive, it would restart the speakers killed next.
    controller = [p for p in [_pid(d / "controller.pid")] if p is not None]
    killed = _kill(controller, groups=False)
    speakers = [p for p in map(_pid, sorted((d / "speakers").glob("*.pid"))) if p is not None]
    killed += _kill(speakers, groups=True)
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = read_json(d / "lab.json")
    removed: list[str] = []
    for rt in lab_runtimes(lab, info):
        names: set[str] = set(existing_namespaces(lab, rt))
        names |= {n for n in info.get("namespaces", []) if runtime_for(n).name == rt}
        # whatever still runs in them (customer daemons) is killed at once as well
        removed += teardown(lab, sorted(names), grace=0.0, runtime_name=rt).removed
    shutil.rmtree(d, ignore_errors=True)
    if info.get("runtime", DEFAULT_RUNTIME) != DEFAULT_RUNTIME:  # a container lab went
        from lab.dataplane.docker import engine

        # a private engine stops with the last container lab (exiting on its own: ~1 s)
        engine.release(state_root(), wait=False)
    return DownResult(lab=lab, removed_namespaces=sorted(removed), killed=killed)
