"""`interlink-lab attach --containerlab LAB`: the controller adopts a deployed topology."""

from __future__ import annotations

import click

from lab.control import lifecycle


@click.command("attach")
@click.option("--containerlab", "clab_lab", required=True, metavar="LAB",
              help="The containerlab lab (its `name:`) whose running containers to adopt: "
                   "deployed from a file of `interlink-lab export containerlab`.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds to wait for the links and the traffic.")
def attach(clab_lab: str, timeout: float) -> None:
    """Adopt the running nodes of a containerlab topology (clab-LAB-*): add what the file
    cannot say (VLAN emulation, the partner's switch, sysctls), start the controller and
    drive the Scaleway side. `interlink-lab --lab LAB down` stops it and removes the nodes."""

    def progress(msg: str) -> None:
        click.echo(f"[{clab_lab}] {msg}...", err=True)

    result = lifecycle.attach(clab_lab, timeout=timeout, progress=progress)
    click.echo(f"[{clab_lab}] attached in {max(result.timings.values()):.2f}s, "
               f"API {result.url}", err=True)
