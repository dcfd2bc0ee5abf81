"""`interlink-lab`: the command line of the lab (one verb per module of this package)."""

from __future__ import annotations

import sys
from typing import Any

import click

from lab.cli.common import PROG, CliError
from lab.control.client import ApiError
from lab.control.labdir import DEFAULT_LAB, LabError, check_lab_name


class LabGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Subcommands (and nested groups) run inside this call: one place maps our errors.
        try:
            return super().invoke(ctx)
        except (LabError, ApiError) as exc:
            raise CliError(str(exc)) from exc


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lab", envvar="ILAB_LAB", default=DEFAULT_LAB, show_default=True,
              help="Name of the lab (env ILAB_LAB).")
@click.pass_context
def cli(ctx: click.Context, lab: str) -> None:
    """Emulated Scaleway InterLink with real BGP speakers in network namespaces."""
    ctx.obj = {"lab": check_lab_name(lab), "client": None}


def _register() -> None:
    from lab.cli.controller import controller
    from lab.cli.customer import customer
    from lab.cli.down import down
    from lab.cli.events import events
    from lab.cli.exec import exec_
    from lab.cli.fault import fault
    from lab.cli.inspect import inspect
    from lab.cli.partner import partner
    from lab.cli.policy import policy
    from lab.cli.propagation import propagation
    from lab.cli.routes import routes
    from lab.cli.run import run
    from lab.cli.status import status
    from lab.cli.up import up
    from lab.cli.validate import validate
    from lab.cli.vpc import vpc

    for cmd in (up, down, status, inspect, routes, policy, propagation, vpc, customer, fault,
                events, exec_, controller, run, validate, partner):
        cli.add_command(cmd)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name=PROG)
    except (LabError, ApiError) as exc:  # raised outside a command (should not happen)
        click.echo(f"{PROG}: error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:  # `interlink-lab status | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
