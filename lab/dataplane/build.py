"""Build a lab's nodes and their network (I/O): namespaces, sysctls, veths, VLAN
sub-interfaces, bridges, addresses, static routes, VLAN emulation.

Nothing is ever created in the root namespace: nodes are created through their runtime
(``lab.dataplane.nodes``), veths with both ends placed directly in their namespaces, and the
per-node work runs either in ``ip -n NS -batch -`` or in a short-lived thread that joined the
node's namespace (sysctls, tc/BPF via netlink, see ``lab.dataplane.bpf``).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import time
from collections.abc import Callable, Iterator

from lab.dataplane import iproute, plan, shaping
from lab.dataplane.bpf import attach_vlan_programs
from lab.dataplane.iproute import IprouteError, LiveState
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import NodeError, NodeOptions
from lab.dataplane.teardown import teardown
from lab.scenario.topology import Topology

PORT_FORWARDING_TIMEOUT = 5.0


class LabBuildError(RuntimeError):
    """Building the lab failed; whatever had been built was torn down."""


def build(topology: Topology) -> None:
    """Create every node, veth, VLAN, bridge, address and static route of `topology`.
    On failure everything built is removed again and LabBuildError is raised."""
    require_ip()
    nodes = runtime(topology.runtime)
    taken = [n for n in topology.netns_names if nodes.exists(n)]
    if taken:
        raise LabBuildError(f"namespaces already exist: {', '.join(taken)} (lab "
                            f"{topology.lab!r} already up? tear it down first)")
    provision(topology, {})


def provision(topology: Topology, live: dict[str, LiveState]) -> tuple[str, ...]:
    """Create what `topology` has and `live` lacks. `live` holds what exists now in the
    topology's namespaces that exist; the others are created. Returns the nodes created.

    On failure the nodes this call created are removed and LabBuildError is raised; what
    existed before is left as the failure found it (a later sync completes the job).
    """
    nodes = runtime(topology.runtime)
    names = list(topology.netns_names)
    missing = [n for n in names if n not in live]
    live = live | {n: LiveState(set(), set()) for n in missing}
    created: list[str] = []
    with build_errors(topology.lab, lambda: teardown(topology.lab, created,
                                                     runtime_name=topology.runtime)):
        # 1. Nodes, in parallel (what was created before a failure is removed with the rest).
        try:
            nodes.create(missing, node_options(topology, missing))
        finally:
            created += [n for n in missing if nodes.exists(n)]

        # 2. Sysctls, before any interface exists (accept_dad); rewriting them is harmless.
        for n in names:
            values = plan.sysctls(topology, n)
            try:
                nodes.enter(n, functools.partial(write_sysctls, values))
            except OSError as e:
                raise LabBuildError(f"sysctls in {n}: {e}") from e

        # 3. Veth pairs in one go, each end created directly in its namespace (from inside
        # a lab namespace, never the root one). A lone end (half a pair) is deleted first.
        lone, veth_lines = plan.veth_lines(topology, live)
        iproute.batches(lone, "removing a lone veth end from", force=True)  # may be going
        if veth_lines:
            cp = iproute.run(["ip", "-n", names[0], "-batch", "-"], "\n".join(veth_lines) + "\n")
            if cp.returncode:
                raise LabBuildError(f"creating veth pairs: {iproute.complaint(cp)}")

        # 4. Per-namespace configuration, all namespaces in parallel.
        iproute.batches({n: plan.create_lines(topology, n, live[n]) for n in names},
                        "configuring")

        # 5. VLAN emulation (tc-BPF) where there are sub-interfaces or a VLAN-aware bridge;
        # re-attached everywhere: a replace is atomic and VLAN lists may have changed.
        for n in names:
            vlans = [v for v in topology.vlans if v.netns == n]
            bridges = [b for b in topology.bridges if b.netns == n and b.vlan_filtering]
            if vlans or bridges:
                try:
                    nodes.enter(n, functools.partial(attach_vlan_programs, vlans, bridges))
                except OSError as e:
                    raise LabBuildError(f"802.1Q emulation in {n}: {e}") from e

        # 6. Bridge ports forwarding: a port whose peer came up after the bridge is enabled
        # only once linkwatch has processed its carrier (up to ~1 s later); until then the
        # switch silently drops that customer's first frames (ARP), so wait for it here.
        _wait_ports_forwarding(topology)

        # 7. Each link's bandwidth, both ways, on Scaleway's side of the link; a shared
        # port's capacity in the partner switch.
        try:
            shaping.shape(topology)
            shaping.shape_ports(topology)
        except shaping.ShapingError as e:
            raise LabBuildError(f"shaping the links: {e}") from e
    return tuple(created)


def node_options(topology: Topology, handles: list[str]) -> dict[str, NodeOptions]:
    """What a container runtime needs per node: its role and its own image, if any."""
    images = dict(topology.images)
    by_handle = {n.netns: n for n in topology.nodes}
    return {h: NodeOptions(role=by_handle[h].role,
                           image=images.get(by_handle[h].name, topology.image))
            for h in handles}


def require_ip() -> None:
    if shutil.which("ip") is None:
        raise LabBuildError("the `ip` command (iproute2) is not installed")


@contextlib.contextmanager
def build_errors(lab: str, cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Any failure inside becomes a LabBuildError (after ``cleanup()``, if given)."""
    try:
        yield
    except BaseException as e:
        if cleanup is not None:
            try:
                cleanup()
            except Exception as te:  # keep the original error, mention the cleanup one
                e.add_note(f"removing the namespaces created by the failed sync also failed: "
                           f"{te}")
        if isinstance(e, LabBuildError):
            raise
        if isinstance(e, IprouteError | NodeError):
            raise LabBuildError(str(e)) from e
        if isinstance(e, Exception):
            raise LabBuildError(f"syncing lab {lab!r} failed: {e}") from e
        raise


def write_sysctls(values: dict[str, str]) -> None:
    """Set /proc/sys keys (``net/ipv6/conf/all/accept_dad``...) in the current thread's
    network namespace: run it through ``NodeRuntime.enter``."""
    for key, value in values.items():
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)


def _wait_ports_forwarding(topology: Topology) -> None:
    deadline = time.monotonic() + PORT_FORWARDING_TIMEOUT
    pending = {(b.netns, b.ifname): {p.ifname for p in b.ports} for b in topology.bridges}
    while pending:
        for (ns, br), ports in list(pending.items()):
            ports -= iproute.forwarding_ports(ns, br)
            if not ports:
                del pending[(ns, br)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabBuildError(f"bridge ports not forwarding after {PORT_FORWARDING_TIMEOUT}"
                                f" s: {sorted((ns, sorted(p)) for (ns, _), p in pending.items())}")
        time.sleep(0.02)
