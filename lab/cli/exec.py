"""`interlink-lab exec NODE -- CMD...`: run a command inside a node of the lab."""

from __future__ import annotations

import contextlib
import os

import click

from lab.cli.common import lab_name
from lab.control.labdir import LabError, lab_dir, read_json
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import NodeError, NodeRuntime


def lab_runtime(lab: str) -> str:
    """The runtime a lab's nodes are of (lab.json; the default for a lab that is not up)."""
    with contextlib.suppress(OSError, ValueError, LabError):
        rt = read_json(lab_dir(lab) / "lab.json").get("runtime")
        if rt in ("netns", "docker"):
            return str(rt)
    return "netns"


def find_node(lab: str, node: str) -> tuple[NodeRuntime, str]:
    """The runtime and handle of the lab's ``node``; LabError naming the nodes there are."""
    nodes = runtime(lab_runtime(lab))
    handle = nodes.handle(lab, node)
    if not nodes.exists(handle):
        prefix = nodes.handle(lab, "")
        names = [h[len(prefix):] for h in nodes.lab_nodes(lab)]
        known = ", ".join(names) if names else f"none: is lab {lab} up?"
        raise LabError(f"no node {node!r} in lab {lab} (nodes: {known})")
    return nodes, handle


@click.command("exec", context_settings={"ignore_unknown_options": True,
                                         "allow_interspersed_args": False})
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx: click.Context, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND (default: a shell) in NODE's namespace; its exit code is passed through."""
    lab = lab_name(ctx)
    nodes, handle = find_node(lab, node)
    argv = list(command)
    if argv[:1] == ["--"]:  # click keeps "--" once it stopped parsing options at NODE
        argv = argv[1:]
    argv = argv or [os.environ.get("SHELL", "/bin/sh")]
    try:
        rc = nodes.attach(handle, argv)
    except NodeError as e:
        raise LabError(str(e)) from None
    except KeyboardInterrupt:
        rc = 130
    # A command killed by signal N exits 128+N, as in a shell.
    ctx.exit(rc if rc >= 0 else 128 - rc)
