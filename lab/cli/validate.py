"""`interlink-lab validate FILE...`: check scenario files without running anything."""

from __future__ import annotations

import sys

import click

from lab.routers import registry
from lab.scenario import file as scenario_file
from lab.scenario.parse import resolve_scenario_path

EXIT_INVALID = 2


@click.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only (no notes, no OK lines).")
def validate(files: tuple[str, ...], quiet: bool) -> None:
    """Check scenario FILES (paths or shipped names) against the schema, their references
    (links, policies, VPCs, nodes, waits) and the topology rules, without running them.

    Errors are printed as FILE:LINE:COL: message. Exit 0 if every file is valid, 2 if not.
    """
    invalid = 0
    for f in files:
        issues = scenario_file.validate(f, registry.names())
        errors = [i for i in issues if i.severity == "error"]
        for i in issues:
            if i.severity == "error" or not quiet:
                click.echo(str(i), err=i.severity == "error")
        if errors:
            invalid += 1
        elif not quiet:
            click.echo(f"{resolve_scenario_path(f)}: OK")
    if invalid:
        click.echo(f"{invalid} of {len(files)} file(s) invalid", err=True)
        sys.exit(EXIT_INVALID)
