"""Customer routers running their own daemons (FRR, BIRD), against a real ExaBGP playing Scaleway.

trt-<rand>-c (customer: FRR or BIRD, AS 64512) --v0-- trt-<rand>-s (ExaBGP, AS 12876)
169.254.0.17/31 <-> .16/31, 2001:db8:fc60::1/127 <-> ::/127

ExaBGP runs through the project's speaker layer (real bridge, SpeakerHub served here).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.core.events import Event, Route, RouteUpdate, SessionState
from controller.drivers.exabgp_config import NeighborConfig, render_config
from controller.drivers.procs import process_alive
from controller.drivers.speaker import (
    SpeakerHub,
    SpeakerSpec,
    bridge_command,
    speaker_pid,
    start_speaker,
    stop_speaker,
)
from controller.drivers.store import Store
from lab.control.polling import assert_stays_async, wait_for_async
from lab.dataplane.nodes import runtime
from lab.routers import registry
from lab.routers.daemon_router import DaemonRouter
from lab.routers.kind import RouterContext, SpeakerListener
from lab.scenario.model import AnnounceSpec
from lab.scenario.topology import CustomerSession, CustomerWiring
from lab.testing.namespaces import Link, linked_namespaces

S4, C4 = "169.254.0.16", "169.254.0.17"
S6, C6 = "2001:db8:fc60::", "2001:db8:fc60::1"
SCW, CUST = 12876, 64512
PASSWORD = "s3cret-md5"
SCW_ROUTES = {"203.0.113.0/24": S4, "2001:db8:200::/64": S6}


@dataclass
class Lab:
    ns_c: str
    ns_s: str
    dir: Path
    sock: Path


@contextlib.contextmanager
def make_lab() -> Iterator[Lab]:
    """Two fresh namespaces and a world-searchable directory; all removed afterwards."""
    tag = f"trt-{secrets.token_hex(3)}"
    # not pytest's tmp_path: its parents are root-only and FRR runs as user frr
    d = Path("/tmp") / tag
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    link = Link("v0", a=(f"{C4}/31", f"{C6}/127"), b=(f"{S4}/31", f"{S6}/127"))
    try:
        with linked_namespaces(tag, [link], sides=("c", "s")) as (ns_c, ns_s):
            yield Lab(ns_c, ns_s, d, d / "hub.sock")
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with make_lab() as lab:
        yield lab


@dataclass
class Scw:
    """The ExaBGP side's view: session states and adj-rib-in per peer."""

    states: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    rib: dict[str, dict[str, Route]] = field(default_factory=dict)
    ups: int = 0

    def on_event(self, speaker: str, ev: Event) -> None:
        if isinstance(ev, SessionState) and ev.state in ("up", "down"):
            if ev.state == "up":
                self.ups += 1
            self.states[ev.peer] = ev.state
            self.reasons[ev.peer] = ev.reason
            if ev.state == "down":
                self.rib.pop(ev.peer, None)
        elif isinstance(ev, RouteUpdate):
            table = self.rib.setdefault(ev.peer, {})
            for _fam, prefix in ev.withdrawn:
                table.pop(prefix, None)
            for r in ev.announced:
                table[r.prefix] = r

    def on_connect(self, speaker: str) -> None:
        pass

    def routes(self) -> dict[str, Route]:
        """What the customer originated (FRR also echoes Scaleway's own routes back, with
        12876 in the AS_PATH: Scaleway drops those)."""
        return {p: r for peer in (C4, C6) for p, r in self.rib.get(peer, {}).items()
                if SCW not in r.as_path}


def customer(lab: Lab, password: str | None) -> CustomerWiring:
    return CustomerWiring(
        name="customer", router="?", asn=CUST, netns=lab.ns_c, lan_host_netns="",
        lan_v4=None, lan_v6=None, md5_password=password,
        announce=(AnnounceSpec("198.51.100.0/24"),
                  AnnounceSpec("2001:db8:100::/48", ("12876:42200",))),
        sessions=(CustomerSession("v0", "ipv4", C4, S4), CustomerSession("v0", "ipv6", C6, S6)))


