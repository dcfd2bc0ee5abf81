"""Reusable pytest fixtures: labs brought up on demand and always taken down.

Registered through the ``pytest11`` entry point, so any project that installs interlink-lab
can write::

    def test_my_policy(lab_factory):
        lab = lab_factory("basic", hold_time=3, router="frr")
        lab.client.post(...)
        lab.wait_for(lambda: lab.link()["status"] == "active", "link active")
        assert lab.ping("onprem-host", "vpc-instance", 6)

A lab shared by a module (or a class) uses ``LabFactory`` directly::

    @pytest.fixture(scope="module")
    def lab():
        with LabFactory() as make:
            yield make("basic")

Labs get unique names (``t`` + random), so tests never collide with a user's ``ilab``.
Polling helpers: lab.control.polling (``wait_for``, ``assert_stays``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lab.control import lifecycle
from lab.control.client import Client
from lab.control.handle import RunningLab, unique_lab_name

__all__ = ["LabFactory", "lab_client", "lab_factory"]


class LabFactory:
    """Brings labs up (``RunningLab.up``); on exit, takes down every lab it started."""

    def __init__(self) -> None:
        self._labs: list[str] = []

    def __call__(self, scenario: str = "basic", hold_time: int | None = 3,
                 router: str | None = None, name: str | None = None,
                 **up_options: Any) -> RunningLab:
        """A lab of ``scenario`` that works (links active, traffic flowing, unless the
        scenario's ``ready:`` says otherwise), every customer on ``router`` if given."""
        lab = name or unique_lab_name()
        self._labs.append(lab)  # before `up`: a half-built lab is taken down too
        return RunningLab.up(scenario, lab, hold_time=hold_time, router=router, **up_options)

    def __enter__(self) -> LabFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        while self._labs:
            lifecycle.down(self._labs.pop())


@pytest.fixture
def lab_factory() -> Iterator[LabFactory]:
    """Bring up labs on demand; every lab is torn down at the end of the test."""
    with LabFactory() as make:
        yield make


@pytest.fixture
def lab_client(lab_factory: LabFactory) -> Client:
    """An API client of a fresh default lab."""
    return lab_factory().client
