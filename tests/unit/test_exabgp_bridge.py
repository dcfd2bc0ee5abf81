"""controller.drivers.exabgp_bridge as a real process, with a fake ExaBGP (its pipes) and a fake
controller (a unix socket served by the test). No root needed."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.events import (
    Ack,
    Announced,
    BridgeHello,
    Event,
    ReplayDone,
    RouteUpdate,
    SessionState,
    decode_event,
    encode_event,
)
from controller.drivers.exabgp_bridge import Snapshot
from controller.drivers.speaker import SpeakerHub
from lab.control.polling import wait_for_async

PEER, LOCAL = "169.254.0.17", "169.254.0.16"


def _state(state: str, reason: str = "") -> str:
    n: dict[str, object] = {"address": {"local": LOCAL, "peer": PEER},
                            "asn": {"local": 12876, "peer": 64512}, "state": state}
    if reason:
        n["reason"] = reason
    return json.dumps({"exabgp": "5.0.0", "type": "state", "neighbor": n})


def _update(prefixes: list[str], withdraw: bool = False) -> str:
    items = [{"nlri": p} for p in prefixes]
    msg: dict[str, object]
    if withdraw:
        msg = {"withdraw": {"ipv4 unicast": items}}
    else:
        msg = {"attribute": {"origin": "igp", "as-path": {"0": {"element": "as-sequence",
                                                                "value": [64512]}},
                             "community": [[12876, 42200]]},
               "announce": {"ipv4 unicast": {PEER: items}}}
    return json.dumps({"exabgp": "5.0.0", "type": "update", "neighbor": {
        "address": {"local": LOCAL, "peer": PEER}, "asn": {"local": 12876, "peer": 64512},
        "direction": "receive", "message": {"update": msg}}})


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(5)
        self.buf = b""

    def event(self) -> Event:
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        ev = decode_event(line)
        assert ev is not None, line
        return ev

    def replay(self) -> list[Event]:
        out = [self.event()]
        while not isinstance(out[-1], ReplayDone):
            out.append(self.event())
        return out

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    path = tmp_path / "c.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.drivers.exabgp_bridge", "--socket", str(path),
         "--speaker", "s1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        yield proc, server
    finally:
        server.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def _accept(server: socket.socket, path: str) -> Conn:
    if server.fileno() != -1 and not server.getsockname():
        server.bind(path)
        server.listen(4)
    server.settimeout(5)
    conn, _ = server.accept()
    return Conn(conn)


def test_bridge_relays_snapshots_and_replays(
    bridge: tuple[subprocess.Popen[bytes], socket.socket], tmp_path: Path
) -> None:
    proc, server = bridge
    assert proc.stdin is not None and proc.stdout is not None
    path = str(tmp_path / "c.sock")

    # ExaBGP talks before the controller exists: the bridge must keep reading. Whether the
    # bridge reads these before or after it connects, they reach us (replayed or live).
    proc.stdin.write((_state("up") + "\n" + _update(["198.51.100.0/24"]) + "\ndone\n").encode())
    proc.stdin.flush()
    conn = _accept(server, path)
    seen = conn.replay()
    assert seen[0] == BridgeHello("s1", proc.pid, True)
    while not any(isinstance(ev, RouteUpdate) for ev in seen):
        seen.append(conn.event())
    assert SessionState(PEER, LOCAL, "up") in seen
    updates = [ev for ev in seen if isinstance(ev, RouteUpdate)]
    assert [r.prefix for u in updates for r in u.announced] == ["198.51.100.0/24"]
    # acks are relayed live only (not part of the snapshot)
    proc.stdin.write(b"error\n")
    proc.stdin.flush()
    while (ev := conn.event()) != Ack(False, "error"):
        assert isinstance(ev, Ack | ReplayDone), ev

    # commands go to ExaBGP verbatim; announced set is tracked
    cmd = f"neighbor {PEER} announce attributes next-hop self community [12876:42200] nlri " \
          "203.0.113.0/25 203.0.113.128/25"
    conn.send(cmd)
    conn.send(f"neighbor {PEER} withdraw attributes next-hop self nlri 203.0.113.128/25")
    assert proc.stdout.readline().decode().strip() == cmd
    assert proc.stdout.readline().decode().startswith(f"neighbor {PEER} withdraw")

    # 10k routes in 20 UPDATE lines all relayed (a deadline, not a benchmark: ~0.3 s alone,
    # over 1 s with the suite's workers beside it; `make bench` measures the rates)
    nets = [str(n) for n in ipaddress.ip_network("198.19.0.0/16").subnets(new_prefix=30)][:10000]
    t0 = time.monotonic()
    blob = "".join(_update(nets[i : i + 500]) + "\n" for i in range(0, 10000, 500))
    proc.stdin.write(blob.encode())
    proc.stdin.flush()
    got = 0
    while got < 10000:
        ev = conn.event()
        if isinstance(ev, RouteUpdate):
            got += len(ev.announced)
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0, f"10k routes took {elapsed:.3f}s"

    # controller killed: the next connection gets the full state again
    conn.sock.close()
    conn = _accept(server, path)
    replay = conn.replay()
    assert replay[0] == BridgeHello("s1", proc.pid, False)
    routes = {r.prefix for ev in replay if isinstance(ev, RouteUpdate) for r in ev.announced}
    assert len(routes) == 10001
    announced = [ev for ev in replay if isinstance(ev, Announced)]
    assert announced == [Announced(PEER, (("203.0.113.0/25", ("12876:42200",)),))]

    # session down: adj-rib-in flushed (ExaBGP sends no withdraws)
    proc.stdin.write((_state("down", "closing connection") + "\n").encode())
    proc.stdin.flush()
    assert conn.event() == SessionState(PEER, LOCAL, "down", "closing connection")
    conn.sock.close()
    conn = _accept(server, path)
    replay = conn.replay()
    assert not [ev for ev in replay if isinstance(ev, RouteUpdate)]
    assert next(ev for ev in replay if isinstance(ev, Announced)).prefixes  # survives a flap

    # ExaBGP gone: the bridge exits
    proc.stdin.close()
    assert proc.wait(5) == 0
    print(f"bridge: 10k routes in {elapsed * 1000:.0f} ms")


def test_snapshot_commands() -> None:
    s = Snapshot()
    s.on_command(f"neighbor {PEER} announce route 198.51.100.0/24 next-hop self "
                 "community [12876:42200 12876:42100]")
    s.on_command(f"neighbor {PEER} announce attributes next-hop self nlri 10.0.0.0/8 10.1.0.0/16")
    s.on_command(f"neighbor {PEER} announce route 10.2.0.0/16 next-hop self community 65000:1")
    s.on_command(f"neighbor {PEER} withdraw route 10.0.0.0/8")
    s.on_command(f"neighbor {PEER} teardown 2")
    s.on_command("garbage")
    s.on_command("neighbor x announce")
    assert s.neighbors[PEER].announced == {
        "198.51.100.0/24": ("12876:42200", "12876:42100"),
        "10.1.0.0/16": (),
        "10.2.0.0/16": ("65000:1",),
    }
    # neighbor removed from the configuration: ExaBGP forgets its routes, so do we
    s.on_event(SessionState(PEER, LOCAL, "down", "stop, message [removed]"))
    assert s.neighbors[PEER].announced == {}


def test_hub_reports_a_bridge_leaving_but_not_a_replaced_one_nor_its_own_close(
        tmp_path: Path) -> None:
    async def main() -> None:
        disconnected: list[str] = []
        hub = SpeakerHub(tmp_path / "c.sock", lambda _s, _e: None, None, disconnected.append)
        await hub.start()

        async def bridge(name: str, fresh: bool) -> asyncio.StreamWriter:
            _reader, writer = await asyncio.open_unix_connection(str(tmp_path / "c.sock"))
            writer.write((encode_event(BridgeHello(name, 1, fresh)) + "\n").encode())
            await writer.drain()
            await wait_for_async(lambda: hub.connected(name), f"{name} connected", 2)
            return writer

        first = await bridge("s1", True)
        first.close()  # the bridge exited (its ExaBGP died, or it was killed)
        await wait_for_async(lambda: disconnected == ["s1"], "s1 reported gone", 2)
        writers = [await bridge("s2", True)]
        writers.append(await bridge("s2", False))  # replaces the first: s2 is still there
        await asyncio.sleep(0.1)
        assert disconnected == ["s1"] and hub.connected("s2")
        await hub.close()
        assert disconnected == ["s1"]
    asyncio.run(main())
