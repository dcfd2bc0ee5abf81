"""The lab's ExaBGP processes: the controller's ``Speakers`` port, and the same for the
customer's ExaBGP routers.

Each speaker runs in a namespace with its bridge (``controller.drivers.exabgp_bridge``)
connected to the daemon's hub socket. They outlive a crashed daemon by design: a restarted one
adopts them by their pid files, reloading a speaker only when its configuration changed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controller.drivers.exabgp_config import REACTOR_SPEED, NeighborConfig, render_config
from controller.drivers.procs import start_time
from controller.drivers.speaker import (
    ReloadUnconfirmed,
    SpeakerSpec,
    adopt_speaker,
    bridge_command,
    catches_reload,
    reload_speaker,
    speaker_pid,
    start_speaker,
    stop_speaker,
    wait_until_reloadable,
)
from controller.drivers.speaker_forkserver import Forkserver, ForkserverError
from lab.dataplane.nodes import DEFAULT as DEFAULT_RUNTIME
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import NodeRuntime

log = logging.getLogger("lab.daemon.speakers")
# How long a speaker still starting may take to become reloadable (ExaBGP's start-up is
# ~0.3 s idle, several seconds on a loaded 2-core machine with many links being wired).
READY_TIMEOUT_S = 60.0


class ProcessSpeakers:
    def __init__(self, workdir: Path, socket_path: Path,
                 reactor_speed: Callable[[str], str] = lambda _name: REACTOR_SPEED,
                 nice: Callable[[str], int] = lambda _name: 0,
                 background_reloads: bool = False, forkserver: Forkserver | None = None):
        self.workdir, self.socket_path = workdir, socket_path
        # Speakers in network namespaces are forked from it (no ExaBGP import per start);
        # those in containers run the container's interpreter, exec'd there.
        self.forkserver = forkserver
        # Reloads of running speakers too happen in the background, coalesced (the customers'
        # routers: one ExaBGP with a session per link takes ~0.1-0.5 s per reload, and the
        # lab's wiring, holding its lock, would wait for each link's).
        self.background_reloads = background_reloads
        self.reactor_speed = reactor_speed  # of a speaker, by name, asked at each start
        self.nice = nice  # likewise
        self.specs: dict[str, SpeakerSpec] = {}
        # Reloads waiting for a speaker still starting: name -> the latest config text.
        self._pending: dict[str, str] = {}
        self._pending_lock = threading.Lock()
        self._seen: dict[str, tuple[int, int]] = {}  # name -> (pid, start time), see alive

    def bridge_command(self, speaker: str, netns: str) -> list[str]:
        """The API process of speaker ``speaker``: its bridge to the daemon's hub, run by the
        interpreter of the node it lives in."""
        return bridge_command(self.socket_path, speaker, runtime_for(netns).python(netns))

    def ensure(self, name: str, netns: str, neighbors: Sequence[NeighborConfig]) -> None:
        """Start, reload or adopt speaker ``name`` with these neighbors."""
        config_text = render_config(neighbors, self.bridge_command(name, netns))
        spec = self.specs.setdefault(name, SpeakerSpec(name=name, netns=netns,
                                                       workdir=self.workdir))
        if adopt_speaker(spec) is None:
            nodes = runtime_for(netns)
            launch = nodes.start
            if self.forkserver is not None and nodes.name == DEFAULT_RUNTIME:
                launch = functools.partial(self._fork, nodes)
            start_speaker(spec, config_text, self.socket_path, launch,
                          nodes.python(netns), self.reactor_speed(name), self.nice(name))
        elif (self._asked(spec) != config_text
              and not self._reload_when_ready(spec, config_text)):
            try:
                reload_speaker(spec, config_text)
            except ReloadUnconfirmed as exc:  # the file is written: signal until it is taken
                log.warning("%s: retrying in the background", exc)
                self._reload_when_ready(spec, config_text, retry=True)

    def _fork(self, nodes: NodeRuntime, netns: str, argv: Sequence[str], **kwargs: Any) -> int:
        """A start through the forkserver; exec'd as before if it cannot serve, or if the
        namespace is missing (the runtime's start says so, NodeError)."""
        assert self.forkserver is not None
        if nodes.exists(netns):
            try:
                return self.forkserver.start(netns, argv, **kwargs)
            except ForkserverError as exc:
                log.warning("%s: %s started without it", exc, argv[-1])
        return nodes.start(netns, argv, **kwargs)

    def _asked(self, spec: SpeakerSpec) -> str | None:
        """The config the speaker runs or is about to: a pending reload's, else its file's."""
        with self._pending_lock:
            if spec.name in self._pending:
                return self._pending[spec.name]
        try:
            return spec.config_path.read_text()
        except OSError:
            return None

    def _reload_when_ready(self, spec: SpeakerSpec, config_text: str,
                           retry: bool = False) -> bool:
        """A speaker that has not installed its reload handler yet (still starting) is
        reloaded by a thread once it has, with the latest config asked for: the caller (an
        API call) does not wait for ExaBGP's start-up, and changes made meanwhile coalesce
        into one reload. False if the speaker is ready (reload it now), unless
        ``background_reloads`` or ``retry`` (a reload it did not confirm)."""
        with self._pending_lock:
            if spec.name in self._pending:
                self._pending[spec.name] = config_text
                return True
            pid = speaker_pid(spec)
            if pid is None or (catches_reload(pid) and not (self.background_reloads or retry)):
                return False
            self._pending[spec.name] = config_text
        threading.Thread(target=self._deferred_reload, args=(spec,), daemon=True,
                         name=f"reload-{spec.name}").start()
        return True

    def _deferred_reload(self, spec: SpeakerSpec) -> None:
        pid = speaker_pid(spec)
        ready = pid is not None and wait_until_reloadable(pid, READY_TIMEOUT_S)
        done: str | None = None
        while True:
            with self._pending_lock:
                text = self._pending.get(spec.name)
                if text is None or text == done or not ready or speaker_pid(spec) != pid:
                    # done, or stopped / replaced meanwhile (a new process reads its config)
                    self._pending.pop(spec.name, None)
                    return
            try:
                reload_speaker(spec, text)
            except ReloadUnconfirmed as exc:  # signal again: never leave a file not running
                log.warning("deferred reload: %s; signalling again", exc)
                continue
            except ProcessLookupError as exc:  # died: the controller's watchdog restarts it
                log.warning("deferred reload of %s: %s", spec.name, exc)
                ready = False
            done = text  # a newer config asked for during the reload goes round again

    def stop(self, name: str) -> None:
        # by its pid file: also after a controller restart; forgotten, so that a start after
        # it takes the namespace it is given (a renamed one)
        spec: SpeakerSpec | None = self.specs.pop(name, None)
        self._seen.pop(name, None)
        stop_speaker(spec or self._spec(name))

    def alive(self, name: str) -> bool:
        """The watchdog asks this of every speaker 4 times a second: a process already
        verified (pid file, our config in its command line) is recognised by its PID and
        start time, one /proc read instead of three."""
        seen = self._seen.get(name)
        if seen is not None and start_time(seen[0]) == seen[1]:
            return True
        pid = self.pid(name)
        started = start_time(pid) if pid is not None else None
        if pid is None or started is None:
            self._seen.pop(name, None)
            return False
        self._seen[name] = (pid, started)
        return True

    def pid(self, name: str) -> int | None:
        return speaker_pid(self._spec(name))

    def _spec(self, name: str) -> SpeakerSpec:
        # Enough to find its pid file, also of a speaker adopted after a restart.
        return SpeakerSpec(name=name, netns="", workdir=self.workdir)
