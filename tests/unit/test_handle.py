"""RunningLab's helpers take a node name or an address (pure: no lab needed)."""

import pytest

from lab.control.client import Client
from lab.control.handle import RunningLab
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario


@pytest.fixture
def lab() -> RunningLab:
    topo = build_topology(load_scenario("basic"), "ilab")
    return RunningLab("ilab", "basic", topo, Client("http://127.0.0.1:1", "t"))


def test_target_of_a_node_follows_the_family(lab: RunningLab) -> None:
    assert lab.target("vpc-instance") == "203.0.113.10"
    assert lab.target("vpc-instance", 6) == "2001:db8:200::10"


def test_target_of_an_address_is_its_own_family(lab: RunningLab) -> None:
    assert lab.target("2001:db8:200::10") == "2001:db8:200::10"
    assert lab.target("203.0.113.10", 4) == "203.0.113.10"
    with pytest.raises(ValueError, match="is an IPv4 address, not IPv6"):
        lab.target("203.0.113.10", 6)
