"""`interlink-lab graph [SCENARIO] [--format mermaid|dot|svg|html] [-o FILE] [--url]`: the
topology as a picture (lab.scenario.graph). Without SCENARIO, the running lab's, with each
InterLink coloured by its status and each BGP session by its state (the controller's
``/lab/v1/graph``); with one, that scenario as it would be built, without status."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import click

from lab.cli.common import CliError, get_client, lab_name
from lab.cli.output import echo_json, json_option
from lab.control import lifecycle
from lab.daemon import graph_page
from lab.scenario import graph as picture
from lab.scenario.addressing import build_topology
from lab.scenario.model import ScenarioError

DOT_TIMEOUT_S = 30


def svg(dot_text: str) -> str:
    """Graphviz lays the dot text out: ``dot -Tsvg``."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise CliError("the svg format needs Graphviz's `dot`: `apt-get install graphviz` "
                       "(`make setup` installs it), or use --format dot|mermaid|html") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CliError(f"dot -Tsvg failed (exit {done.returncode}): {last}")
    return done.stdout


def model_of(ctx: click.Context, scenario: str | None) -> dict[str, Any]:
    if scenario is None:
        data: dict[str, Any] = get_client(ctx).get("/lab/v1/graph")
        return data
    spec = lifecycle.load_checked(scenario)
    try:
        topology = build_topology(spec, lab_name(ctx))
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    return picture.to_json(picture.build_graph(topology))


def render(model: dict[str, Any], fmt: str) -> str:
    if fmt not in picture.FORMATS:
        raise CliError(f"unknown graph format {fmt!r}: one of {', '.join(picture.FORMATS)}")
    if fmt == "html":
        try:
            return graph_page.static_page(model)
        except graph_page.AssetsMissing as exc:
            raise CliError(str(exc)) from None
    graph = picture.from_json(model)
    if fmt == "mermaid":
        return picture.mermaid(graph)
    text = picture.dot(graph)
    return svg(text) if fmt == "svg" else text


@click.command("graph")
@click.argument("scenario", required=False)
@click.option("--format", "fmt", default="mermaid", show_default=True, metavar="FORMAT",
              help=f"One of {', '.join(picture.FORMATS)} (svg needs Graphviz's dot; html is "
                   "one self-contained file).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              default="-", show_default=True, help="Output file ('-': standard output).")
@click.option("--url", is_flag=True,
              help="Print the address of the running lab's live page (it carries the token) "
                   "and exit.")
@json_option
@click.pass_context
def graph(ctx: click.Context, scenario: str | None, fmt: str, output: str, url: bool,
          as_json: bool) -> None:
    """The topology: nodes, wires, VLANs, addresses, ASNs, each InterLink coloured by its
    status and each BGP session by its state (green up/active, orange limited, red down,
    grey otherwise). SCENARIO (a shipped name or a YAML file) draws that scenario instead
    of the running lab, without status. The controller also serves the live page:
    `interlink-lab graph --url`."""
    if fmt not in picture.FORMATS:  # before anything is fetched
        raise CliError(f"unknown graph format {fmt!r}: one of {', '.join(picture.FORMATS)}")
    if url:
        if scenario is not None:
            raise CliError("--url is the running lab's page: give no SCENARIO")
        client = get_client(ctx)
        click.echo(f"{client.url}{graph_page.PAGE_PATH}?token={client.token}")
        return
    model = model_of(ctx, scenario)
    if as_json:
        echo_json(model)
        return
    text = render(model, fmt)
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
