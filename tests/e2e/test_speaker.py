"""The speaker layer against two real ExaBGP 5 speakers in namespaces tsp-a / tsp-b.

tsp-a (AS 12876) --v0-- tsp-b (AS 64512)
169.254.0.16/31 <-> .17/31, 2001:db8:fc60::/127 <-> ::1/127

Both speakers run the real bridge (controller.drivers.exabgp_bridge, a thread of each ExaBGP:
controller.drivers.exabgp_host) and connect to one SpeakerHub served by the test.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.core.events import (
    Announced,
    BridgeHello,
    Event,
    ReplayDone,
    Route,
    RouteUpdate,
    SessionState,
)
from controller.drivers.exabgp_config import SPEAKER_NICE, NeighborConfig, render_config
from controller.drivers.exabgp_host import THREAD_NAME
from controller.drivers.procs import process_alive
from controller.drivers.speaker import (
    SpeakerHub,
    SpeakerSpec,
    adopt_speaker,
    bridge_command,
    find_speakers,
    reload_speaker,
    respawn_bridge,
    speaker_pid,
    start_speaker,
    stop_speaker,
)
from lab.control.polling import assert_stays_async, wait_for, wait_for_async
from lab.dataplane.nodes import runtime
from lab.testing.namespaces import Link, linked_namespaces

NS_A, NS_B = "tsp-a", "tsp-b"
A4, B4 = "169.254.0.16", "169.254.0.17"
A6, B6 = "2001:db8:fc60::", "2001:db8:fc60::1"
ASN_A, ASN_B = 12876, 64512


@pytest.fixture(scope="module")
def netns() -> Iterator[None]:
    link = Link("v0", a=(f"{A4}/31", f"{A6}/127"), b=(f"{B4}/31", f"{B6}/127"))
    with linked_namespaces("tsp", [link], replace=True) as names:
        assert names == (NS_A, NS_B)
        yield


@dataclass
class Recorder:
    """Collects hub events per speaker and keeps a view of sessions and adj-rib-in."""

    events: list[tuple[float, str, Event]] = field(default_factory=list)
    states: dict[tuple[str, str], str] = field(default_factory=dict)
    rib: dict[tuple[str, str], dict[str, Route]] = field(default_factory=dict)
    announced: dict[tuple[str, str], dict[str, tuple[str, ...]]] = field(default_factory=dict)
    connects: list[str] = field(default_factory=list)

    def on_connect(self, speaker: str) -> None:
        self.connects.append(speaker)
        # a hello means "full state follows": forget this speaker
        for d in (self.states, self.rib, self.announced):
            for key in [k for k in d if k[0] == speaker]:
                del d[key]

    def on_event(self, speaker: str, ev: Event) -> None:
        self.events.append((time.monotonic(), speaker, ev))
        if isinstance(ev, SessionState):
            self.states[(speaker, ev.peer)] = ev.state
            if ev.state == "down":
                self.rib.pop((speaker, ev.peer), None)
        elif isinstance(ev, RouteUpdate):
            table = self.rib.setdefault((speaker, ev.peer), {})
            for _fam, prefix in ev.withdrawn:
                table.pop(prefix, None)
            for r in ev.announced:
                table[r.prefix] = r
        elif isinstance(ev, Announced):
            self.announced[(speaker, ev.peer)] = dict(ev.prefixes)

    def state(self, speaker: str, peer: str) -> str:
        return self.states.get((speaker, peer), "unknown")

    def routes(self, speaker: str, peer: str) -> dict[str, Route]:
        return self.rib.get((speaker, peer), {})

    def tail(self, n: int = 12) -> str:
        return "last events:\n" + "\n".join(f"  {s}: {ev}" for _, s, ev in self.events[-n:])

    async def wait(self, cond: Callable[[], object], what: str, timeout: float = 10.0) -> None:
        """Poll ``cond`` (the hub's loop runs meanwhile); on timeout, show the last events."""
        await wait_for_async(cond, what, timeout, interval=0.005, detail=self.tail)


def _config_a(sock: Path, v6: bool = True) -> str:
    neighbors = [NeighborConfig(B4, A4, A4, ASN_A, ASN_B, "ipv4")]
    if v6:
        neighbors.append(NeighborConfig(B6, A6, A4, ASN_A, ASN_B, "ipv6"))
    return render_config(neighbors, bridge_command(sock, "a"))


def _config_b(sock: Path) -> str:
    neighbors = [NeighborConfig(A4, B4, B4, ASN_B, ASN_A, "ipv4"),
                 NeighborConfig(A6, B6, B4, ASN_B, ASN_A, "ipv6")]
    return render_config(neighbors, bridge_command(sock, "b"))


@pytest.fixture
def speakers(netns: None, tmp_path: Path) -> Iterator[tuple[SpeakerSpec, SpeakerSpec, Path]]:
    # unix socket paths are limited to 108 bytes: keep it short
    sock = Path(f"/tmp/tsp-{os.getpid()}.sock")
    a = SpeakerSpec("a", NS_A, tmp_path)
    b = SpeakerSpec("b", NS_B, tmp_path)
    try:
        yield a, b, sock
    finally:
        for spec in (a, b):
            stop_speaker(spec)
        sock.unlink(missing_ok=True)
    for spec in (a, b):
        assert speaker_pid(spec) is None


def _all_up(rec: Recorder) -> bool:
    return all(rec.state(s, p) == "up" for s, p in (("a", B4), ("a", B6), ("b", A4), ("b", A6)))


def test_a_speaker_its_pid_file_lost_is_adopted_and_stopped(
        speakers: tuple[SpeakerSpec, SpeakerSpec, Path]) -> None:
    """A speaker whose pid file names another process (or none) is still found by its
    config: adopted rather than started twice (a second one could not bind port 179), and a
    stop kills it all the same. Its bridge is a thread of it: it has no child process."""
    a, _b, sock = speakers
    pid = start_speaker(a, _config_a(sock), sock, runtime().start, nice=SPEAKER_NICE)
    wait_for(lambda: THREAD_NAME in _threads(pid), timeout=10,
             what="the bridge thread of speaker a")
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []
    # told to, it yields the CPU
    assert os.getpriority(os.PRIO_PROCESS, pid) == SPEAKER_NICE
    a.pid_path.write_text("1\n")  # PID 1 lives, but is not ExaBGP on a's config
    assert speaker_pid(a) is None
    assert find_speakers(a) == [pid]
    assert adopt_speaker(a) == pid and speaker_pid(a) == pid
    a.pid_path.unlink()
    stop_speaker(a)
    assert find_speakers(a) == [] and not process_alive(pid)


def _threads(pid: int) -> list[str]:
    """The names (comm) of a process's threads."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out.append((task / "comm").read_text().strip())
        except OSError:
            continue
    return out


def test_speakers_end_to_end(speakers: tuple[SpeakerSpec, SpeakerSpec, Path]) -> None:
    asyncio.run(_scenario(*speakers))


async def _scenario(a: SpeakerSpec, b: SpeakerSpec, sock: Path) -> None:
    rec = Recorder()
    hub = SpeakerHub(sock, rec.on_event, rec.on_connect)
    await hub.start()
    try:
        # --- start: both sessions of both speakers reach Established
        t0 = time.monotonic()
        start_speaker(a, _config_a(sock), sock, runtime().start)
        start_speaker(b, _config_b(sock), sock, runtime().start)
        await rec.wait(lambda: _all_up(rec), "v4 and v6 sessions up on both speakers")
        print(f"start -> 4 sessions up: {time.monotonic() - t0:.3f}s")
        await rec.wait(lambda: hub.connected("a") and hub.connected("b"), "bridges")

        # --- announce v4 and v6 with communities; next hop self
        await hub.announce("a", B4, ["198.51.100.0/24", "203.0.113.0/24"], ["12876:42200"])
        await hub.announce("a", B6, ["2001:db8:100::/48"], ["12876:42100", "12876:42200"])
        await rec.wait(lambda: {"198.51.100.0/24", "203.0.113.0/24"} <= set(
            rec.routes("b", A4)), "v4 routes at b")
        await rec.wait(lambda: "2001:db8:100::/48" in rec.routes("b", A6), "v6 route at b")
        r4 = rec.routes("b", A4)["198.51.100.0/24"]
        assert (r4.next_hop, r4.communities, r4.as_path, r4.family) == (
            A4, ((12876, 42200),), (ASN_A,), "ipv4")
        r6 = rec.routes("b", A6)["2001:db8:100::/48"]
        assert (r6.next_hop, set(r6.communities), r6.family) == (
            A6, {(12876, 42100), (12876, 42200)}, "ipv6")

        # --- withdraw (batched syntax, both families)
        await hub.withdraw("a", B4, ["198.51.100.0/24"])
        await hub.withdraw("a", B6, ["2001:db8:100::/48"])
        await rec.wait(lambda: "198.51.100.0/24" not in rec.routes("b", A4), "v4 withdraw")
        await rec.wait(lambda: "2001:db8:100::/48" not in rec.routes("b", A6), "v6 withdraw")
        assert "203.0.113.0/24" in rec.routes("b", A4)
        await hub.announce("a", B6, ["2001:db8:101::/48"])
        await rec.wait(lambda: "2001:db8:101::/48" in rec.routes("b", A6), "v6 again")

        # --- reload without the v6 neighbor: v6 goes down, v4 untouched
        mark = len(rec.events)
        t0 = time.monotonic()
        assert await asyncio.to_thread(reload_speaker, a, _config_a(sock, v6=False))
        t1 = time.monotonic()
        await rec.wait(lambda: rec.state("b", A6) == "down", "v6 down at b after reload")
        print(f"reload confirmed in {t1 - t0:.3f}s, "
              f"v6 down at b after {time.monotonic() - t0:.3f}s")
        await rec.wait(lambda: rec.state("a", B6) == "down", "v6 down at a after reload")

        def v4_changes() -> list[Event]:
            return [ev for _, s, ev in rec.events[mark:]
                    if isinstance(ev, SessionState) and ev.peer in (A4, B4)]

        await assert_stays_async(lambda: not v4_changes(), "v4 sessions untouched by the reload",
                                 0.5, detail=lambda: f"v4 changes: {v4_changes()}")
        assert rec.state("a", B4) == rec.state("b", A4) == "up"
        assert "203.0.113.0/24" in rec.routes("b", A4)
        assert rec.routes("b", A6) == {}

        # --- replay: a new hub on the same socket learns the full current state
        await hub.close()
        rec2 = Recorder()
        hub = SpeakerHub(sock, rec2.on_event, rec2.on_connect)
        await hub.start()
        t0 = time.monotonic()
        await rec2.wait(lambda: sum(isinstance(ev, ReplayDone) for _, _, ev in rec2.events)
                       == 2, "replays of both bridges", timeout=5)
        print(f"replay of both bridges complete after {time.monotonic() - t0:.3f}s")
        assert sorted(rec2.connects) == ["a", "b"]
        hellos = [ev for _, _, ev in rec2.events if isinstance(ev, BridgeHello)]
        assert all(not h.fresh for h in hellos), hellos
        assert rec2.state("a", B4) == rec2.state("b", A4) == "up"
        assert rec2.state("a", B6) == rec2.state("b", A6) == "down"
        got = rec2.routes("b", A4)["203.0.113.0/24"]
        assert (got.next_hop, got.communities) == (A4, ((12876, 42200),))
        assert rec2.announced[("a", B4)] == {"203.0.113.0/24": ("12876:42200",)}
        # the v6 neighbor was removed: ExaBGP dropped its RIB, so nothing is announced there
        assert rec2.announced.get(("a", B6), {}) == {}
        rec = rec2

        # --- reload with v6 back: the session comes up again
        t0 = time.monotonic()
        assert await asyncio.to_thread(reload_speaker, a, _config_a(sock))
        await rec.wait(lambda: _all_up(rec), "v6 up again after reload")
        print(f"reload re-adding v6: up after {time.monotonic() - t0:.3f}s")

        # --- a respawned bridge (ExaBGP's SIGUSR2) says a fresh hello and replays nothing:
        # it starts empty, as after a crash; ExaBGP's sessions are left as they are
        mark = len(rec.events)
        respawn_bridge(speaker_pid(a) or 0)
        await rec.wait(lambda: any(isinstance(ev, ReplayDone) and s == "a"
                                   for _, s, ev in rec.events[mark:]), "the respawned replay")
        fresh = [ev for _, s, ev in rec.events[mark:] if isinstance(ev, BridgeHello)]
        assert [h.fresh for h in fresh] == [True], fresh
        assert not [ev for _, s, ev in rec.events[mark:] if isinstance(ev, RouteUpdate)]
        await assert_stays_async(lambda: rec.state("b", A4) == "up",
                                 "b's v4 session untouched by a's bridge respawn", 0.5)

        # --- a speaker going away gives a down event on the other side
        await asyncio.to_thread(stop_speaker, b)
        await rec.wait(lambda: rec.state("a", B4) == "down", "v4 down at a", timeout=5)
        await rec.wait(lambda: rec.state("a", B6) == "down", "v6 down at a", timeout=5)
        assert speaker_pid(b) is None
    finally:
        await hub.close()
