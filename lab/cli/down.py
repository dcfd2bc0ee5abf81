"""`interlink-lab down`: remove every trace of the lab (processes, namespaces, state)."""

from __future__ import annotations

import click

from lab.control.down import down as take_down


@click.command("down")
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the lab's controller and speakers and delete its namespaces."""
    lab = ctx.obj["lab"]
    result = take_down(lab)
    if not result.removed_namespaces and not result.killed:
        click.echo(f"[{lab}] nothing to remove: the lab was not up", err=True)
        return
    click.echo(f"[{lab}] removed {len(result.removed_namespaces)} namespaces, "
               f"stopped {len(result.killed)} processes", err=True)
