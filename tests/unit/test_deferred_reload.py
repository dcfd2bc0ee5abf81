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


DEAF_ONCE = r"""
import signal, sys, time
conf, log = sys.argv[1], sys.argv[2]
seen = []
def reload(*_):
    seen.append(1)
    if len(seen) == 1:
        return  # as ExaBGP taking a SIGUSR1 for busy after the reloader stopped reading
    with open(log, "a") as f:
        f.write("reloaded " + open(conf).read().strip() + "\n")
        f.write("loaded new configuration successfully\n")
signal.signal(signal.SIGUSR1, reload)
while True:
    time.sleep(1)
"""


def test_an_unconfirmed_reload_is_signalled_again_until_taken(tmp_path: Path) -> None:
    """A reload ExaBGP never confirms must not leave a written file that is not running
    (the next ensure sees the file and does nothing): it is retried in the background."""
    spec = SpeakerSpec(name="scw-test", netns="", workdir=tmp_path)
    spec.config_path.write_text("v0\n")
    proc = subprocess.Popen([sys.executable, "-c", DEAF_ONCE, str(spec.config_path),
                             str(spec.log_path)])
    try:
        spec.pid_path.write_text(f"{proc.pid}\n")
        wait_for(lambda: speaker_pid(spec) == proc.pid and catches_reload(proc.pid),
                 timeout=5, what="the stand-in to be reloadable")
        speakers = ProcessSpeakers(tmp_path, tmp_path / "hub.sock")
        speakers.specs[spec.name] = spec
        t0 = time.monotonic()
        speakers.ensure(spec.name, "", [])  # renders a config: the file changes
        asked = spec.config_path.read_text()
        assert time.monotonic() - t0 < 4.5, "the caller waited for more than one reload"
        wait_for(lambda: "reloaded" in (spec.log_path.read_text()
                                        if spec.log_path.exists() else ""),
                 timeout=10, what="the second signal's reload")
        assert asked.strip().splitlines()[-1] in spec.log_path.read_text()
        wait_for(lambda: not speakers._pending, timeout=5, what="the retry thread to end")
    finally:
        proc.kill()
        proc.wait()
