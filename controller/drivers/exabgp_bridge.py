"""The API process ExaBGP runs: relays between ExaBGP and the controller's unix socket.

Run by ExaBGP as ``python -m controller.drivers.exabgp_bridge --socket PATH --speaker NAME``.
ExaBGP writes events to our stdin (one JSON object per line, plus plain ``done``/``error``
acks) and reads commands from our stdout. The controller (``controller.drivers.speaker.SpeakerHub``)
serves a unix stream socket; the bridge connects to it, retrying with a backoff of 20 ms
doubling up to 1 s, forever.

Wire protocol (both directions newline-delimited, UTF-8):

bridge -> controller: one JSON object per line, the events of :mod:`controller.core.events` as
encoded by :func:`controller.core.events.encode_event` (``"type"``: ``hello``, ``state``,
``update``, ``eor``, ``ack``, ``announced``, ``replay_done``). Every connection starts with::

    {"type":"hello","speaker":NAME,"pid":PID,"fresh":BOOL}
    per known neighbor: {"type":"state",...}            last session state
                        {"type":"update",...}*          its adj-rib-in, <= 2000 routes a line
                        {"type":"announced",...}        what we told ExaBGP to announce to it
    {"type":"replay_done","peers":[...]}

after which live events follow. A controller receiving a hello must forget what it knew about
this speaker's sessions and routes: the replay is the full current state. ``fresh`` is true on
the first connection of this bridge process; a bridge respawned by ExaBGP starts empty, so a
fresh hello from a speaker that was already running means the snapshot may be incomplete.

controller -> bridge: plain ExaBGP API commands, one per line, written verbatim (and in
order) to ExaBGP. The bridge parses ``neighbor X announce|withdraw route|attributes ...``
commands to keep the ``announced`` snapshot.

Snapshot rules: the adj-rib-in of a neighbor is flushed when its session goes down (ExaBGP
sends no withdraws then); what was announced survives session flaps (ExaBGP re-sends it), but
is forgotten when the neighbor is removed from the configuration (reason ``... [removed]``):
ExaBGP drops that peer's RIB, and re-adding the neighbor starts with nothing announced.

The bridge never blocks ExaBGP: one selector loop, non-blocking stdin/stdout/socket, stdin
read continuously even while disconnected (events then only update the snapshot). If the
controller stops reading and more than 256 MiB queue up, the connection is dropped and the
snapshot replayed on the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import selectors
import socket
import sys
import time
from dataclasses import dataclass, field

from controller.core.events import (
    Announced,
    BridgeHello,
    Event,
    ReplayDone,
    Route,
    RouteUpdate,
    SessionState,
    encode_event,
    parse_line,
)

BACKOFF_MIN = 0.02
BACKOFF_MAX = 1.0
MAX_BACKLOG = 256 * 1024 * 1024
REPLAY_CHUNK = 2000
READ_SIZE = 1 << 18

__all__ = ["Bridge", "NeighborSnapshot", "Snapshot", "main", "parse_args"]

_COMMUNITY = re.compile(r"\bcommunity\s+(?:\[([^\]]*)\]|(\S+))")


@dataclass
class NeighborSnapshot:
    state: SessionState | None = None
    rib_in: dict[tuple[str, str], Route] = field(default_factory=dict)
    announced: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Snapshot:
    """Per-neighbor state rebuilt from the event and command streams."""

    def __init__(self) -> None:
        self.neighbors: dict[str, NeighborSnapshot] = {}

    def _get(self, peer: str) -> NeighborSnapshot:
        snap = self.neighbors.get(peer)
        if snap is None:
            snap = self.neighbors[peer] = NeighborSnapshot()
        return snap

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, RouteUpdate):
            rib = self._get(ev.peer).rib_in
            for fam_prefix in ev.withdrawn:
                rib.pop(fam_prefix, None)
            for r in ev.announced:
                rib[(r.family, r.prefix)] = r
        elif isinstance(ev, SessionState):
            snap = self._get(ev.peer)
            snap.state = ev
            if ev.state == "down":
                snap.rib_in.clear()
                if "[removed]" in ev.reason:
                    snap.announced.clear()

    def on_command(self, line: str) -> None:
        tokens = line.split()
        if len(tokens) < 5 or tokens[0] != "neighbor":
            return
        peer = tokens[1]
        i = next((k for k in range(2, len(tokens)) if tokens[k] in ("announce", "withdraw")), 0)
        if not i:
            return
        action = tokens[i]
        if i + 2 >= len(tokens):
            return
        kind = tokens[i + 1]
        if kind == "route":
            prefixes = [tokens[i + 2]]
        elif kind == "attributes" and "nlri" in tokens:
            prefixes = tokens[tokens.index("nlri") + 1 :]
        else:
            return
        announced = self._get(peer).announced
        if action == "withdraw":
            for p in prefixes:
                announced.pop(p, None)
            return
        m = _COMMUNITY.search(line)
        comms: tuple[str, ...] = ()
        if m:
            comms = tuple((m.group(1) or m.group(2) or "").replace(",", " ").split())
        for p in prefixes:
            announced[p] = comms

    def replay(self, speaker: str, pid: int, fresh: bool) -> list[Event]:
        out: list[Event] = [BridgeHello(speaker, pid, fresh)]
        for peer, snap in self.neighbors.items():
            if snap.state is not None:
                out.append(snap.state)
            routes = list(snap.rib_in.values())
            for i in range(0, len(routes), REPLAY_CHUNK):
                out.append(RouteUpdate(peer, tuple(routes[i : i + REPLAY_CHUNK]), ()))
            out.append(Announced(peer, tuple(snap.announced.items())))
        out.append(ReplayDone(tuple(self.neighbors)))
        return out


class Bridge:
    def __init__(self, socket_path: str, speaker: str, stdin_fd: int = 0, stdout_fd: int = 1):
        self.socket_path = socket_path
        self.speaker = speaker
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        self.snapshot = Snapshot()
        self.sel = selectors.DefaultSelector()
        self.sock: socket.socket | None = None
        self.sock_out = bytearray()
        self.sock_in = b""
        self.stdin_buf = b""
        self.stdout_buf = bytearray()
        self.backoff = BACKOFF_MIN
        self.next_connect = 0.0
        self.connections = 0
        self.running = True
        self.pid = os.getpid()

    # -- stdin (ExaBGP events) --------------------------------------------------------

    def _read_stdin(self) -> None:
        try:
            data = os.read(self.stdin_fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.running = False  # ExaBGP is gone
            return
        buf = self.stdin_buf + data
        *lines, self.stdin_buf = buf.split(b"\n")
        for raw in lines:
            ev = parse_line(raw.decode("utf-8", "replace"))
            if ev is None:
                continue
            self.snapshot.on_event(ev)
            if self.sock is not None:
                self._send(ev)

    # -- socket (controller) ----------------------------------------------------------

    def _send(self, ev: Event) -> None:
        self.sock_out += encode_event(ev).encode() + b"\n"
        if len(self.sock_out) > MAX_BACKLOG:
            self._disconnect()

    def _try_connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            self.next_connect = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            return
        self.sock = sock
        self.backoff = BACKOFF_MIN
        self.sock_in = b""
        self.sock_out = bytearray()
        fresh = self.connections == 0
        self.connections += 1
        for ev in self.snapshot.replay(self.speaker, self.pid, fresh):
            self._send(ev)

    def _disconnect(self) -> None:
        if self.sock is None:
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(self.sock)
        self.sock.close()
        self.sock = None
        self.sock_out = bytearray()
        self.sock_in = b""
        self.next_connect = time.monotonic() + self.backoff

    def _read_sock(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._disconnect()
            return
        if not data:
            self._disconnect()
            return
        buf = self.sock_in + data
        *lines, self.sock_in = buf.split(b"\n")
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            self.snapshot.on_command(line.decode("utf-8", "replace"))
            self.stdout_buf += line + b"\n"

    def _write_sock(self) -> None:
        assert self.sock is not None
        try:
            n = self.sock.send(self.sock_out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._disconnect()
            return
        del self.sock_out[:n]

    # -- stdout (commands to ExaBGP) --------------------------------------------------

    def _write_stdout(self) -> None:
        try:
            n = os.write(self.stdout_fd, self.stdout_buf)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EPIPE:
                self.running = False
                return
            raise
        del self.stdout_buf[:n]

    # -- loop -------------------------------------------------------------------------

    def _register(self) -> None:
        # (re)compute interest sets each turn: cheap, and no stale registrations
        wanted: dict[int, tuple[object, int]] = {
            self.stdin_fd: ("stdin", selectors.EVENT_READ),
        }
        if self.stdout_buf:
            wanted[self.stdout_fd] = ("stdout", selectors.EVENT_WRITE)
        if self.sock is not None:
            ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.sock_out else 0)
            wanted[self.sock.fileno()] = ("sock", ev)
        current = {key.fd: key for key in self.sel.get_map().values()}
        for fd, key in current.items():
            if fd not in wanted:
                self.sel.unregister(fd)
            elif key.events != wanted[fd][1]:
                self.sel.modify(fd, wanted[fd][1], wanted[fd][0])
        for fd, (tag, events) in wanted.items():
            if fd not in current:
                self.sel.register(fd, events, tag)

    def run(self) -> None:
        os.set_blocking(self.stdin_fd, False)
        os.set_blocking(self.stdout_fd, False)
        while self.running:
            if self.sock is None and time.monotonic() >= self.next_connect:
                self._try_connect()
            self._register()
            timeout = None
            if self.sock is None:
                timeout = max(0.0, self.next_connect - time.monotonic())
            for key, mask in self.sel.select(timeout):
                tag = key.data
                if tag == "stdin":
                    self._read_stdin()
                elif tag == "stdout":
                    self._write_stdout()
                elif tag == "sock" and self.sock is not None:
                    if mask & selectors.EVENT_READ:
                        self._read_sock()
                    if self.sock is not None and mask & selectors.EVENT_WRITE:
                        self._write_sock()
        # ExaBGP closed our stdin: hand over what is queued, best effort
        if self.sock is not None and self.sock_out:
            with contextlib.suppress(OSError):
                self.sock.setblocking(True)
                self.sock.settimeout(1.0)
                self.sock.sendall(self.sock_out)
        self._disconnect()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m controller.drivers.exabgp_bridge")
    parser.add_argument("--socket", default=os.environ.get("ILAB_BRIDGE_SOCKET"))
    parser.add_argument("--speaker", required=True)
    args = parser.parse_args(argv)
    if not args.socket:
        parser.error("--socket is required (or ILAB_BRIDGE_SOCKET)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        Bridge(args.socket, args.speaker).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

