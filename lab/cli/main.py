"""`interlink-lab`: the command line of the lab (one verb per module of this package)."""

from __future__ import annotations

import sys
from typing import Any

import click
from click.core import ParameterSource

from lab.cli.common import EXIT_INTERRUPTED, PROG, CliError
from lab.control.client import ApiError
from lab.control.labdir import DEFAULT_LAB, LabError, check_lab_name


class LabGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        # Subcommands (and nested groups) run inside this call: one place maps our errors.
        try:
            return super().invoke(ctx)
        except (LabError, ApiError) as exc:
            raise CliError(str(exc)) from exc
        except KeyboardInterrupt:
            lab = (ctx.obj or {}).get("lab", DEFAULT_LAB)
            hint = ""
            if ctx.invoked_subcommand == "up":  # `up` takes down what it built, unless cut
                hint = f"; if anything is left, `{PROG} --lab {lab} down` removes it"
            click.echo(f"{PROG}: interrupted{hint}", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _checked_lab(value: str) -> str:
    try:
        return check_lab_name(value)
    except LabError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(cls=LabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--lab", envvar="ILAB_LAB", default=DEFAULT_LAB, show_default=True,
              help="Name of the lab (env ILAB_LAB); before or after the verb.")
@click.pass_context
def cli(ctx: click.Context, lab: str) -> None:
    """Emulated Scaleway InterLink with real BGP speakers in network namespaces."""
    source = ctx.get_parameter_source("lab")
    ctx.obj = {"lab": _checked_lab(lab), "client": None,
               # Named by the user (option or ILAB_LAB), not the default: `run` uses it then.
               "lab_given": source is not None and source != ParameterSource.DEFAULT}


def _verb_lab(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:  # `VERB --lab X` wins over `--lab Y VERB` and ILAB_LAB
        obj = ctx.find_root().obj
        obj["lab"], obj["lab_given"] = _checked_lab(value), True


def _accept_lab_anywhere(cmd: click.Command) -> None:
    """Give every verb (and sub-verb) the global --lab too, so it may follow the verb."""
    if not any(p.name == "lab" for p in cmd.params):
        cmd.params.append(click.Option(
            ["--lab"], default=None, expose_value=False, callback=_verb_lab,
            help="Name of the lab (also before the verb; env ILAB_LAB)."))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _accept_lab_anywhere(sub)


def _register() -> None:
    from lab.cli.attach import attach
    from lab.cli.capture import capture
    from lab.cli.controller import controller
    from lab.cli.customer import customer
    from lab.cli.down import down
    from lab.cli.events import events
    from lab.cli.exec import exec_
    from lab.cli.export import export
    from lab.cli.fault import fault
    from lab.cli.images import images
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
                events, exec_, capture, controller, run, validate, partner, export, attach,
                images):
        _accept_lab_anywhere(cmd)
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
    except KeyboardInterrupt:  # before a verb runs (LabGroup handles the rest)
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
