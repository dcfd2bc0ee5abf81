"""Reusable pytest fixtures: a running lab per test or module, and polling helpers.

Registered through the ``pytest11`` entry point, so any project that installs interlink-lab
can write::

    def test_my_policy(lab_factory):
        lab = lab_factory("basic", hold_time=3)
        lab.client.post(...)
        lab.wait_for(lambda: lab.link()["status"] == "active", "link active")
        assert lab.ping("onprem-host", "vpc-instance", 6)

Labs get unique names (``t`` + random), so tests never collide with a user's ``ilab``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from lab.control import lifecycle
from lab.control.client import Client
from lab.control.handle import REGION_PATH, RunningLab, WaitTimeout, unique_lab_name, wait_for
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario

# Re-exported: tests import these from here.
__all__ = ["REGION_PATH", "RunningLab", "WaitTimeout", "lab_client", "lab_factory",
           "require_root", "unique_lab_name", "wait_for"]


@pytest.fixture
def lab_factory() -> Iterator[Callable[..., RunningLab]]:
    """Bring up labs on demand; every lab is torn down at the end of the test."""
    made: list[str] = []

    def make(scenario: str = "basic", hold_time: int | None = 3,
             name: str | None = None) -> RunningLab:
        lab = name or unique_lab_name()
        made.append(lab)
        result = lifecycle.up(scenario, lab=lab, hold_time=hold_time)
        topo = build_topology(load_scenario(scenario), lab)
        return RunningLab(lab, scenario, topo, Client.for_lab(lab), result.timings)

    yield make
    for lab in made:
        lifecycle.down(lab)


@pytest.fixture
def lab_client(lab_factory: Callable[..., RunningLab]) -> Client:
    """An API client of a fresh default lab."""
    return lab_factory().client


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("end-to-end tests need root (network namespaces)")
