"""The node runtime registry (lab.dataplane.nodes): no root needed, nothing is created."""

from __future__ import annotations

import sys
import types

import pytest

from lab.dataplane import nodes
from lab.dataplane.nodes.base import NodeRuntime
from lab.dataplane.nodes.netns import NetnsRuntime


def test_default_is_netns_and_instances_are_shared() -> None:
    rt = nodes.runtime()
    assert isinstance(rt, NetnsRuntime) and rt.name == nodes.DEFAULT == "netns"
    assert nodes.runtime("netns") is rt


@pytest.mark.parametrize("name", sorted(nodes.RUNTIMES))
def test_every_registered_runtime_loads(name: str) -> None:
    rt = nodes.runtime(name)
    assert isinstance(rt, NodeRuntime) and rt.name == name


def test_unknown_runtime() -> None:
    with pytest.raises(ValueError, match=r"unknown node runtime 'lxc' \(one of .*netns"):
        nodes.runtime("lxc")


def test_a_new_runtime_is_one_module_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fake(NetnsRuntime):
        name = "fake"

        def handle(self, lab: str, node: str) -> str:
            return f"clab-{lab}-{node}"

    module = types.ModuleType("fake_runtime")
    module.FakeRuntime = Fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_runtime", module)
    monkeypatch.setitem(nodes.RUNTIMES, "fake", "fake_runtime:FakeRuntime")
    monkeypatch.setattr(nodes, "_instances", {})
    rt = nodes.runtime("fake")
    assert isinstance(rt, Fake) and rt.handle("ilab", "partner") == "clab-ilab-partner"
    assert rt.netns_path("clab-ilab-partner") == "/run/netns/clab-ilab-partner"


def test_registration_must_name_its_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(nodes.RUNTIMES, "other", "lab.dataplane.nodes.netns:NetnsRuntime")
    with pytest.raises(TypeError, match="not the NodeRuntime named 'other'"):
        nodes.runtime("other")


def test_netns_handles() -> None:
    rt = NetnsRuntime()
    assert rt.handle("ilab", "scw-interlink-1") == "ilab-scw-interlink-1"
    assert rt.netns_path("ilab-partner") == "/run/netns/ilab-partner"
