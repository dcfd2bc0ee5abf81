"""Bring a running lab's nodes to a new topology (I/O): remove what went, then build what is
missing (``lab.dataplane.build``), leaving everything else and
its traffic alone."""

from __future__ import annotations

import time
from dataclasses import dataclass

from lab.dataplane import iproute, plan
from lab.dataplane.build import build_errors, provision, require_ip
from lab.dataplane.nodes import runtime
from lab.dataplane.teardown import teardown
from lab.scenario.topology import Topology


@dataclass(frozen=True)
class SyncReport:
    added_nodes: tuple[str, ...]  # namespaces created
    removed_nodes: tuple[str, ...]  # namespaces deleted, their processes killed
    seconds: float


def sync(old: Topology | None, new: Topology) -> SyncReport:
    """Make the lab's namespaces match `new`, `old` being what was built before.

    Only the namespaces whose part differs between `old` and `new` (``plan.touched``) are looked
    at. Creates the namespaces, veths, VLAN sub-interfaces, bridge ports, addresses and static
    routes of `new` that are missing; removes the nodes of `old` that `new` lacks (killing their
    processes) and its veths, sub-interfaces, addresses and static routes that `new` lacks.
    Nodes are matched by namespace: `new` is built with `old`'s node names
    (``build_topology(..., given=old.node_names)``), so a kept node keeps its namespace and a
    node of `old` renamed in `new` is an error (it would be rebuilt). Everything else is left
    alone, so existing links keep their traffic (VLAN programs are swapped atomically). With
    `old=None` (a restarting controller) nothing is removed and whatever already exists is kept:
    only what is missing is created.

    On failure, the namespaces this call created are removed and LabBuildError is raised;
    calling sync again with the same `new` completes the job.
    """
    t0 = time.perf_counter()
    require_ip()
    if old is not None and old.lab != new.lab:
        raise ValueError(f"cannot sync lab {old.lab!r} into lab {new.lab!r}")
    new_keys = {n.key: n for n in new.nodes}
    if len(new_keys) != len(new.nodes):
        raise ValueError("topology nodes need distinct keys")
    if old is not None:
        moved = [f"{n.name} -> {new_keys[n.key].name}" for n in old.nodes
                 if n.key in new_keys and new_keys[n.key].netns != n.netns]
        if moved:
            raise ValueError("node names must not change (build with given=old.node_names): "
                             + ", ".join(moved))
    nodes = runtime(new.runtime)
    removed: tuple[str, ...] = ()
    # Only the namespaces whose part of the topology changed are read and written.
    names = plan.touched(old, new)
    old_part = plan.restrict(old, names) if old is not None else None
    new_part = plan.restrict(new, names)
    with build_errors(new.lab):
        if old_part is not None:
            gone = [n.netns for n in old_part.nodes
                    if n.key not in new_keys and nodes.exists(n.netns)]
            if gone:
                _unplug(gone)
                removed = teardown(new.lab, gone, runtime_name=new.runtime).removed

        # What is there already (the namespaces still missing are empty: no need to ask).
        live = iproute.live_state(n for n in new_part.netns_names if nodes.exists(n))

        # Removals (old minus new), before creations that may reuse the names.
        if old_part is not None:
            strict, best_effort = plan.remove_lines(old_part, new_part, live)
            iproute.batches(strict, "removing from")
            iproute.batches(best_effort, "removing routes from", force=True)
    created = provision(new_part, live)
    return SyncReport(added_nodes=created, removed_nodes=removed,
                      seconds=time.perf_counter() - t0)


def _unplug(names: list[str]) -> None:
    """Delete the veths leaving these namespaces. A deleted namespace takes its veths (and
    their peers elsewhere) with it only later, asynchronously; deleting them first makes the
    peers' disappearance from the surviving namespaces immediate and predictable."""
    scripts = {n: [f"link del {ifname}" for ifname in iproute.veths_leaving(n)] for n in names}
    iproute.batches(scripts, "unplugging", force=True)  # a pair between two of them: one del each
