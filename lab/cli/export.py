"""`interlink-lab export containerlab [SCENARIO] [-o FILE]`: the lab as a containerlab
topology (lab.scenario.containerlab), for `containerlab deploy` or `up --runtime docker`."""

from __future__ import annotations

from pathlib import Path

import click

from lab.cli.common import CliError, lab_name
from lab.control import lifecycle
from lab.scenario import containerlab
from lab.scenario.addressing import build_topology
from lab.scenario.model import SCENARIO_DIR, ScenarioError
from lab.scenario.parse import resolve_scenario_path


def default_image() -> str:
    """The node image an exported file names unless --image says otherwise: the one `make
    images` builds from the current inputs (its tag is their hash)."""
    from lab.dataplane.docker.images import node_image_ref

    return node_image_ref()


def scenario_ref(scenario: str) -> str:
    """What the file records for a later attach: a shipped scenario's name, else the
    file's absolute path (a relative one would mean another file from elsewhere)."""
    path = resolve_scenario_path(scenario).resolve()
    if path.parent == SCENARIO_DIR.resolve() and path.suffix == ".yaml":
        return path.stem
    return str(path)


def render(scenario: str, lab: str, image: str) -> str:
    """The containerlab file of SCENARIO built as lab ``lab`` (LabError if invalid)."""
    spec = lifecycle.load_checked(scenario)
    try:
        topology = build_topology(spec, lab)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    return containerlab.render(topology, scenario_ref(scenario), image)


@click.group("export")
def export() -> None:
    """Write the lab in another tool's format."""


@export.command("containerlab")
@click.argument("scenario", default="basic")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              default="-", show_default=True, help="Output file ('-': standard output).")
@click.option("--image", default=None,
              help="Node image of every node (default: the lab's node image).")
@click.pass_context
def export_containerlab(ctx: click.Context, scenario: str, output: str,
                        image: str | None) -> None:
    """The containerlab topology of SCENARIO (a shipped name or a YAML file) as lab --lab:
    linux nodes without management network, one link per veth pair, addresses and static
    routes as `exec`. VLANs, the partner's switch and sysctls are added by
    `interlink-lab attach --containerlab LAB` after `containerlab deploy`."""
    text = render(scenario, lab_name(ctx), image or default_image())
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
