"""The lab's ExaBGP processes: the controller's ``Speakers`` port, and the same for the
customer's ExaBGP routers.

Each speaker runs in a namespace with its bridge (``controller.drivers.exabgp_bridge``)
connected to the daemon's hub socket. They outlive a crashed daemon by design: a restarted one
adopts them by their pid files, reloading a speaker only when its configuration changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from controller.drivers.exabgp_config import NeighborConfig, render_config
from controller.drivers.speaker import (
    SpeakerSpec,
    bridge_command,
    reload_speaker,
    speaker_pid,
    start_speaker,
    stop_speaker,
)
from lab.dataplane.nodes import runtime_for


class ProcessSpeakers:
    def __init__(self, workdir: Path, socket_path: Path):
        self.workdir, self.socket_path = workdir, socket_path
        self.specs: dict[str, SpeakerSpec] = {}

    def bridge_command(self, speaker: str, netns: str) -> list[str]:
        """The API process of speaker ``speaker``: its bridge to the daemon's hub, run by the
        interpreter of the node it lives in."""
        return bridge_command(self.socket_path, speaker, runtime_for(netns).python(netns))

    def ensure(self, name: str, netns: str, neighbors: Sequence[NeighborConfig]) -> None:
        """Start, reload or adopt speaker ``name`` with these neighbors."""
        config_text = render_config(neighbors, self.bridge_command(name, netns))
        spec = self.specs.setdefault(name, SpeakerSpec(name=name, netns=netns,
                                                       workdir=self.workdir))
        conf = self.workdir / f"{name}.conf"
        if speaker_pid(spec) is None:
            nodes = runtime_for(netns)
            start_speaker(spec, config_text, self.socket_path, nodes.start,
                          nodes.python(netns))
        elif not conf.exists() or conf.read_text() != config_text:
            reload_speaker(spec, config_text)

    def stop(self, name: str) -> None:
        # by its pid file: also after a controller restart; forgotten, so that a start after
        # it takes the namespace it is given (a renamed one)
        spec: SpeakerSpec | None = self.specs.pop(name, None)
        stop_speaker(spec or self._spec(name))

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def pid(self, name: str) -> int | None:
        return speaker_pid(self._spec(name))

    def _spec(self, name: str) -> SpeakerSpec:
        # Enough to find its pid file, also of a speaker adopted after a restart.
        return SpeakerSpec(name=name, netns="", workdir=self.workdir)
