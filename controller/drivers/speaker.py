"""ExaBGP speaker processes and the asyncio server their bridges connect to.

Process management (synchronous, fast; call it from an executor inside a busy event loop):
``start_speaker`` runs ExaBGP on CONF (``exabgp_host``: its bridge a thread) in a netns, detached
(``setsid``), logging to ``<name>.log``; ``reload_speaker`` rewrites the configuration and
sends SIGUSR1 (ExaBGP 5.0 "reload": a removed neighbor block closes that session, an added one
opens it, unchanged neighbors and what was announced to them are left alone; a changed block
resets only that session and keeps its announced routes); ``stop_speaker`` is SIGTERM then
SIGKILL, by PID.

``SpeakerHub`` is the unix-socket server of the bridge wire protocol documented in
:mod:`controller.drivers.exabgp_bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.core.events import BridgeHello, Event, decode_event
from controller.drivers.exabgp_config import REACTOR_SPEED, speaker_env
from controller.drivers.procs import process_alive, project_pythonpath, tagged_pid, yield_cpu

__all__ = [
    "ANNOUNCE_CHUNK",
    "ReloadUnconfirmed",
    "SpeakerHub",
    "SpeakerNotConnected",
    "SpeakerSpec",
    "bridge_command",
    "catches_reload",
    "exabgp_executable",
    "reload_speaker",
    "respawn_bridge",
    "speaker_pid",
    "start_speaker",
    "stop_speaker",
    "wait_until_reloadable",
]

log = logging.getLogger(__name__)

# Prefixes per "announce attributes ... nlri" command. Measured end to end (10k IPv4 /30s,
# reactor speed 0.1, 2 cores): 100 -> 3.7 s, 500 -> 2.2-3.4 s, 2000 -> 2.3-3.2 s. The sending
# ExaBGP is CPU-bound (~0.2 ms per prefix, mostly a deepcopy per route in
# Neighbor.remove_self) and handles 50 route changes per reactor turn whatever the chunk, so
# bigger chunks buy nothing; 500 keeps each command line ~10 KiB.
ANNOUNCE_CHUNK = 500

_RELOAD_OK = "loaded new configuration successfully"
_RELOAD_FAIL = "could not load/reload configuration"
_RELOAD_BUSY = "ignoring - still handling previous signal"


@dataclass(frozen=True)
class SpeakerSpec:
    name: str
    netns: str
    workdir: Path

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.conf"

    @property
    def pid_path(self) -> Path:
        return self.workdir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"


def exabgp_executable() -> str:
    """The exabgp script of the interpreter we run under (the project's venv)."""
    return str(Path(sys.executable).parent / "exabgp")


def bridge_command(bridge_socket: Path, speaker: str, python: str | None = None) -> list[str]:
    """The API process command line to pass to ``render_config`` (``python``: the speaker's
    interpreter where it is not ours, e.g. in a container)."""
    return [
        python or sys.executable,
        "-m",
        "controller.drivers.exabgp_bridge",
        "--socket",
        str(bridge_socket),
        "--speaker",
        speaker,
    ]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def speaker_pid(spec: SpeakerSpec) -> int | None:
    """PID of the running speaker, or None (no pid file, dead, or PID reused by another)."""
    return tagged_pid(spec.pid_path, str(spec.config_path))  # ExaBGP on our config


def find_speakers(spec: SpeakerSpec) -> list[int]:
    """Every live ExaBGP process on this speaker's config, whatever its pid file says: the
    config path in its command line is its tag. Scans /proc, so only for the rare paths (a
    pid file that does not match, a stop). No config file, no such process: it is written
    before a start, and a new speaker (each of 100 links being wired) skips the scan."""
    if not spec.config_path.exists():
        return []
    tag = str(spec.config_path).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if tag in argv and b"server" in argv and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def adopt_speaker(spec: SpeakerSpec) -> int | None:
    """``speaker_pid``, else a running process found by its tag, which the pid file then
    names again (one speaker per config: never start a second one beside it)."""
    pid = speaker_pid(spec)
    if pid is not None:
        return pid
    found = find_speakers(spec)
    if not found:
        return None
    log.warning("speaker %s runs as PID %s though its pid file does not say so: adopted",
                spec.name, ", ".join(map(str, found)))
    for extra in found[1:]:  # two on one config: the lowest PID (the first, bound to 179) stays
        _kill_group(extra, signal.SIGKILL)
    _write_atomic(spec.pid_path, f"{found[0]}\n")
    return found[0]


def respawn_bridge(pid: int) -> None:
    """Have ExaBGP ``pid`` start its API process again, empty, as after a crash: SIGUSR2,
    ExaBGP's full reload, which also restarts its processes (the configuration unchanged,
    no session is touched). The bridge is a thread of that process (``exabgp_host``), so
    this is how it is made to go away and come back."""
    os.kill(pid, signal.SIGUSR2)


def start_speaker(spec: SpeakerSpec, config_text: str, bridge_socket: Path,
                  launch: Callable[..., int], python: str | None = None,
                  reactor_speed: str = REACTOR_SPEED, nice: int = 0) -> int:
    """Start ExaBGP on this config through ``launch`` (a NodeRuntime's ``start``), run by
    our interpreter or ``python`` (a container's). ``nice``: how much it yields the CPU
    (``SPEAKER_NICE`` at scale)."""
    if speaker_pid(spec) is not None:
        raise RuntimeError(f"speaker {spec.name} is already running")
    spec.workdir.mkdir(parents=True, exist_ok=True)
    bridge_socket.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(spec.config_path, config_text)
    env = dict(speaker_env(reactor_speed))
    env["ILAB_BRIDGE_SOCKET"] = str(bridge_socket)
    env["PYTHONPATH"] = project_pythonpath()
    # ExaBGP with its bridge as a thread of the same process (``exabgp_host``): one
    # interpreter per speaker instead of two. -P: not the cwd (the speakers' directory, a
    # file or two created per speaker) first on sys.path, which every import would list
    # again, 100 speakers starting at once stalling seconds in getdents.
    argv = [str(python or sys.executable), "-P", "-m", "controller.drivers.exabgp_host"]
    pid = launch(spec.netns, [*argv, "server", str(spec.config_path)],
                 log_path=spec.log_path, env=env, cwd=spec.workdir)
    _write_atomic(spec.pid_path, f"{pid}\n")
    if nice:
        yield_cpu(pid, nice)
    _wait_tagged(spec, pid)
    return pid


def _wait_tagged(spec: SpeakerSpec, pid: int, timeout: float = 2.0) -> None:
    """Return once ``speaker_pid`` names ``pid``: the parent can run on before the kernel
    has set the new image's command line (an empty cmdline for a moment), and until then
    the speaker would read as not running."""
    deadline = time.monotonic() + timeout
    while speaker_pid(spec) != pid and process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.002)


