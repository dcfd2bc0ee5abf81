"""`interlink-lab partner approve|refuse|expire [LINK]`: play the partner of a hosted link.

A new hosted link waits in ``requested`` until its partner answers the pairing key; in the
lab nobody else will. LINK is a link id, name or id prefix, or a pairing key; default: the
lab's only link.
"""

from __future__ import annotations

from typing import Any

import click

from lab.cli.common import get_client, link_summary, policy_names
from lab.cli.output import echo_json, json_option
from lab.control.client import Client
from lab.control.labdir import LabError


def _hosted_link(client: Client, ref: str | None) -> dict[str, Any]:
    if ref:
        for lk in client.links():
            if (lk.get("partner") or {}).get("pairing_key") == ref:
                return lk
    link = client.default_link(ref)
    if not (link.get("partner") or {}).get("pairing_key"):
        raise LabError(f"link {link.get('name')} is self-hosted: it has no partner")
    return link


def _show(client: Client, got: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(got)
        return
    click.echo(link_summary(got, policy_names(client)))


@click.group("partner")
def partner() -> None:
    """The partner's side of hosted links: approve, refuse, let expire."""


@partner.command("approve")
@click.argument("link_ref", metavar="[LINK|PAIRING_KEY]", required=False)
@json_option
@click.pass_context
def approve(ctx: click.Context, link_ref: str | None, as_json: bool) -> None:
    """Accept the link's pairing key: requested -> provisioning."""
    client = get_client(ctx)
    key = _hosted_link(client, link_ref)["partner"]["pairing_key"]
    _show(client, client.post("/lab/v1/partner/approve", {"pairing_key": key}), as_json)


@partner.command("refuse")
@click.argument("link_ref", metavar="[LINK|PAIRING_KEY]", required=False)
@click.option("--reason", default="refused by the partner", show_default=True,
              help="Shown in the link's partner.disapproved_reason.")
@json_option
@click.pass_context
def refuse(ctx: click.Context, link_ref: str | None, reason: str, as_json: bool) -> None:
    """Refuse the link's pairing key: requested -> refused (terminal)."""
    client = get_client(ctx)
    key = _hosted_link(client, link_ref)["partner"]["pairing_key"]
    got = client.post("/lab/v1/partner/refuse", {"pairing_key": key, "reason": reason})
    _show(client, got, as_json)


@partner.command("expire")
@click.argument("link_ref", metavar="[LINK|PAIRING_KEY]", required=False)
@json_option
@click.pass_context
def expire(ctx: click.Context, link_ref: str | None, as_json: bool) -> None:
    """Let the request expire unanswered: requested -> expired (terminal)."""
    client = get_client(ctx)
    link = _hosted_link(client, link_ref)
    _show(client, client.post(f"/lab/v1/links/{link['id']}/expire"), as_json)
