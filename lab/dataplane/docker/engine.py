"""The Docker engine a container lab uses (I/O): the user's (``DOCKER_HOST``, else the default
socket) when one answers, else a private ``dockerd`` the lab starts for itself and stops with
its last container lab.

The private engine never touches the host's network: ``--iptables=false --ip6tables=false
--bridge=none`` (no docker0, no NAT rules; the lab's containers have ``network_mode: none``).
Its socket, data root, exec root, pid file and log live under ``<state root>/docker/``. It runs
in its own session, so it outlives the ``up`` that started it; ``release`` stops it by PID.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from controller.drivers.procs import process_alive, stop_process

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "/var/run/docker.sock"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PING_TIMEOUT = 2.0
LAB_LABEL = "interlink-lab.lab"  # on every container a lab creates
Progress = Callable[[str], None] | None


class EngineError(RuntimeError):
    """No Docker engine can be had, or it refused what the lab asked."""


def _dir(state_root: Path) -> Path:
    return state_root / "docker"


def private_socket(state_root: Path) -> Path:
    return _dir(state_root) / "docker.sock"


def _pid_file(state_root: Path) -> Path:
    return _dir(state_root) / "dockerd.pid"


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """``mode`` (fcntl.LOCK_SH / LOCK_EX, maybe | LOCK_NB) on ``path``: yields whether it was
    had (a non-blocking one may not be). flock, so a dead holder's lock goes with it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, mode)
        except BlockingIOError:
            yield False
            return
        yield True


def _serialized(state_root: Path) -> contextlib.AbstractContextManager[bool]:
    """One process at a time starts or stops the private engine (two labs coming up at once
    would start two dockerds on one socket)."""
    return _flock(_dir(state_root) / "engine.lock", fcntl.LOCK_EX)


@contextlib.contextmanager
def lease(state_root: Path) -> Iterator[None]:
    """Hold the private engine up meanwhile: a lab whose containers do not exist yet (its
    ``up`` is pulling images, building them) is invisible to ``release``, which another
    lab's ``down`` calls. Taken before ``connect``, kept until the containers exist."""
    with _flock(_dir(state_root) / "engine.users", fcntl.LOCK_SH):
        yield


def _client(url: str) -> docker.DockerClient | None:
    """A client of the engine at ``url`` if it answers a ping, else None."""
    import docker
    import docker.errors
    import requests

    try:
        client = docker.DockerClient(base_url=url, timeout=60)
        client.api.timeout = PING_TIMEOUT
        client.ping()
        client.api.timeout = 60
        return client
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None


def user_url() -> str | None:
    """The user's engine: DOCKER_HOST, else the default socket if it exists."""
    url = os.environ.get("DOCKER_HOST")
    if url:
        return url
    return f"unix://{DEFAULT_SOCKET}" if os.path.exists(DEFAULT_SOCKET) else None


def _stopping_file(state_root: Path) -> Path:
    return _dir(state_root) / "dockerd.stopping"


