"""A customer router whose daemon dies is reported as dead everywhere, refuses commands with a
409 naming the node and the daemon, and `fault restore` brings it back with its announcements.

Runs once per customer router kind (``router_kind``); the default kind runs without ``matrix``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from router_kinds import kernel_proto

from lab.control.client import ApiError
from lab.control.handle import RunningLab
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
    import os
    import signal

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
