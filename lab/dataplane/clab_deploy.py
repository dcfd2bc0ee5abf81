"""Deploy a containerlab topology (``lab.scenario.containerlab.ClabTopology``) with any node
runtime, as containerlab would, and destroy it (I/O).

Order: every node through the runtime (image, labels, binds from the file), then the veth
pairs of ``links``, each end created directly inside its namespace (``ip -n A link add X
type veth peer name Y netns B``: nothing is created in the root namespace, unlike
containerlab, which makes them there and moves them), links and loopbacks up, then each
node's ``exec`` commands in order (nodes in parallel). ``ip`` commands run as the host's
``ip`` inside the node's namespace (``run_tool``: the node's image needs no iproute2), the
others as the node's own programs (``run``). As containerlab does, a failing ``exec`` does
not fail the deploy: it is in ``DeployReport.failures`` (node, command, stderr) for the
caller to judge. A failure before that removes the nodes this call created.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab.dataplane import iproute
from lab.dataplane.iproute import IprouteError
from lab.dataplane.nodes.base import Mount, NodeError, NodeOptions, NodeRuntime, RemoveReport
from lab.scenario.containerlab import ClabLink, ClabNode, ClabTopology

EXEC_TIMEOUT = 30.0
EXEC_WORKERS = 8


class ClabDeployError(RuntimeError):
    """The nodes or links could not be made; what this deploy had created was removed."""


@dataclass(frozen=True)
class ExecFailure:
    node: str
    command: str
    returncode: int  # -1: could not be run at all
    stderr: str

    def __str__(self) -> str:
        how = "could not run" if self.returncode < 0 else f"exited {self.returncode}"
        return f"node {self.node}: `{self.command}` {how}: {self.stderr.strip() or '-'}"


@dataclass(frozen=True)
class DeployReport:
    lab: str
    handles: tuple[str, ...]  # the nodes created, in the file's order
    links: int  # veth pairs created
    commands: int  # exec commands run
    failures: tuple[ExecFailure, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures


def deploy(clab: ClabTopology, nodes: NodeRuntime) -> DeployReport:
    """Create ``clab``'s nodes and links with ``nodes``, then run their ``exec``."""
    t0 = time.perf_counter()
    handles = {n.name: nodes.handle(clab.name, n.name) for n in clab.nodes}
    taken = [h for h in handles.values() if nodes.exists(h)]
    if taken:
        raise ClabDeployError(f"nodes already exist: {', '.join(taken)} (lab {clab.name!r} "
                              "deployed already? destroy it first)")
    missing = [f"node {n.name}: {b.source}" for n in clab.nodes for b in n.binds
               if not os.path.exists(b.source)]
    if missing:
        raise ClabDeployError(f"bind sources do not exist: {'; '.join(missing)}")
    options = {handles[n.name]: _options(n) for n in clab.nodes}
    created: list[str] = []
    try:
        try:
            nodes.create(list(handles.values()), options)
        finally:
            created = [h for h in handles.values() if nodes.exists(h)]
        iproute.batches(_veth_lines(clab, handles), "creating veth pairs from")
        iproute.batches(_up_lines(clab, handles), "bringing links up in")
    except (NodeError, IprouteError, OSError) as e:
        _remove_quietly(nodes, created, e)
        raise ClabDeployError(f"deploying lab {clab.name!r}: {e}") from e
    except BaseException as e:
        _remove_quietly(nodes, created, e)
        raise

    with ThreadPoolExecutor(max_workers=EXEC_WORKERS) as pool:
        results = list(pool.map(lambda n: _run_exec(nodes, handles[n.name], n), clab.nodes))
    failures = tuple(f for per_node in results for f in per_node)
    return DeployReport(lab=clab.name, handles=tuple(handles.values()), links=len(clab.links),
                        commands=sum(len(n.exec) for n in clab.nodes), failures=failures,
                        seconds=time.perf_counter() - t0)


def destroy(name: str, nodes: NodeRuntime, grace: float = 1.0) -> RemoveReport:
    """Remove every node of lab ``name`` (their veths go with them)."""
    return nodes.remove(nodes.lab_nodes(name), grace=grace)


def _options(n: ClabNode) -> NodeOptions:
    # NodeOptions has no bind mode: a ":ro" bind is bound as the runtime binds (see report).
    return NodeOptions(role=n.role, image=n.image, labels=n.labels,
                       binds=tuple(Mount(Path(b.source), b.target) for b in n.binds))


def _link_add(lk: ClabLink, peer_netns: str) -> str:
    mtu = f" mtu {lk.mtu}" if lk.mtu else ""
    return (f"link add {lk.a.iface}{mtu} type veth peer name {lk.b.iface}{mtu} "
            f"netns {peer_netns}")


def _veth_lines(clab: ClabTopology, handles: dict[str, str]) -> dict[str, list[str]]:
    """Per namespace of each link's first end: the lines creating its pairs there."""
    out: dict[str, list[str]] = {}
    for lk in clab.links:
        out.setdefault(handles[lk.a.node], []).append(_link_add(lk, handles[lk.b.node]))
    return out


def _up_lines(clab: ClabTopology, handles: dict[str, str]) -> dict[str, list[str]]:
    out = {h: ["link set lo up"] for h in handles.values()}
    for lk in clab.links:
        for e in (lk.a, lk.b):
            out[handles[e.node]].append(f"link set dev {e.iface} up")
    return out


def _run_exec(nodes: NodeRuntime, handle: str, node: ClabNode) -> list[ExecFailure]:
    failures = []
    for command, argv in zip(node.exec, node.exec_argv(), strict=True):
        run = nodes.run_tool if argv[0] == "ip" else nodes.run
        try:
            cp = run(handle, argv, timeout=EXEC_TIMEOUT)
        except NodeError as e:
            failures.append(ExecFailure(node.name, command, -1, str(e)))
            continue
        if cp.returncode:
            failures.append(ExecFailure(node.name, command, cp.returncode,
                                        cp.stderr or cp.stdout))
    return failures


def _remove_quietly(nodes: NodeRuntime, handles: list[str], error: BaseException) -> None:
    if not handles:
        return
    try:
        nodes.remove(handles)
    except Exception as te:  # keep the original error, mention this one
        error.add_note(f"removing the nodes created by the failed deploy also failed: {te}")
