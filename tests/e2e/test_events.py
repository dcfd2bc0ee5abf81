"""`interlink-lab events --json` on a real lab (netns runtime): a cut session goes down and
comes back up, a policy that rejects a prefix says why, propagation flips, the faults
themselves; `--since ID --no-follow` replays them from the controller's ring and a follower
started before saw the same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lab.control.handle import RunningLab, unique_lab_name
from lab.control.polling import wait_for
from lab.testing.plugin import LabFactory

Event = dict[str, Any]


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3, name="ev" + unique_lab_name()[1:])


def cli(lab: RunningLab, *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "lab.cli.main", "--lab", lab.name, *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res


def replay(lab: RunningLab, since: int) -> list[Event]:
    out = cli(lab, "events", "--since", str(since), "--no-follow", "--json").stdout
    return [json.loads(line) for line in out.splitlines()]


def find(events: list[Event], **want: Any) -> Event | None:
    return next((e for e in events if want.items() <= e.items()), None)


def test_events_json_since(lab: RunningLab) -> None:
    kept = replay(lab, 0)
    start = kept[-1]["id"] if kept else 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "lab.cli.main", "--lab", lab.name, "events", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[Event] = []

    def saw(**want: Any) -> Event | None:
        # Read the replay each time: it is what `--since` gives anyone later.
        seen[:] = replay(lab, start)
        return find(seen, **want)

    def rejected(prefix: str, why: str) -> Event | None:
        seen[:] = replay(lab, start)
        return next((e for e in seen if e["type"] == "routes" for r in e["rejections"]
                     if prefix in r["sample"] and r["message"] == why), None)
    try:
        base = {"link_name": "link-lab", "family": "ipv4"}
        cli(lab, "fault", "cut", "link-lab", "--family", "ipv4")
        down = wait_for(lambda: saw(type="session", state="down", **base),
                        "a session down event", timeout=15, detail=lambda: f"{seen}")
        assert down["reason"], down  # the speaker's word (hold timer expired)
        assert find(seen, type="fault", action="cut", link_name="link-lab",
                    families=["ipv4"])
        cli(lab, "fault", "restore", "link-lab", "--family", "ipv4")
        wait_for(lambda: saw(type="session", state="up", **base), "a session up event",
                 timeout=15, detail=lambda: f"{seen}")
        assert find(seen, type="fault", action="restore")

        # A stricter policy: the on-prem /24 is not in its /25, nor a new prefix.
        cli(lab, "policy", "create", "ev-strict", "--in", "198.51.100.0/25",
            "--out", "203.0.113.0/24")
        cli(lab, "policy", "set", "link-lab", "ev-strict")
        cli(lab, "customer", "announce", "100.64.10.0/24")
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

        cli(lab, "propagation", "disable", "link-lab")
        cli(lab, "propagation", "enable", "link-lab")
        wait_for(lambda: saw(type="propagation", enabled=True), "propagation on again",
                 timeout=5, detail=lambda: f"{seen}")
        flips = [e["enabled"] for e in seen if e["type"] == "propagation"]
        assert flips == [False, True]
        ids = [e["id"] for e in seen]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
    finally:
        follower.terminate()
        out, _err = follower.communicate(timeout=10)
    followed = [json.loads(line) for line in out.splitlines()]
    # The follower started before the cut: it saw everything the replay holds after it.
    assert find(followed, type="session", state="down", link_name="link-lab")
    assert find(followed, type="propagation", enabled=True)

    cli(lab, "policy", "set", "link-lab", "allow-onprem-v4")
    cli(lab, "customer", "withdraw", "100.64.10.0/24")
    lab.wait_status("active")
