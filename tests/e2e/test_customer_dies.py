"""A customer router whose daemon dies is reported as dead everywhere, refuses commands with a
409 naming the node and the daemon, and `fault restore` brings it back with its announcements.

Runs once per customer router kind (``router_kind``); the default kind runs without ``matrix``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from router_kinds import kernel_proto

from controller.drivers.speaker import respawn_bridge
from lab.control import truth
from lab.control.client import ApiError
from lab.control.handle import RunningLab
from lab.control.polling import assert_stays
from lab.testing.plugin import LabFactory

VPC_V4 = "203.0.113.0/24"
EXTRA = "198.51.100.128/25"  # announced at run time: must come back after the restart
ONPREM_V4 = "198.51.100.0/24"


@pytest.fixture(scope="module")
def lab(router_kind: str) -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3, router=router_kind)


def customer(lab: RunningLab) -> dict:
    out: dict = lab.client.get("/lab/v1/customer/routes")
    return out


def kernel_learned(lab: RunningLab) -> dict[str, str | None]:
    return lab.routes("customer-router", proto=kernel_proto(lab.topo.customers[0].router))


def node_daemons(lab: RunningLab, node: str) -> dict[str, bool]:
    nodes = lab.client.get("/lab/v1/nodes")["nodes"]
    n = next(x for x in nodes if x["name"] == node)
    return {d["name"]: d["running"] for d in n.get("daemons") or []}


def test_killed_customer_daemon_is_reported_and_restored(lab: RunningLab) -> None:
    lab.announce(EXTRA)
    lab.wait_for(lambda: EXTRA in lab.routes("vpc-router"), f"{EXTRA} in the VPC table")
    main = customer(lab)["router"]["main_daemon"]
    killed = lab.kill("customer-router")["killed"]
    assert [k["daemon"] for k in killed] == [main]
    try:
        got = customer(lab)
        assert got["router"]["running"] is False
        assert set(got["sessions"].values()) == {"down"}, got["sessions"]
        # the sessions-only endpoint (pollers, the truth oracle) says the same
        assert lab.client.get("/lab/v1/customer/sessions") == {"sessions": got["sessions"]}
        assert got["learned"] == []
        lab.wait_for(lambda: not kernel_learned(lab), "learned routes gone from the kernel")
        assert node_daemons(lab, "customer-router")[main] is False
        faults = lab.client.get("/lab/v1/faults")["faults"]
        assert {"kind": "kill", "node": "customer-router", "daemon": main} in faults
        for path, body in (("announce", {"prefixes": ["198.51.100.0/26"]}),
                           ("withdraw", {"prefixes": [EXTRA]})):
            with pytest.raises(ApiError) as exc:
                lab.client.post(f"/lab/v1/customer/{path}", body)
            assert exc.value.status == 409
            assert main in str(exc.value) and "customer-router" in str(exc.value)
        # Scaleway notices: the link goes down once the hold time (3 s) expires.
        lab.wait_status("all_down", timeout=15)
        lab.wait_for(lambda: ONPREM_V4 not in lab.routes("vpc-router"), "on-prem route gone")
    finally:
        restored = lab.fault("restore", "both")
    assert restored["restarted"] and main in restored["restarted"][0]["daemons"]
    assert restored["restored"] == []  # nothing was cut
    lab.wait_status("active", timeout=20)
    lab.wait_for(lambda: EXTRA in lab.routes("vpc-router"), f"{EXTRA} announced again")
    lab.wait_for(lambda: VPC_V4 in kernel_learned(lab), "customer learns the VPC again")
    assert lab.client.get("/lab/v1/faults")["faults"] == []
    lab.withdraw(EXTRA)


def test_a_daemon_that_dies_unasked_is_down_too(lab: RunningLab) -> None:
    """Killed behind the lab's back (as in a crash): same honest report, same restore."""
    daemons = lab.client.get("/lab/v1/customer/routes")["router"]["daemons"]
    pid = daemons[-1]["pid"]
    os.kill(pid, signal.SIGKILL)
    try:
        lab.wait_for(lambda: customer(lab)["router"]["running"] is False, "router seen dead")
        lab.wait_for(lambda: set(customer(lab)["sessions"].values()) == {"down"},
                     "sessions down")
        faults = lab.client.get("/lab/v1/faults")["faults"]
        assert any(f["kind"] == "down" for f in faults), faults
    finally:
        lab.fault("restore", "both")
    lab.wait_status("active", timeout=20)


