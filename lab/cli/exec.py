"""`interlink-lab exec NODE -- CMD...`: run a command inside a node's network namespace."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from lab.cli.common import lab_name
from lab.control.labdir import LabError

NETNS_DIR = Path("/run/netns")


def lab_nodes(lab: str) -> list[str]:
    prefix = f"{lab}-"
    try:
        return sorted(p.name[len(prefix):] for p in NETNS_DIR.iterdir()
                      if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


@click.command("exec", context_settings={"ignore_unknown_options": True,
                                         "allow_interspersed_args": False})
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx: click.Context, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND (default: a shell) in NODE's namespace; its exit code is passed through."""
    lab = lab_name(ctx)
    netns = f"{lab}-{node}"
    if not (NETNS_DIR / netns).exists():
        nodes = lab_nodes(lab)
        known = ", ".join(nodes) if nodes else f"none: is lab {lab} up?"
        raise LabError(f"no node {node!r} in lab {lab} (nodes: {known})")
    argv = list(command)
    if argv[:1] == ["--"]:  # click keeps "--" once it stopped parsing options at NODE
        argv = argv[1:]
    argv = argv or [os.environ.get("SHELL", "/bin/sh")]
    try:
        rc = subprocess.run(["ip", "netns", "exec", netns, *argv], check=False).returncode
    except FileNotFoundError:
        raise LabError("`ip` (iproute2) is not installed") from None
    except KeyboardInterrupt:
        rc = 130
    # A command killed by signal N exits 128+N, as in a shell.
    ctx.exit(rc if rc >= 0 else 128 - rc)