def _catches(pid: int, sig: int) -> bool:
    """True once the process has a handler for ``sig`` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


def catches_reload(pid: int) -> bool:
    """ExaBGP ``pid`` has installed its SIGUSR1 handler (before, the signal kills it)."""
    return _catches(pid, signal.SIGUSR1)


def wait_until_reloadable(pid: int, timeout: float) -> bool:
    """Wait for ``catches_reload``; False if the process died or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while not catches_reload(pid):
        if not process_alive(pid) or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def reload_speaker(spec: SpeakerSpec, config_text: str, timeout: float = 3.0) -> bool:
    """Rewrite the config and have ExaBGP reload it (SIGUSR1); True once it says it did.

    Waits for ExaBGP's verdict in its log because a SIGUSR1 arriving while a previous one is
    still being handled is silently ignored by ExaBGP 5.0: we signal again in that case.
    Returns False when ExaBGP rejected the configuration (it keeps the old one). Raises
    ReloadUnconfirmed when it did not answer in time, ProcessLookupError when the speaker is
    not running.
    """
    pid = speaker_pid(spec)
    if pid is None:
        raise ProcessLookupError(f"speaker {spec.name} is not running")
    _write_atomic(spec.config_path, config_text)
    try:
        offset = spec.log_path.stat().st_size
    except OSError:
        offset = 0
    deadline = time.monotonic() + timeout
    # A SIGUSR1 before ExaBGP installed its handler kills it: wait for the handler first.
    if not wait_until_reloadable(pid, timeout):
        raise ProcessLookupError(f"speaker {spec.name} is not ready for a reload")
    os.kill(pid, signal.SIGUSR1)
    while time.monotonic() < deadline:
        time.sleep(0.005)
        try:
            with open(spec.log_path, "rb") as f:
                f.seek(offset)
                new = f.read().decode("utf-8", "replace")
        except OSError:
            new = ""
        if _RELOAD_OK in new:
            return True
        if _RELOAD_FAIL in new:
            log.error("speaker %s rejected its configuration: %s", spec.name, new[-2000:])
            return False
        if _RELOAD_BUSY in new:
            offset += len(new.encode())
            os.kill(pid, signal.SIGUSR1)
        if not process_alive(pid):
            raise ProcessLookupError(f"speaker {spec.name} died during reload")
    raise ReloadUnconfirmed(f"speaker {spec.name} did not confirm the reload within "
                            f"{timeout:.1f}s")


class ReloadUnconfirmed(TimeoutError):
    """ExaBGP did not say whether it reloaded: a SIGUSR1 it took as busy after our window, or
    a machine too loaded to answer in time. Signalling again is safe (a reload of the same
    file changes nothing) and is the only way to be sure the file is the one running."""