def make(kind: str, lab: Lab, store: Store, hub: SpeakerHub, password: str | None,
         sub: str = "r") -> DaemonRouter:
    """The router the lab daemon would build (the kind's factory); this module tests the
    kinds that run their own daemons, the others are skipped."""
    def no_speaker(name: str, netns: str, neighbors: Sequence[NeighborConfig]) -> None:
        raise AssertionError("a daemon router needs no ExaBGP speaker")

    def listen(speaker: str, listener: SpeakerListener) -> Callable[[], None]:
        raise AssertionError("a daemon router listens to no speaker")

    ctx = RouterContext(store=store, workdir=lab.dir / sub, hold_time=9, hub=hub,
                        ensure_speaker=no_speaker, listen=listen)
    router = registry.get(kind).factory(customer(lab, password), ctx)
    if not isinstance(router, DaemonRouter):
        pytest.skip(f"{kind} runs no daemons of its own (covered by test_lab)")
    return router


def scw_config(sock: Path, password: str | None) -> str:
    neighbors = [NeighborConfig(C4, S4, S4, SCW, CUST, "ipv4", 9, password),
                 NeighborConfig(C6, S6, S4, SCW, CUST, "ipv6", 9, password)]
    return render_config(neighbors, bridge_command(sock, "scw"))


@pytest.mark.parametrize("kind", registry.names())
def test_customer_router(kind: str, lab: Lab) -> None:
    if not registry.get(kind).available():
        pytest.skip(f"{kind} is not installed")
    asyncio.run(_scenario(kind, lab))


