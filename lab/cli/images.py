"""`interlink-lab images [build [--force]]`: the lab's node image, built without a registry."""

from __future__ import annotations

from typing import Any

import click

from lab.cli.output import echo_json, echo_table, json_option
from lab.control.labdir import LabError
from lab.dataplane.state import state_root


def _client(progress: Any = None) -> Any:
    from lab.dataplane.docker import engine

    try:
        return engine.connect(state_root(), progress)
    except engine.EngineError as exc:
        raise LabError(str(exc)) from None


@click.group("images", invoke_without_command=True)
@json_option
@click.pass_context
def images(ctx: click.Context, as_json: bool) -> None:
    """The lab's images on the Docker engine (the node image every container runs, and its
    Debian base); `images build` builds what is missing."""
    if ctx.invoked_subcommand is not None:
        return
    from lab.dataplane.docker import images as built

    found = built.lab_images(_client())
    if as_json:
        echo_json({"images": found, "wanted": built.node_image_ref()})
        return
    echo_table(("IMAGE", "ID", "SIZE", "CREATED", "CURRENT"),
               ([i["ref"], i["id"], f"{i['size_mb']} MB", i["created"][:19],
                 "yes" if i["current"] else "no"] for i in found),
               empty=f"no lab image: `interlink-lab images build` makes "
                     f"{built.node_image_ref()}")


@images.command("build")
@click.option("--force", is_flag=True, help="Rebuild from debootstrap even if up to date.")
@json_option
def build(force: bool, as_json: bool) -> None:
    """Build the node image where its inputs changed (debootstrap, docker import, docker
    build --network host); progress on stderr."""
    import time

    from lab.dataplane.docker import images as built

    def progress(msg: str) -> None:
        click.echo(f"[images] {msg}", err=True)

    client = _client(progress)
    t0 = time.monotonic()
    try:
        if force:
            ref = built.build(client, state_root() / "images", progress, force=True)
        else:
            ref = built.ensure(client, state_root() / "images", progress)
    except built.ImageError as exc:
        raise LabError(str(exc)) from None
    if as_json:
        echo_json({"image": ref, "seconds": round(time.monotonic() - t0, 3)})
        return
    click.echo(f"{ref} ready ({time.monotonic() - t0:.1f}s)")