def stop_speaker(spec: SpeakerSpec, timeout: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; waits for the process; removes the pid file.
    Any other process on the same config is killed too, and with each its process group (its
    bridge): a speaker lost track of would hold port 179 against the next one."""
    pid = speaker_pid(spec)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        _kill_group(pid, signal.SIGKILL)
    for stray in find_speakers(spec):
        log.warning("speaker %s: killing PID %d, on its config but not in its pid file",
                    spec.name, stray)
        _kill_group(stray, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        spec.pid_path.unlink()


def _kill_group(pid: int, sig: int) -> None:
    """``sig`` to ``pid`` and, where it leads its own process group (as the runtimes start
    speakers), to that group; waits (2 s at most) for ``pid`` to be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    deadline = time.monotonic() + 2.0
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


# --- the hub ----------------------------------------------------------------------------


class SpeakerNotConnected(RuntimeError):
    pass


def _family_of(prefix: str) -> str:
    return "ipv6" if ":" in prefix else "ipv4"


class SpeakerHub:
    """Unix-socket server the bridges connect to; one connection per speaker.

    ``on_connect(speaker)`` is called when a bridge says hello, before the events of its
    snapshot replay (a BridgeHello, per neighbor SessionState / RouteUpdate* / Announced, then
    ReplayDone) reach ``on_event(speaker, event)``; live events follow. A new connection for a
    speaker replaces the previous one. ``on_disconnect(speaker)`` is called when the current
    connection of a speaker ends (its bridge exited or was killed), not when the hub closes.
    """

    def __init__(
        self,
        socket_path: Path | str,
        on_event: Callable[[str, Event], None],
        on_connect: Callable[[str], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.on_event = on_event
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self._closing = False
        self._server: asyncio.Server | None = None
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # stale socket of a killed controller
        self._server = await asyncio.start_unix_server(
            self._handle, path=str(self.socket_path), limit=64 * 1024 * 1024
        )
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        self._closing = True  # the bridges we drop now are not lost
        if self._server is not None:
            self._server.close()
        for w in list(self._writers.values()):
            w.close()
        self._writers.clear()
        if self._tasks:
            # closed writers make the handlers' readline() return: give them a moment
            _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def connected(self, speaker: str) -> bool:
        w = self._writers.get(speaker)
        return w is not None and not w.is_closing()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        speaker: str | None = None
        try:
            first = await reader.readline()
            hello = decode_event(first)
            if not isinstance(hello, BridgeHello):
                log.warning("bridge connection without hello: %r", first[:200])
                return
            speaker = hello.speaker
            old = self._writers.get(speaker)
            if old is not None and old is not writer:
                old.close()
            self._writers[speaker] = writer
            if self.on_connect is not None:
                self.on_connect(speaker)
            self.on_event(speaker, hello)
            while True:
                line = await reader.readline()
                if not line:
                    break
                if self._writers.get(speaker) is not writer:
                    break  # replaced: a respawned bridge's replay is the truth now
                ev = decode_event(line)
                if ev is not None:
                    self.on_event(speaker, ev)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # top-level handler: ending quietly avoids asyncio's noisy "task cancelled" report
            pass
        except Exception:
            log.exception("bridge connection of %s failed", speaker)
        finally:
            if speaker is not None and self._writers.get(speaker) is writer:
                del self._writers[speaker]
                if self.on_disconnect is not None and not self._closing:
                    self.on_disconnect(speaker)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def send(self, speaker: str, lines: Sequence[str]) -> None:
        """Send ExaBGP API commands (one per element) to ``speaker``, in order."""
        w = self._writers.get(speaker)
        if w is None or w.is_closing():
            raise SpeakerNotConnected(speaker)
        for line in lines:
            if "\n" in line or "\r" in line:
                raise ValueError(f"command contains a newline: {line!r}")
        try:
            w.write(("\n".join(lines) + "\n").encode())
            await w.drain()
        except (ConnectionError, RuntimeError) as exc:
            # the bridge went away under us (killed, respawning): the same as not connected
            raise SpeakerNotConnected(speaker) from exc

    async def announce(
        self,
        speaker: str,
        neighbor: str,
        prefixes: Sequence[str],
        communities: Sequence[str] = (),
    ) -> None:
        """Announce ``prefixes`` to ``neighbor`` with next-hop self, batched per family."""
        attrs = "next-hop self"
        if communities:
            attrs += " community [" + " ".join(communities) + "]"
        await self.send(speaker, _batched(f"neighbor {neighbor} announce attributes {attrs} nlri",
                                          prefixes))

    async def withdraw(self, speaker: str, neighbor: str, prefixes: Sequence[str]) -> None:
        # ExaBGP needs a next hop to parse an IPv6 "attributes" line even to withdraw
        await self.send(
            speaker,
            _batched(f"neighbor {neighbor} withdraw attributes next-hop self nlri", prefixes),
        )

    async def teardown(self, speaker: str, neighbor: str) -> None:
        """Reset the session (cease/administrative shutdown); ExaBGP reconnects by itself."""
        await self.send(speaker, [f"neighbor {neighbor} teardown 2"])


def _batched(head: str, prefixes: Sequence[str]) -> list[str]:
    by_family: dict[str, list[str]] = {}
    for p in prefixes:
        by_family.setdefault(_family_of(p), []).append(p)
    lines = []
    for group in by_family.values():
        for i in range(0, len(group), ANNOUNCE_CHUNK):
            lines.append(f"{head} {' '.join(group[i : i + ANNOUNCE_CHUNK])}")
    return lines
