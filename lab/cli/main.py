"""`interlink-lab`: the command line of the lab (one verb per module of this package)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
from click.core import ParameterSource

from lab.cli.common import EXIT_INTERRUPTED, PROG, CliError
from lab.control.labdir import DEFAULT_LAB, LabError, check_lab_name


def _ours(exc: BaseException) -> bool:
    """A LabError or the API client's ApiError (its module is loaded by then if it was
    raised: not imported at start-up)."""
    client = sys.modules.get("lab.control.client")
    return isinstance(exc, LabError) or (
        client is not None and isinstance(exc, client.ApiError))


class LabGroup(click.Group):
    """The top-level group: verbs load on first use (VERBS), our errors map to one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            if cmd_name not in VERBS:
                return None
            self.add_command(load_verb(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing from the table: `--help` imports no verb.
        limit = formatter.width - 6 - max(len(name) for name in VERBS)
        rows = [(name, _shorten(help_, limit)) for name, (_m, _a, help_) in VERBS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        # Subcommands (and nested groups) run inside this call: one place maps our errors.
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not _ours(exc):
                raise
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


# Verbs are imported when used, not at start-up: `--help` and light verbs stay fast (importing
# every verb pulls the scenario schema, the routers and Docker: ~0.35 s). The one-line helps here
# are what `--help` lists without importing; tests/unit/test_cli_lazy.py keeps them equal to the
# commands' own.
VERBS: dict[str, tuple[str, str, str]] = {
    "up": ("lab.cli.up", "up",
        'Bring up a lab from SCENARIO (a shipped name such as `basic`, or a YAML file).'),
    "down": ("lab.cli.down", "down",
        "Stop the lab's controller and speakers and delete its namespaces."),
    "status": ("lab.cli.status", "status",
        'Links of the lab: status, BGP sessions, VPC, policies, route counters.'),
    "inspect": ("lab.cli.inspect", "inspect",
        'Nodes of the lab and the API url/token (for the Scaleway SDK or curl).'),
    "routes": ("lab.cli.routes", "routes",
        'Routes of NODE (default: every node): prefix, gateway, device, protocol.'),
    "policy": ("lab.cli.policy", "policy",
        'Routing policies: list, show, create, update, delete, attach to / detach from '
        'links.'),
    "propagation": ("lab.cli.propagation", "propagation",
        "Turn route propagation of LINK on or off (default: the lab's only link)."),
    "vpc": ("lab.cli.vpc", "vpc",
        'VPCs: list, attach to a link, detach from a link.'),
    "customer": ("lab.cli.customer", "customer",
        'The customer router: announce / withdraw prefixes, see its routes.'),
    "fault": ("lab.cli.fault", "fault",
        "Cut / restore BGP sessions (packets dropped on Scaleway's side, hold timer "
        'expires).'),
    "events": ("lab.cli.events", "events",
        'Stream events until interrupted (or --count / --timeout), following the '
        'controller across restarts (it fails if the controller stays away for 30 s).'),
    "exec": ("lab.cli.exec", "exec_",
        "Run COMMAND (default: a shell) in NODE's namespace; its exit code is passed "
        'through.'),
    "capture": ("lab.cli.capture", "capture",
        'Capture packets on IFACE of NODE (default: its first 802.1Q trunk or bridge port, '
        'where VLAN tags show, else `any`) until --count, --duration or Ctrl-C.'),
    "controller": ("lab.cli.controller", "controller",
        "Start, stop or restart the lab's controller daemon."),
    "run": ("lab.cli.run", "run",
        'Run scenario FILES (paths or shipped names): bring the lab up, run the steps in '
        'order, then the checks, and tear it down.'),
    "validate": ("lab.cli.validate", "validate",
        'Check scenario FILES (paths or shipped names) against the schema, their '
        'references (links, policies, VPCs, nodes, waits) and the topology rules, without'
        ' running them.'),
    "partner": ("lab.cli.partner", "partner",
        "The partner's side of hosted links: approve, refuse, let expire."),
    "export": ("lab.cli.export", "export",
        "Write the lab in another tool's format."),
    "attach": ("lab.cli.attach", "attach",
        'Adopt the running nodes of a containerlab topology (clab-LAB-*): add what the '
        "file cannot say (VLAN emulation, the partner's switch, sysctls), start the "
        'controller and drive the Scaleway side.'),
    "images": ("lab.cli.images", "images",
        "The lab's images on the Docker engine (the node image every container runs, and "
        'its Debian base); `images build` builds what is missing.'),
    "graph": ("lab.cli.graph", "graph",
        'The topology: nodes, wires, VLANs, addresses, ASNs, each InterLink coloured by '
        'its status and each BGP session by its state (green up/active, orange limited, '
        'red down, grey otherwise).'),
}


def _accept_lab_anywhere(cmd: click.Command) -> None:
    """Give every verb (and sub-verb) the global --lab too, so it may follow the verb."""
    if not any(p.name == "lab" for p in cmd.params):
        cmd.params.append(click.Option(
            ["--lab"], default=None, expose_value=False, callback=_verb_lab,
            help="Name of the lab (also before the verb; env ILAB_LAB)."))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _accept_lab_anywhere(sub)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:max(limit - 3, 10)].rsplit(" ", 1)[0] + "..."


def load_verb(name: str) -> click.Command:
    module, attr, _help = VERBS[name]
    cmd: click.Command = getattr(importlib.import_module(module), attr)
    _accept_lab_anywhere(cmd)
    return cmd


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name=PROG)
    except Exception as exc:  # raised outside a command (should not happen)
        if not _ours(exc):
            raise
        click.echo(f"{PROG}: error: {exc}", err=True)
        sys.exit(1)
    except BrokenPipeError:  # `interlink-lab status | head`
        sys.exit(0)
    except KeyboardInterrupt:  # before a verb runs (LabGroup handles the rest)
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
