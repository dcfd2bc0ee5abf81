"""Tear a lab's nodes down (I/O): what runs in them is killed, then they are deleted."""

from __future__ import annotations

from collections.abc import Iterable

from lab.dataplane.nodes import DEFAULT as DEFAULT_RUNTIME
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import RemoveReport


def existing_namespaces(lab: str, runtime_name: str = DEFAULT_RUNTIME) -> list[str]:
    """The lab's nodes (namespaces named `<lab>-...`, containers labelled with the lab) that
    exist now."""
    return runtime(runtime_name).lab_nodes(lab)


def teardown(lab: str, netns_names: Iterable[str] | None = None,
             grace: float = 1.0, runtime_name: str = DEFAULT_RUNTIME) -> RemoveReport:
    """Kill what runs in the lab's nodes (SIGTERM, SIGKILL after `grace` s), then delete
    them (their veths go with them). Idempotent; `netns_names` defaults to every node of the
    lab in that runtime."""
    nodes = runtime(runtime_name)
    names = list(netns_names) if netns_names is not None else nodes.lab_nodes(lab)
    prefix = nodes.handle(lab, "")  # every handle of the lab starts so
    foreign = [n for n in names if not n.startswith(prefix)]
    if foreign:
        raise ValueError(f"refusing to delete namespaces outside lab {lab!r}: {foreign}")
    return nodes.remove(names, grace)
