"""Process identity from /proc: what the speakers' watchdog relies on."""

from __future__ import annotations

import os
import subprocess

from controller.drivers.procs import process_alive, start_time


def test_start_time_is_an_identity_and_goes_with_the_process() -> None:
    mine = start_time(os.getpid())
    assert mine is not None and mine == start_time(os.getpid())
    proc = subprocess.Popen(["sleep", "30"])
    try:
        theirs = start_time(proc.pid)
        assert theirs is not None and theirs >= mine
    finally:
        proc.kill()
    proc.wait()
    assert not process_alive(proc.pid)
    assert start_time(proc.pid) is None
