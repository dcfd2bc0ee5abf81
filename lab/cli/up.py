"""`interlink-lab up [SCENARIO]`: build the lab, start its controller, wait for `active`."""

from __future__ import annotations

import json
import sys

import click

from lab.control import lifecycle
from lab.routers import registry
from lab.scenario.model import RUNTIME_NAMES


@click.command("up")
@click.argument("scenario", default="basic")
@click.option("--hold-time", type=int, default=None,
              help="BGP hold time in seconds: 0 (no keepalives) or 3..65535 (default: the "
                   "scenario's, else 9).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True,
              help="Seconds to wait for the links to be active and traffic to flow (the "
                   "controller's start-up has its own limit).")
@click.option("--router", type=click.Choice(registry.names()), default=None,
              help="Every customer router on this kind, whatever the scenario says.")
@click.option("--runtime", "runtime_name", type=click.Choice(RUNTIME_NAMES), default=None,
              help="What the nodes are: network namespaces (netns, the default), Docker "
                   "containers (docker: images built by `make images` where missing), or "
                   "containerlab (needs its binary); default: the scenario's `runtime:`.")
@click.option("--json", "as_json", is_flag=True, help="Print timings and the API as JSON.")
@click.pass_context
def up(ctx: click.Context, scenario: str, hold_time: int | None, timeout: float,
       router: str | None, runtime_name: str | None, as_json: bool) -> None:
    """Bring up a lab from SCENARIO (a shipped name such as `basic`, or a YAML file)."""
    lab = ctx.obj["lab"]
    if lifecycle.is_containerlab_file(scenario):  # the file names its lab
        lab = ctx.obj["lab"] = lifecycle.containerlab_lab(scenario)

    def progress(msg: str) -> None:
        if not as_json:
            click.echo(f"[{lab}] {msg}...", err=True)

    result = lifecycle.up(scenario, lab=lab, hold_time=hold_time, timeout=timeout,
                          progress=progress, router=router, runtime_name=runtime_name)
    if as_json:
        json.dump({"lab": lab, "url": result.url, "timings": result.timings}, sys.stdout,
                  indent=2, sort_keys=True)
        click.echo()
        return
    # The last stage reached: "traffic", or "controller" for a `ready: false` scenario.
    click.echo(f"[{lab}] up in {max(result.timings.values()):.2f}s, API {result.url}",
               err=True)
    from lab.cli.status import status

    ctx.invoke(status, as_json=False)
