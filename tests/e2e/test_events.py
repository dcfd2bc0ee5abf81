"""`interlink-lab events --json` on a real lab (each node runtime): a cut session goes down and
comes back up, a policy that rejects a prefix says why, propagation flips, the faults
themselves; `--since ID --no-follow` replays them from the controller's ring and a follower
started before saw the same."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lab.control.handle import REGION_PATH, RunningLab, unique_lab_name
from lab.control.polling import wait_for
from lab.testing.plugin import LabFactory

Event = dict[str, Any]


@pytest.fixture(scope="module")
def lab(node_runtime: str) -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3, name="ev" + unique_lab_name()[1:],
                   runtime_name=node_runtime)


def cli(lab: RunningLab, *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "lab.cli.main", "--lab", lab.name, *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res


def replay(lab: RunningLab, since: int) -> list[Event]:
    """What `events --since ID --no-follow` prints, read in-process (a CLI process costs
    a second or more to start on a busy machine: the verb itself is checked once below)."""
    return list(lab.client.events(timeout=10, since=str(since), follow=False))


def find(events: list[Event], **want: Any) -> Event | None:
    return next((e for e in events if want.items() <= e.items()), None)


def test_events_json_since(lab: RunningLab) -> None:
    kept = replay(lab, 0)
    start = kept[-1]["id"] if kept else 0
    # A follower from the same point: the replay, then the live events, on one stream
    # (and no race with its start-up: it may subscribe after the first events).
    follower = subprocess.Popen(
        [sys.executable, "-m", "lab.cli.main", "--lab", lab.name, "events", "--json",
         "--since", str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    followed: list[Event] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            followed.append(json.loads(line))
    threading.Thread(target=read, daemon=True).start()
    seen: list[Event] = []

    def saw(**want: Any) -> Event | None:
        seen[:] = replay(lab, start)
        return find(seen, **want)

    def rejected(prefix: str, why: str) -> Event | None:
        seen[:] = replay(lab, start)
        return next((e for e in seen if e["type"] == "routes" for r in e["rejections"]
                     if prefix in r["sample"] and r["message"] == why), None)
    try:
        base = {"link_name": "link-lab", "family": "ipv4"}
        lab.fault("cut", "ipv4")
        down = wait_for(lambda: saw(type="session", state="down", **base),
                        "a session down event", timeout=15, detail=lambda: f"{seen}")
        assert down["reason"], down  # the speaker's word (hold timer expired)
        assert find(seen, type="fault", action="cut", link_name="link-lab",
                    families=["ipv4"])
        lab.fault("restore", "ipv4")
        wait_for(lambda: saw(type="session", state="up", **base), "a session up event",
                 timeout=15, detail=lambda: f"{seen}")
        assert find(seen, type="fault", action="restore")
        # the customer's routes are back before the policy changes: the rejection below is
        # then the policy's re-evaluation (cause reconcile), not the routes arriving late
        link_id = lab.link()["id"]
        wait_for(lambda: lab.client.link_stats(link_id)["ipv4"]["accepted"] >= 1,
                 "the on-prem route accepted again", timeout=15)

        # A stricter policy: the on-prem /24 is not in its /25, nor is a new prefix.
        strict = lab.client.post(f"{REGION_PATH}/routing-policies", {
            "name": "ev-strict", "prefix_filter_in": ["198.51.100.0/25"],
            "prefix_filter_out": ["203.0.113.0/24"]})
        lab.link_action("set-routing-policy", {"routing_policy_id": strict["id"]})
        lab.announce("100.64.10.0/24")
        why = "not in prefix_filter_in of policy ev-strict"
        again = wait_for(lambda: rejected("198.51.100.0/24", why), "the /24 rejected",
                         timeout=10, detail=lambda: f"{seen}")
        assert again["cause"] == "reconcile" and again["link_name"] == "link-lab"
        fresh = wait_for(lambda: rejected("100.64.10.0/24", why), "the new prefix rejected",
                         timeout=10, detail=lambda: f"{seen}")
        assert fresh["cause"] == "update" and fresh["rejected"] == 1
        assert find(seen, type="policy", action="created", policy_name="ev-strict")
        assert find(seen, type="policy", action="replaced", policy_name="ev-strict",
                    old_policy_name="allow-onprem-v4")

        lab.link_action("disable-route-propagation")
        lab.link_action("enable-route-propagation")
        wait_for(lambda: saw(type="propagation", enabled=True), "propagation on again",
                 timeout=5, detail=lambda: f"{seen}")
        assert [e["enabled"] for e in seen if e["type"] == "propagation"] == [False, True]
        ids = [e["id"] for e in seen]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

        # The verb: the same replay, one JSON object a line.
        out = cli(lab, "events", "--since", str(start), "--no-follow", "--json").stdout
        printed = [json.loads(line) for line in out.splitlines()]
        assert printed[:len(seen)] == seen
        wait_for(lambda: len(followed) >= len(seen), "the follower to catch up", timeout=20,
                 detail=lambda: f"exit {follower.poll()}, {len(followed)} of {len(seen)}")
        assert followed[:len(seen)] == seen
    finally:
        follower.terminate()
        follower.wait(timeout=10)

    lab.link_action("set-routing-policy",
                    {"routing_policy_id": lab.policy("allow-onprem-v4")["id"]})
    lab.withdraw("100.64.10.0/24")
    lab.wait_status("active")
