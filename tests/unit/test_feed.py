"""The event feed (pure shapes, the ring, --since), the bus's replay, the events endpoint's
since/follow, fault events and the human lines of `interlink-lab events` (no root)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.core import feed
from controller.core.feed import LinkFacts, Ring, Since, parse_since
from controller.core.model import ArgumentError
from controller.service.bus import EventBus
from lab.cli.events import human
from lab.daemon import fault_events
from lab.daemon.events_api import EventsApi, stream_args


# --- routes ----------------------------------------------------------------------------------
def test_route_event_counts_and_samples_a_burst_in_one_pass() -> None:
    verdicts = [(f"10.{i // 256}.{i % 256}.0/24", None) for i in range(100_000)]
    verdicts += [("0.0.0.0/0", "default_route"), ("192.168.0.0/24", "filter_in"),
                 ("192.168.1.0/24", "filter_in")]
    t0 = time.perf_counter()
    ev = feed.route_event("L", "link-a", "ipv4", iter(verdicts), iter(["10.99.0.0/16"]),
                          policy="allow")
    took = time.perf_counter() - t0
    assert ev is not None and took < 0.5, took  # ~20 ms: one pass, no sort of the routes
    assert (ev["accepted"], ev["rejected"], ev["withdrawn"]) == (100_000, 3, 1)
    assert ev["accepted_sample"] == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    assert ev["rejections"] == [
        {"reason": "filter_in", "message": "not in prefix_filter_in of policy allow",
         "count": 2, "sample": ["192.168.0.0/24", "192.168.1.0/24"]},
        {"reason": "default_route", "message": "a default route (never accepted)",
         "count": 1, "sample": ["0.0.0.0/0"]}]
    assert feed.route_event("L", "l", "ipv4", [], []) is None  # nothing heard: no event
    assert ev["batches"] == 1


def test_route_news_keeps_the_last_word_per_prefix() -> None:
    news = feed.RouteNews()
    news.receive("10.0.0.0/24")
    news.withdraw("10.0.0.0/24")
    news.withdraw("10.1.0.0/24")
    news.receive("10.1.0.0/24")
    assert list(news.received) == ["10.1.0.0/24"] and list(news.withdrawn) == ["10.0.0.0/24"]


def test_verdict_changes_only_the_ones_that_differ() -> None:
    old = {"a": "filter_in", "b": "filter_in"}
    new = {"b": "filter_in", "c": "vpc_prefix"}
    assert list(feed.verdict_changes(["a", "b", "c", "d"], old, new)) == [
        ("a", None), ("c", "vpc_prefix")]
    assert feed.rejection_text("no_policy", "ipv6", None) == (
        "no routing policy attached for ipv6")
    assert feed.rejection_text("something_new", "ipv4", "p") == "something_new"


@pytest.mark.parametrize(("text", "expected"), [
    ("notification sent (4,0)", "notification sent (4,0): hold timer expired"),
    ("notification received (6,2)", "notification received (6,2): administrative shutdown"),
    ("peer reset the session", "peer reset the session"),
    ("hold timer expired (4,0)", "hold timer expired (4,0)"),
])
def test_session_reason(text: str, expected: str) -> None:
    assert feed.session_reason(text) == expected


# --- links and policies ----------------------------------------------------------------------
def _facts(v4: str | None = "p1", v6: str | None = None, prop: bool = True,
           vpc: str | None = "v") -> LinkFacts:
    return LinkFacts("L", "link-a", (("ipv4", v4), ("ipv6", v6)), prop, vpc)


def test_link_changes() -> None:
    names = {"p1": "allow", "p2": "strict", "p6": "allow6"}
    assert feed.link_changes(_facts(), _facts(), names) == []
    assert feed.link_changes(None, _facts(), names) == []
    evs = feed.link_changes(_facts(), _facts(v4="p2", v6="p6", prop=False, vpc=None), names)
    base = {"link_id": "L", "link_name": "link-a"}
    assert evs == [
        {"type": "policy", **base, "family": "ipv4", "action": "replaced", "policy_id": "p2",
         "policy_name": "strict", "old_policy_id": "p1", "old_policy_name": "allow"},
        {"type": "policy", **base, "family": "ipv6", "action": "attached", "policy_id": "p6",
         "policy_name": "allow6"},
        {"type": "propagation", **base, "enabled": False},
        {"type": "vpc", **base, "action": "detached", "vpc_id": "v"}]
    [detached] = feed.link_changes(_facts(), _facts(v4=None), names)
    assert (detached["action"], detached["policy_name"]) == ("detached", "allow")


def test_policy_event_says_what_an_edit_changed() -> None:
    before = {"id": "p", "name": "a", "prefix_filter_in": ["10.0.0.0/8", "10.1.0.0/16"],
              "prefix_filter_out": ["203.0.113.0/24"], "tags": []}
    after = before | {"name": "b", "prefix_filter_in": ["10.0.0.0/8", "172.16.0.0/12"]}
    ev = feed.policy_event("edited", after, before, ["link-b", "link-a"])
    assert ev["links"] == ["link-a", "link-b"] and ev["entries"] == {"in": 2, "out": 1}
    assert ev["changes"] == [
        {"field": "prefix_filter_in", "added": 1, "removed": 1,
         "sample": ["+172.16.0.0/12", "-10.1.0.0/16"]},
        {"field": "name", "old": "a", "new": "b"}]
    created = feed.policy_event("created", {"id": "p", "name": "a", "is_ipv6": True})
    assert created == {"type": "policy", "action": "created", "policy_id": "p",
                       "policy_name": "a", "family": "ipv6", "entries": {"in": 0, "out": 0}}


# --- ring and --since ------------------------------------------------------------------------
def test_ring_is_bounded_and_ids_grow_across_restarts() -> None:
    ring = Ring(capacity=5)
    now = 1_700_000_000.0
    stamped = [ring.add({"type": "x", "n": i}, now) for i in range(12)]  # same microsecond
    ids = [e["id"] for e in stamped]
    assert ids == sorted(set(ids)) and ids[0] == int(now * 1_000_000)
    assert [e["n"] for e in ring.since(Since(id=0))] == [7, 8, 9, 10, 11]
    assert [e["n"] for e in ring.since(Since(id=ids[9]))] == [10, 11]
    assert ring.since(Since(id=ids[-1])) == []
    later = Ring()  # a restarted controller: its ids start above the old ones
    assert later.add({"type": "x"}, now + 1)["id"] > ids[-1]


def test_ring_since_time() -> None:
    ring = Ring()
    for t in (10.0, 20.0, 30.0):
        ring.add({"type": "x"}, t)
    assert [e["time"] for e in ring.since(Since(time=20.0))] == [20.0, 30.0]


@pytest.mark.parametrize(("text", "expected"), [
    ("0", Since(id=0)), ("1733220000123456", Since(id=1733220000123456)),
    ("30s", Since(time=970.0)), ("5m", Since(time=700.0)), ("1h30m", Since(time=-4400.0)),
    ("250ms", Since(time=999.75)), ("1.5m", Since(time=910.0)),
])
def test_parse_since(text: str, expected: Since) -> None:
    assert parse_since(text, now=1000.0) == expected


def test_parse_since_iso_times() -> None:
    assert parse_since("2025-01-31T12:00:00Z", 0) == Since(time=1738324800.0)
    assert parse_since("2025-01-31T13:00:00+01:00", 0) == Since(time=1738324800.0)
    local = datetime(2025, 1, 31, 12, 0).timestamp()  # no zone: the local time
    assert parse_since("2025-01-31 12:00", 0) == Since(time=local)


@pytest.mark.parametrize("text", ["", "5x", "m5", "yesterday", "5m junk", "-5m"])
def test_parse_since_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"an event id \(digits\), a duration"):
        parse_since(text, 0)


def test_stream_args() -> None:
    assert stream_args({}, 0) == (None, True)
    assert stream_args({"follow": "0"}, 0) == (Since(id=0), False)  # everything kept
    assert stream_args({"since": "10s", "follow": "true"}, 100) == (Since(time=90.0), True)
    with pytest.raises(ArgumentError, match="expected an event id"):
        stream_args({"since": "soon"}, 0)
    with pytest.raises(ArgumentError, match="must be 1 or 0"):
        stream_args({"follow": "maybe"}, 0)


# --- the bus and the endpoint ----------------------------------------------------------------
def test_bus_subscribers_start_with_the_replay_then_follow() -> None:
    async def main() -> None:
        bus = EventBus(ring_size=3)
        for i in range(5):
            bus.publish({"type": "x", "n": i})
        q = await bus.subscribe(Since(id=0))
        bus.publish({"type": "x", "n": 5})
        assert [q.get_nowait()["n"] for _ in range(q.qsize())] == [2, 3, 4, 5]
        plain = await bus.subscribe()
        assert plain.empty()  # without since: from now on (the graph page's way)
    asyncio.run(main())


def test_bus_merges_a_burst_of_routes_events_and_keeps_the_order() -> None:
    """The first routes event of a key goes out at once; the next ones within
    ROUTES_EVERY are one merged event, out when the time is up or before any other."""
    def batch(n: int, first: int) -> dict[str, Any]:
        ev = feed.route_event("L", "link-a", "ipv4",
                              [(f"10.0.{i}.0/24", None) for i in range(first, first + n)]
                              + [(f"172.16.{first}.0/24", "filter_in")], policy="p")
        assert ev is not None
        return ev

    async def main() -> None:
        bus = EventBus(routes_every=0.2)
        q = await bus.subscribe()
        for k in range(0, 50, 10):
            bus.routes(batch(10, k))
        got = [q.get_nowait() for _ in range(q.qsize())]
        assert [e["accepted"] for e in got] == [10]  # the rest is held
        bus.publish({"type": "session", "state": "down"})  # flushes what is held first
        got = [q.get_nowait() for _ in range(q.qsize())]
        assert [e["type"] for e in got] == ["routes", "session"]
        merged = got[0]
        assert (merged["accepted"], merged["rejected"], merged["batches"]) == (40, 4, 4)
        assert merged["accepted_sample"] == ["10.0.10.0/24", "10.0.11.0/24", "10.0.12.0/24"]
        assert merged["rejections"][0]["count"] == 4
        assert len(merged["rejections"][0]["sample"]) == 3
        bus.routes(batch(1, 60))  # held: one went out less than 0.2 s ago
        assert q.empty()
        await asyncio.sleep(0.3)  # the timer's turn (what is under test)
        assert [q.get_nowait()["accepted"] for _ in range(q.qsize())] == [1]
    asyncio.run(main())


def test_events_endpoint_since_and_no_follow() -> None:
    async def main() -> None:
        bus = EventBus()
        app = web.Application()
        EventsApi(bus).routes(app)
        async with TestClient(TestServer(app)) as client:
            for i in range(3):
                bus.publish({"type": "x", "n": i})
            first = bus.replay(Since(id=0))[0]["id"]
            resp = await client.get("/lab/v1/events", params={"since": str(first),
                                                               "follow": "0"})
            lines = [json.loads(ln) for ln in (await resp.text()).splitlines()]
            assert [e["n"] for e in lines] == [1, 2]  # after that id, then the end
            resp = await client.get("/lab/v1/events", params={"since": "1m"})
            got = [json.loads(await asyncio.wait_for(resp.content.readline(), 5))
                   for _ in range(3)]
            bus.publish({"type": "x", "n": 3})
            got.append(json.loads(await asyncio.wait_for(resp.content.readline(), 5)))
            assert [e["n"] for e in got] == [0, 1, 2, 3]
            resp.close()
    asyncio.run(main())


# --- faults ----------------------------------------------------------------------------------
def test_fault_events() -> None:
    link = ("L", "link-a")
    cut = fault_events.fault_event("cut", {"family": "both", "mode": "link"},
                                   {"cut": ["ipv4", "ipv6"], "mode": "link"}, link)
    assert cut == {"type": "fault", "action": "cut", "link_id": "L", "link_name": "link-a",
                   "family": "both", "mode": "link", "families": ["ipv4", "ipv6"]}
    nothing = {"restored": [], "restored_cuts": [], "restarted": [], "started_nodes": []}
    assert fault_events.fault_event("restore", {}, nothing, None) is None
    restored = fault_events.fault_event("restore", {}, nothing | {"restored_cuts": [
        {"link_id": "L", "link_name": "link-a", "family": "ipv4", "mode": "bgp"}]}, None)
    assert restored is not None and restored["link_name"] == "link-a"
    later = fault_events.fault_event("restore", {}, nothing | {"restored_impairments": [
        {"link_name": "link-a"}]}, link)
    assert later is not None and later["restored_impairments"] == [{"link_name": "link-a"}]
    new_kind = fault_events.fault_event("impair", {"delay": "20ms"}, {"impaired": 1}, link)
    assert new_kind is not None and new_kind["result"] == {"impaired": 1}


def test_fault_middleware_publishes_successes_only() -> None:
    async def main() -> None:
        published: list[dict[str, Any]] = []

        async def cut(request: web.Request) -> web.Response:
            body = await request.json()
            if body.get("family") == "bad":
                return web.json_response({"message": "no"}, status=400)
            return web.json_response({"cut": ["ipv4"], "mode": "bgp"})
        app = web.Application()
        app.router.add_post("/lab/v1/faults/cut", cut)
        app.middlewares.append(fault_events.middleware(published.append,
                                                       lambda body: ("L", "link-a")))
        async with TestClient(TestServer(app)) as client:
            assert (await client.post("/lab/v1/faults/cut", json={"family": "ipv4"})).ok
            assert not (await client.post("/lab/v1/faults/cut", json={"family": "bad"})).ok
        assert [(e["action"], e["families"]) for e in published] == [("cut", ["ipv4"])]
    asyncio.run(main())


# --- human lines -----------------------------------------------------------------------------
def _line(ev: dict[str, Any]) -> str:
    return " ".join(human({"id": 1, "time": 0, **ev}, {}).split()[1:])


def test_human_lines() -> None:
    base = {"link_id": "L", "link_name": "link-a"}
    assert _line({"type": "status", **base, "field": "bgp_v4_status", "old": "up",
                  "new": "down"}) == "status link-a bgp_v4_status up -> down"
    assert _line({"type": "session", **base, "family": "ipv4", "state": "down",
                  "reason": "hold timer expired"}) == (
        "session link-a ipv4 down: hold timer expired")
    ev = feed.route_event("L", "link-a", "ipv4",
                          [(f"10.{i}.0.0/16", None) for i in range(5)]
                          + [("192.168.0.0/24", "filter_in")], ["10.9.0.0/16"], "allow")
    assert ev is not None
    assert _line(ev) == ("routes link-a ipv4 accepted 5 (10.0.0.0/16, 10.1.0.0/16, "
                         "10.2.0.0/16, +2 more); rejected 1: not in prefix_filter_in of "
                         "policy allow (192.168.0.0/24); withdrawn 1 (10.9.0.0/16)")
    assert _line({"type": "propagation", **base, "enabled": True}) == "propagation link-a on"
    assert _line({"type": "policy", **base, "action": "attached", "family": "ipv4",
                  "policy_name": "allow"}) == "policy link-a attached allow (ipv4)"
    assert _line({"type": "fault", **base, "action": "cut", "mode": "bgp",
                  "families": ["ipv4"]}) == "fault link-a cut bgp ipv4"
    assert _line({"type": "fault", **base, "action": "restore", "restored_cuts": [],
                  "restarted": [], "started_nodes": [], "restored_impairments": [{}]}) == (
        "fault link-a restored impairments 1")
    assert _line({"type": "fault", "action": "kill", "node": "customer-router", "killed": [
        {"node": "customer-router", "daemon": "bgpd", "pid": 7}]}) == (
        "fault customer-router killed bgpd (pid 7) on customer-router")
