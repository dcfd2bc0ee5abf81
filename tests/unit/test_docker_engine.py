"""The docker engine and image parts that need no engine: errors, naming, input hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.dataplane.docker import engine, images


def test_no_engine_and_no_dockerd_is_one_clear_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(engine, "DEFAULT_SOCKET", str(tmp_path / "none.sock"))
    monkeypatch.setattr(engine.shutil, "which", lambda _name: None)
    with pytest.raises(engine.EngineError, match="dockerd is not installed: `make setup`"):
        engine.connect(tmp_path)
    assert not engine.running(tmp_path)
    assert not engine.release(tmp_path)  # nothing of ours to stop


def test_a_silent_docker_host_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(engine.EngineError, match=r"DOCKER_HOST=.* does not answer"):
        engine.connect(tmp_path)


def test_image_tag_follows_every_input() -> None:
    base = images.inputs_hash("FROM x", ("frr",), "5.0.15", "bookworm")
    assert base == images.inputs_hash("FROM x", ("frr",), "5.0.15", "bookworm")
    for other in (images.inputs_hash("FROM y", ("frr",), "5.0.15", "bookworm"),
                  images.inputs_hash("FROM x", ("frr", "bird2"), "5.0.15", "bookworm"),
                  images.inputs_hash("FROM x", ("frr",), "5.0.16", "bookworm"),
                  images.inputs_hash("FROM x", ("frr",), "5.0.15", "trixie")):
        assert other != base
    ref = images.node_image_ref()
    assert ref.startswith("interlink-lab/node:") and len(ref.split(":")[1]) == 12
    assert ref == images.tag_of(images.NODE_IMAGE, images.inputs_hash())


def test_an_engine_being_stopped_is_waited_for(tmp_path: Path) -> None:
    import subprocess

    # a stand-in for a private dockerd that `down` signalled and left to exit
    proc = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "dockerd.pid").write_text(f"{proc.pid}\n")
        (tmp_path / "docker" / "dockerd.stopping").write_text(f"{proc.pid}\n")
        assert engine.which(tmp_path) is None  # going away: not an engine to use
        assert not engine.release(tmp_path)  # waits for it (here: stops it)
        assert proc.wait(timeout=5) is not None
        assert not (tmp_path / "docker" / "dockerd.stopping").exists()
        assert not (tmp_path / "docker" / "dockerd.pid").exists()
    finally:
        proc.kill()
        proc.wait()


def test_an_engine_held_by_a_lab_coming_up_is_not_released(tmp_path: Path) -> None:
    """Another lab's `down` (release) must not stop the engine while a lab's containers do
    not exist yet: its `up` holds a lease from before `connect` until they do."""
    import subprocess
    import sys

    proc = subprocess.Popen(["sleep", "30"])  # a stand-in for the private dockerd
    try:
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "dockerd.pid").write_text(f"{proc.pid}\n")
        # the lease is taken in another process, as another lab's `up` would
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; from pathlib import Path; "
             "from lab.dataplane.docker import engine\n"
             "with engine.lease(Path(sys.argv[1])):\n"
             "    print('held', flush=True); time.sleep(30)", str(tmp_path)],
            stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            assert not engine.release(tmp_path, wait=False)
            assert proc.poll() is None
            assert (tmp_path / "docker" / "dockerd.pid").exists()
        finally:
            holder.kill()
            holder.wait()
        assert engine.release(tmp_path)  # the lease went with its holder: stopped now
        assert proc.wait(timeout=5) is not None
    finally:
        proc.kill()
        proc.wait()
