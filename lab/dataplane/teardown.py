"""Tear a lab's nodes down (I/O): what runs in them is killed, then they are deleted."""

from __future__ import annotations

from collections.abc import Iterable

from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import RemoveReport


def existing_namespaces(lab: str) -> list[str]:
    """The lab's nodes (namespaces named `<lab>-...`) that exist now."""
    return runtime().lab_nodes(lab)


def teardown(lab: str, netns_names: Iterable[str] | None = None,
             grace: float = 1.0) -> RemoveReport:
    """Kill what runs in the lab's namespaces (SIGTERM, SIGKILL after `grace` s), then delete
    them (their veths go with them). Idempotent; `netns_names` defaults to every `<lab>-*`."""
    nodes = runtime()
    names = list(netns_names) if netns_names is not None else nodes.lab_nodes(lab)
    prefix = nodes.handle(lab, "")  # every handle of the lab starts so
    foreign = [n for n in names if not n.startswith(prefix)]
    if foreign:
        raise ValueError(f"refusing to delete namespaces outside lab {lab!r}: {foreign}")
    return nodes.remove(names, grace)
