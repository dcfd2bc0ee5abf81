"""Process identity from /proc: what the speakers' watchdog relies on."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from controller.drivers.procs import process_alive, start_time, tagged_pid, yield_cpu


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


def test_a_process_told_to_yield_runs_niced_in_its_session_s_group() -> None:
    """The nice is set on the process and, where the kernel groups sessions, on its own
    session's group (a plain nice would rank it only inside that group); a process that
    is gone is no error."""
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        yield_cpu(proc.pid, 19)
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == 19
        group = Path(f"/proc/{proc.pid}/autogroup")
        if group.exists() and Path("/proc/sys/kernel/sched_autogroup_enabled").read_text() == "1\n":
            assert group.read_text().split()[-2:] == ["nice", "19"], group.read_text()
    finally:
        proc.kill()
        proc.wait()
    yield_cpu(proc.pid, 19)  # gone: nothing to do


def test_a_pid_file_names_a_process_only_while_it_runs_with_its_tag(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    assert tagged_pid(pid_file, "30") is None  # no file
    pid_file.write_text("not a pid\n")
    assert tagged_pid(pid_file, "30") is None
    proc = subprocess.Popen(["sleep", "30"])
    try:
        pid_file.write_text(f"{proc.pid}\n")
        # until the child has exec'd, its command line is still the forking python's
        deadline = time.monotonic() + 5
        while (tagged := tagged_pid(pid_file, "30")) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert tagged == proc.pid, "sleep 30 never showed its command line"
        assert tagged_pid(pid_file, "3") is None  # a whole argument, not a substring
        assert tagged_pid(pid_file, "other.conf") is None  # a reused PID is not ours
    finally:
        proc.kill()
    proc.wait()
    assert tagged_pid(pid_file, "30") is None