def test_unknown_node_or_daemon_is_refused(lab: RunningLab) -> None:
    for body, status in (({"node": "nowhere"}, 404), ({"node": "vpc-instance"}, 400),
                         ({"node": "customer-router", "daemon": "sshd"}, 400)):
        with pytest.raises(ApiError) as exc:
            lab.client.post("/lab/v1/faults/kill", body)
        assert exc.value.status == status, body
    assert customer(lab)["router"]["running"] is True


def test_killing_the_scaleway_speaker_is_accepted(lab: RunningLab) -> None:
    got = lab.kill("scw-interlink")["killed"]
    assert got and got[0]["daemon"] == "exabgp" and got[0]["pid"]
    # the controller brings its speakers back (or, at worst, a restore does nothing harmful)
    lab.client.post("/lab/v1/faults/restore", {})


def wire_sessions(lab: RunningLab) -> set[frozenset[str]]:
    """BGP connections ESTABLISHED on both ends (the customer's and Scaleway's sockets)."""
    return (truth.established(lab.netns("customer-router"))
            & truth.established(lab.netns("scw-interlink")))


def test_frr_dead_zebra_leaves_the_sessions_up(lab: RunningLab, router_kind: str) -> None:
    """zebra dies, bgpd lives: the sessions stay up on the wire and in every report, bgpd
    still announces (import-check is off), and `fault restore` restarts FRR (bgpd does not
    reconnect to a new zebra), which installs the learned routes again."""
    if router_kind != "frr":
        pytest.skip("zebra is FRR's")
    lab.wait_status("active", timeout=20)
    lab.wait_for(lambda: len(wire_sessions(lab)) == 2, "both sessions on the wire")
    killed = lab.kill("customer-router", "zebra")["killed"]
    assert [k["daemon"] for k in killed] == ["zebra"]
    try:
        assert node_daemons(lab, "customer-router") == {"zebra": False, "bgpd": True}
        lab.wait_for(lambda: not kernel_learned(lab), "zebra's stale routes flushed")
        assert_stays(lambda: set(customer(lab)["sessions"].values()) == {"up"}
                     and len(wire_sessions(lab)) == 2 and lab.link()["status"] == "active",
                     "sessions up (report, wire, controller) past the hold time", 5.0,
                     detail=lambda: f"{customer(lab)['sessions']} {wire_sessions(lab)}")
        lab.announce(EXTRA)  # bgpd announces without zebra
        lab.wait_for(lambda: EXTRA in lab.routes("vpc-router"), f"{EXTRA} in the VPC table")
        assert {"kind": "kill", "node": "customer-router", "daemon": "zebra"} in \
            lab.client.get("/lab/v1/faults")["faults"]
    finally:
        restored = lab.fault("restore", "both")
    assert restored["restarted"][0]["daemons"] == ["zebra"]
    lab.wait_for(lambda: VPC_V4 in kernel_learned(lab), "learned routes installed again")
    lab.wait_for(lambda: set(customer(lab)["sessions"].values()) == {"up"}, "sessions up")
    assert customer(lab)["router"]["running"] is True
    lab.withdraw(EXTRA)
    lab.wait_for(lambda: EXTRA not in lab.routes("vpc-router"), f"{EXTRA} withdrawn")


def test_exabgp_bridge_lost_with_commands_in_flight(lab: RunningLab, router_kind: str) -> None:
    """The customer's bridge is respawned (fresh: what ExaBGP announces is unknown, so the
    router starts again from its book) with a withdraw in flight: sent while ExaBGP and its
    bridge thread were stopped, so it waits in the socket, which the respawn may drop before
    the bridge passes it on or not. Either way the prefix must leave the wire."""
    if router_kind != "exabgp":
        pytest.skip("the bridge is the ExaBGP router's")
    lab.wait_status("active", timeout=20)
    lab.announce(EXTRA)
    lab.wait_for(lambda: EXTRA in lab.routes("vpc-router"), f"{EXTRA} in the VPC table")
    exabgp = customer(lab)["router"]["daemons"][0]["pid"]
    os.kill(exabgp, signal.SIGSTOP)
    try:
        lab.withdraw(EXTRA)
        respawn_bridge(exabgp)  # pending until it runs again
    finally:
        os.kill(exabgp, signal.SIGCONT)
    lab.wait_for(lambda: EXTRA not in lab.routes("vpc-router"),
                 f"{EXTRA} withdrawn from the VPC table", timeout=20)
    lab.wait_status("active", timeout=20)
    lab.wait_for(lambda: ONPREM_V4 in lab.routes("vpc-router"), "the book announced again")
    assert EXTRA not in {a["prefix"] for a in customer(lab)["announced"]}
