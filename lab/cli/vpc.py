"""`interlink-lab vpc ...`: the lab's VPCs and attaching them to links."""

from __future__ import annotations

from typing import Any

import click

from lab.cli.common import get_client, link_summary, policy_names
from lab.cli.output import echo_json, echo_table, json_option


@click.group("vpc")
def vpc() -> None:
    """VPCs: list, attach to a link, detach from a link."""


def _subnets(pn: dict[str, Any]) -> list[str]:
    # VPC v2 gives subnet objects ({"subnet": CIDR, ...}); plain strings are accepted too.
    return [s["subnet"] if isinstance(s, dict) else str(s) for s in pn.get("subnets") or []]


@vpc.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """VPCs with their private networks (subnets) and the links attached to them."""
    client = get_client(ctx)
    vpcs = client.vpcs()
    pns = client.private_networks()
    if as_json:
        echo_json([{**v, "private_networks": [pn for pn in pns if pn.get("vpc_id") == v["id"]]}
                   for v in vpcs])
        return
    links: dict[str, list[str]] = {}
    for lk in client.links():
        if lk.get("vpc_id"):
            links.setdefault(lk["vpc_id"], []).append(lk["name"])
    rows = []
    for v in vpcs:
        nets = [f"{pn['name']}:{'+'.join(_subnets(pn))}" for pn in pns
                if pn.get("vpc_id") == v["id"]]
        rows.append([v["name"], v["id"][:8], ", ".join(nets) or "-", links.get(v["id"])])
    echo_table(("NAME", "ID", "PRIVATE NETWORKS", "LINKS"), rows, empty="no VPCs")


@vpc.command("attach")
@click.argument("vpc_ref", metavar="VPC")
@click.option("--link", "link_ref", metavar="LINK", help="Default: the lab's only link.")
@json_option
@click.pass_context
def attach(ctx: click.Context, vpc_ref: str, link_ref: str | None, as_json: bool) -> None:
    """Attach VPC (id or name) to a link."""
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.link_action(link["id"], "attach-vpc", {"vpc_id": client.vpc(vpc_ref)["id"]})
    if as_json:
        echo_json(got)
        return
    click.echo(link_summary(got, policy_names(client)))


@vpc.command("detach")
@click.option("--link", "link_ref", metavar="LINK", help="Default: the lab's only link.")
@json_option
@click.pass_context
def detach(ctx: click.Context, link_ref: str | None, as_json: bool) -> None:
    """Detach the VPC of a link (also turns route propagation off)."""
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.link_action(link["id"], "detach-vpc")
    if as_json:
        echo_json(got)
        return
    click.echo(link_summary(got, policy_names(client)))
