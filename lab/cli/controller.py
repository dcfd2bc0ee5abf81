"""`interlink-lab controller start|stop|restart`: the lab's controller daemon alone.

Stopping or killing the controller leaves the namespaces and BGP speakers running; starting
it again resumes from the lab's SQLite store and the speakers' replayed state.
"""

from __future__ import annotations

import click

from lab.control import lifecycle


@click.group("controller")
def controller() -> None:
    """Start, stop or restart the lab's controller daemon."""


@controller.command("start")
@click.pass_context
def start(ctx: click.Context) -> None:
    """Start the controller of a lab whose namespaces are up."""
    info = lifecycle.start_controller(ctx.obj["lab"])
    click.echo(f"[{ctx.obj['lab']}] controller running (pid {info['pid']}), API {info['url']}",
               err=True)


@controller.command("stop")
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the controller; the data plane and BGP sessions keep running."""
    if not lifecycle.stop_controller(ctx.obj["lab"]):
        click.echo(f"[{ctx.obj['lab']}] the controller was not running", err=True)


@controller.command("restart")
@click.pass_context
def restart(ctx: click.Context) -> None:
    """Stop (if running) and start the controller."""
    lifecycle.stop_controller(ctx.obj["lab"])
    ctx.invoke(start)
