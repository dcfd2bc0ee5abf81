"""Process liveness, shared by everything that manages daemons by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import time
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


def stop_process(pid: int, timeout: float = 1.0) -> bool:
    """SIGTERM, then SIGKILL after ``timeout``; returns once it is gone (at most 2 s more).

    True if the process was running.
    """
    if not process_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, timeout), (None, 2.0)):
        deadline = time.monotonic() + wait
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if sig is None or not process_alive(pid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return True
