"""The ExaBGP customer router's API process (its bridge) respawned empty by ExaBGP, so
what ExaBGP announces is unknown to the lab. The router must resynchronise: a withdraw sent
around the respawn must really leave the wire (found by the chaos test: 5,500 withdrawn
prefixes stayed in the VPC table for good)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from controller.drivers.speaker import respawn_bridge
from lab.control.handle import REGION_PATH, RunningLab
from lab.testing.plugin import LabFactory

BULK = "100.64.0.0/16"


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3)


def test_withdraw_across_a_respawned_bridge_leaves_the_wire(lab: RunningLab) -> None:
    pol = lab.policy("allow-onprem-v4")
    lab.client.patch(f"{REGION_PATH}/routing-policies/{pol['id']}",
                     {"prefix_filter_in": [*pol["prefix_filter_in"], BULK]})
    bulk = [str(n) for _, n in zip(range(2000), ipaddress.ip_network(BULK).subnets(
        new_prefix=30), strict=False)]
    lab.announce(*bulk)
    lab.wait_for(lambda: set(bulk) <= set(lab.routes("vpc-router")), "the bulk in the VPC")

    respawn_bridge(lab.speaker_pid("customer"))
    lab.withdraw(*bulk)
    lab.wait_for(lambda: not set(bulk) & set(lab.routes("vpc-router")),
                 "the withdrawn prefixes to leave the VPC table", timeout=20,
                 detail=lambda: f"{len(set(bulk) & set(lab.routes('vpc-router')))} left")
    lab.wait_status("active", timeout=15)
    lab.wait_for(lambda: set(lab.client.get("/lab/v1/customer/routes")["sessions"].values())
                 == {"up"}, "the customer router to report its sessions up", timeout=10,
                 detail=lambda: str(lab.client.get("/lab/v1/customer/routes")["sessions"]))
