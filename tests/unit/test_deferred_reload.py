"""A reload asked of a speaker still starting does not wait for it (the API call that asked
returns at once) and is not lost: it happens once the speaker can take it, with the latest
configuration asked for. A stand-in for ExaBGP: a process that installs its SIGUSR1 handler
late and logs what its configuration file held at each reload."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from controller.drivers.speaker import SpeakerSpec, catches_reload, speaker_pid
from lab.control.polling import wait_for
from lab.daemon.speakers import ProcessSpeakers

FAKE = r"""
import signal, sys, time
conf, log, ready = sys.argv[1], sys.argv[2], sys.argv[3]
def reload(*_):
    with open(log, "a") as f:
        f.write("reloaded " + open(conf).read().strip() + "\n")
        f.write("loaded new configuration successfully\n")
time.sleep(float(ready))  # ExaBGP importing itself
signal.signal(signal.SIGUSR1, reload)
while True:
    time.sleep(1)
"""


def _start(tmp: Path, ready_after: float) -> tuple[SpeakerSpec, subprocess.Popen[bytes]]:
    spec = SpeakerSpec(name="scw-test", netns="", workdir=tmp)
    spec.config_path.write_text("v0\n")
    proc = subprocess.Popen([sys.executable, "-c", FAKE, str(spec.config_path),
                             str(spec.log_path), str(ready_after)])
    spec.pid_path.write_text(f"{proc.pid}\n")
    # the kernel sets the new image's command line a moment after Popen returns
    try:
        wait_for(lambda: speaker_pid(spec) == proc.pid, timeout=5,
                 what="the stand-in's command line to name its config")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return spec, proc


def test_a_reload_of_a_starting_speaker_is_deferred_and_coalesced(tmp_path: Path) -> None:
    spec, proc = _start(tmp_path, ready_after=0.8)
    try:
        speakers = ProcessSpeakers(tmp_path, tmp_path / "hub.sock")
        t0 = time.monotonic()
        assert speakers._reload_when_ready(spec, "v1\n")
        assert speakers._reload_when_ready(spec, "v2\n")  # joins the waiting one
        assert time.monotonic() - t0 < 0.3, "the caller waited for the speaker"
        wait_for(lambda: "reloaded v2" in (spec.log_path.read_text()
                                           if spec.log_path.exists() else ""),
                 timeout=10, what="the deferred reload with the latest config")
        assert "reloaded v1" not in spec.log_path.read_text()
        assert spec.config_path.read_text() == "v2\n"
        # ready now: the next reload is the caller's own
        wait_for(lambda: not speakers._pending, timeout=5, what="the reload thread to end")
        assert catches_reload(proc.pid)
        assert not speakers._reload_when_ready(spec, "v3\n")
    finally:
        proc.kill()
        proc.wait()


def test_a_speaker_that_dies_while_starting_drops_its_pending_reload(tmp_path: Path) -> None:
    spec, proc = _start(tmp_path, ready_after=30)
    try:
        speakers = ProcessSpeakers(tmp_path, tmp_path / "hub.sock")
        assert speakers._reload_when_ready(spec, "v1\n")
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not speakers._pending, timeout=5, what="the pending reload to go")
    assert not spec.log_path.exists()