async def _scenario(kind: str, lab: Lab) -> None:
    scw = Scw()
    hub = SpeakerHub(lab.sock, scw.on_event, scw.on_connect)
    await hub.start()
    spec = SpeakerSpec("scw", lab.ns_s, lab.dir / "scw")
    store = Store(lab.dir / "state.db")
    try:
        router = make(kind, lab, store, hub, PASSWORD)
    except BaseException:  # a skip included
        await hub.close()
        store.close()
        raise
    try:
        start_speaker(spec, scw_config(lab.sock, PASSWORD), lab.sock, runtime().start)
        await wait_for_async(lambda: hub.connected("scw"), "the ExaBGP bridge")
        for prefix, peer in SCW_ROUTES.items():
            await hub.announce("scw", {S4: C4, S6: C6}[peer], [prefix])

        # --- start to Established (both sessions, seen by the customer's daemon)
        t0 = time.monotonic()
        await router.start()
        t_started = time.monotonic() - t0
        assert not router.adopted
        await wait_for_async(lambda: router.sessions_state() == {S4: "up", S6: "up"},
                             f"{kind} sessions up")
        t_up = time.monotonic() - t0
        await wait_for_async(
            lambda: scw.states.get(C4) == scw.states.get(C6) == "up", "ExaBGP side up")
        print(f"\n{kind}: start() {t_started:.3f}s, start -> both Established {t_up:.3f}s")
        details = router.session_details()
        assert all(d["reason"] is None and d["bgp_state"].lower() == "established"
                   for d in details.values()), details

        # --- the router installed what Scaleway announces, via the global peer addresses
        want = [{"prefix": p, "via": via} for p, via in SCW_ROUTES.items()]
        await wait_for_async(lambda: router.learned() == want, f"learned routes {want}")

        # --- base announcements arrive, communities and next hops right
        await wait_for_async(lambda: {"198.51.100.0/24", "2001:db8:100::/48"} <= set(scw.routes()),
                             "base announcements at ExaBGP")
        r4, r6 = scw.routes()["198.51.100.0/24"], scw.routes()["2001:db8:100::/48"]
        assert (r4.next_hop, r4.communities, r4.as_path) == (C4, (), (CUST,))
        assert (r6.next_hop, r6.communities, r6.as_path) == (C6, ((12876, 42200),), (CUST,))

        # --- run-time announce, community change, withdraw; sessions stay up throughout
        ups = scw.ups
        t0 = time.monotonic()
        assert await router.announce(["198.51.100.128/25", "2001:db8:101::/48"],
                                     ["12876:42100"]) == 2
        await wait_for_async(
            lambda: {"198.51.100.128/25", "2001:db8:101::/48"} <= set(scw.routes()),
            "run-time announcements")
        print(f"{kind}: announce -> at ExaBGP {time.monotonic() - t0:.3f}s")
        assert scw.routes()["198.51.100.128/25"].communities == ((12876, 42100),)
        assert scw.routes()["2001:db8:101::/48"].next_hop == C6
        await router.announce(["198.51.100.0/24"], ["12876:42200"])
        await wait_for_async(
            lambda: scw.routes()["198.51.100.0/24"].communities == ((12876, 42200),),
            "community change")
        await router.announce(["2001:db8:100::/48"], [])  # community removed
        await wait_for_async(lambda: scw.routes()["2001:db8:100::/48"].communities == (),
                             "community removal")
        t0 = time.monotonic()
        assert await router.withdraw(["198.51.100.128/25", "2001:db8:100::/48"]) == 2
        await wait_for_async(
            lambda: not {"198.51.100.128/25", "2001:db8:100::/48"} & set(scw.routes()),
            "withdrawals")
        print(f"{kind}: withdraw -> gone at ExaBGP {time.monotonic() - t0:.3f}s")
        expected = [{"prefix": "198.51.100.0/24", "communities": ["12876:42200"],
                     "link": None},
                    {"prefix": "2001:db8:101::/48", "communities": ["12876:42100"],
                     "link": None}]
        assert router.announced() == expected
        assert set(scw.routes()) == {"198.51.100.0/24", "2001:db8:101::/48"}
        assert scw.ups == ups, "a session flapped during run-time changes"

        # --- controller restart: close() leaves the daemons, a new object adopts them
        pids = router.daemon_pids()
        await router.close()
        router = make(kind, lab, store, hub, PASSWORD)
        await router.start()
        assert router.adopted and router.daemon_pids() == pids
        assert router.announced() == expected  # from the store
        assert router.sessions_state() == {S4: "up", S6: "up"}
        await router.withdraw(["198.51.100.0/24"])  # the adopted daemons obey
        await wait_for_async(
            lambda: "198.51.100.0/24" not in scw.routes(), "withdraw after adoption")
        assert scw.ups == ups

        # --- stop(): no process left, learned routes leave the kernel, ExaBGP sees it
        router.stop()
        assert not any(process_alive(p) for p in pids)
        assert router.daemon_pids() == []
        assert router.learned() == []
        assert router.sessions_state() == {S4: "down", S6: "down"}
        await wait_for_async(
            lambda: scw.states.get(C4) == scw.states.get(C6) == "down", "down at SCW")

        # --- MD5 mismatch: sessions stay down, and the router says why
        bad = make(kind, lab, store, hub, "wrong-password", sub="bad")
        router = bad
        await bad.start()
        t0 = time.monotonic()
        await wait_for_async(lambda: all("TCP-MD5" in (d["reason"] or "")
                                         for d in bad.session_details().values()),
                             "an MD5 reason", timeout=8)
        print(f"{kind}: MD5 mismatch reported after {time.monotonic() - t0:.3f}s: "
              f"{bad.session_details()[S4]['reason']}")
        await assert_stays_async(
            lambda: (bad.sessions_state() == {S4: "down", S6: "down"}
                     and scw.states.get(C4) == scw.states.get(C6) == "down"),
            "both sessions down with the wrong password", 1.0)
        bad.stop()
        assert bad.daemon_pids() == []
    finally:
        await asyncio.to_thread(router.stop)
        await asyncio.to_thread(stop_speaker, spec)
        await hub.close()
        store.close()
    assert speaker_pid(spec) is None
    left = subprocess.run(["ip", "netns", "pids", lab.ns_c], capture_output=True,
                          text=True).stdout.split()
    assert left == [], f"processes left in {lab.ns_c}: {left}"
