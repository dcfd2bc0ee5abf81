"""`interlink-lab propagation enable|disable [LINK]`."""

from __future__ import annotations

import click

from lab.cli.common import get_client, link_summary, policy_names
from lab.cli.output import echo_json, json_option


@click.command("propagation")
@click.argument("action", type=click.Choice(["enable", "disable"]))
@click.argument("link_ref", metavar="[LINK]", required=False)
@json_option
@click.pass_context
def propagation(ctx: click.Context, action: str, link_ref: str | None, as_json: bool) -> None:
    """Turn route propagation of LINK on or off (default: the lab's only link)."""
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.link_action(link["id"], f"{action}-route-propagation")
    if as_json:
        echo_json(got)
        return
    click.echo(link_summary(got, policy_names(client)))