def _private_pid(state_root: Path) -> int | None:
    """The private engine's PID if it runs and is not being stopped."""
    if _stopping_file(state_root).exists():
        return None
    try:
        pid = int(_pid_file(state_root).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def _settle(state_root: Path) -> None:
    """Wait for a private engine that ``release(wait=False)`` asked to stop to be gone, and
    for any dockerd still holding its own pid file there (a new one would refuse to start)."""
    marker = _stopping_file(state_root)
    with contextlib.suppress(OSError, ValueError):
        stop_process(int(marker.read_text().strip()), timeout=STOP_TIMEOUT)  # waits, then kills
    if marker.exists():
        _pid_file(state_root).unlink(missing_ok=True)
        marker.unlink(missing_ok=True)
    try:
        holder = int((_dir(state_root) / "docker.pid").read_text().strip())
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while process_alive(holder):
        if time.monotonic() > deadline:
            raise EngineError(f"a dockerd (pid {holder}) holds {_dir(state_root)} without "
                              "answering: stop it, then try again")
        time.sleep(0.05)


def _answering(state_root: Path, pid: int) -> docker.DockerClient | None:
    """A client of the private engine ``pid`` once it answers (it may still be starting,
    for another ``up``), None if it exits or stays silent for START_TIMEOUT."""
    sock = private_socket(state_root)
    deadline = time.monotonic() + START_TIMEOUT
    while process_alive(pid) and time.monotonic() < deadline:
        client = _client(f"unix://{sock}") if sock.exists() else None
        if client is not None:
            return client
        time.sleep(0.05)
    return None


def which(state_root: Path) -> dict[str, str] | None:
    """Which engine a lab would use now, without starting one: {"engine": "user" | "private",
    "url"}; None if none answers."""
    url = user_url()
    if url is not None and _client(url) is not None:
        return {"engine": "user", "url": url}
    if os.environ.get("DOCKER_HOST"):  # the user named the engine: that one or none
        return None
    if _private_pid(state_root) is not None:
        url = f"unix://{private_socket(state_root)}"
        if _client(url) is not None:
            return {"engine": "private", "url": url}
    return None


def running(state_root: Path) -> bool:
    """An engine answers (the user's or the lab's private one); nothing is started."""
    return which(state_root) is not None


def connect(state_root: Path, progress: Progress = None) -> docker.DockerClient:
    """A client of the user's engine, else of the lab's private one (started if needed)."""
    try:
        import docker  # noqa: F401
    except ImportError:
        raise EngineError("the `docker` Python package is missing: run `make setup`") from None
    url = user_url()
    if url is not None:
        client = _client(url)
        if client is not None:
            return client
        if os.environ.get("DOCKER_HOST"):
            raise EngineError(f"the Docker engine at DOCKER_HOST={url} does not answer")
    with _serialized(state_root):
        pid = _private_pid(state_root)
        if pid is not None:
            client = _answering(state_root, pid)
            if client is not None:
                return client
        _settle(state_root)  # one still stopping shares the socket and data root: let it go
        return _start_private(state_root, progress)


def _start_private(state_root: Path, progress: Progress) -> docker.DockerClient:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError("no Docker engine runs and dockerd is not installed: `make setup` "
                          "installs docker.io (or set DOCKER_HOST to an engine)")
    if os.geteuid() != 0:
        raise EngineError("starting a private Docker engine needs root")
    d = _dir(state_root)
    d.mkdir(parents=True, exist_ok=True)
    sock = private_socket(state_root)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # a dead engine's
    log_path = d / "dockerd.log"
    if progress:
        progress(f"starting a private Docker engine ({sock})")
    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [dockerd, "--iptables=false", "--ip6tables=false", "--bridge=none",
             f"--host=unix://{sock}", f"--data-root={d / 'data'}", f"--exec-root={d / 'exec'}",
             f"--pidfile={d / 'docker.pid'}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True)
    _pid_file(state_root).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"dockerd exited ({proc.returncode}): {_tail(log_path)}")
        client = _client(f"unix://{sock}") if sock.exists() else None
        if client is not None:
            if progress:
                progress(f"private Docker engine up in {time.monotonic() - t0:.1f}s")
            return client
        time.sleep(0.05)
    stop_process(proc.pid, timeout=5.0)
    raise EngineError(f"dockerd did not answer within {START_TIMEOUT:g}s: {_tail(log_path)}")


def release(state_root: Path, wait: bool = True) -> bool:
    """Stop the private engine if no container is left on it (a lab's, or one a user started
    on it); True if it was stopped (or, ``wait=False``, asked to stop). The user's engine is
    never touched.

    dockerd takes ~1 s to shut down, two thirds of a docker lab's ``down``: without ``wait``
    it is signalled and left to exit; the next ``connect`` (or a waiting ``release``) waits
    for it, as they share the socket and the data root."""
    if not _dir(state_root).is_dir():  # no container lab ever ran here
        return False
    with _serialized(state_root), \
            _flock(_dir(state_root) / "engine.users", fcntl.LOCK_EX | fcntl.LOCK_NB) as idle:
        if not idle:  # a lab is coming up on it (see ``lease``)
            return False
        return _release(state_root, wait)


def _release(state_root: Path, wait: bool) -> bool:
    pid = _private_pid(state_root)
    if pid is None:
        if wait:
            _settle(state_root)
        return False
    client = _client(f"unix://{private_socket(state_root)}")
    if client is not None:
        try:  # one call: listing objects inspects each, racing other labs' removals
            left = client.api.containers(all=True, quiet=True)
        finally:
            client.close()
        if left:
            return False
    if not wait:
        # the marker first: whoever connects from now on waits for this engine to be gone
        _stopping_file(state_root).write_text(f"{pid}\n")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        return True
    stop_process(pid, timeout=STOP_TIMEOUT)
    _pid_file(state_root).unlink(missing_ok=True)
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
