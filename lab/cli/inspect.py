"""`interlink-lab inspect`: the lab's nodes (namespaces, addresses) and how to reach its API."""

from __future__ import annotations

from typing import Any

import click

from controller.core.model import DEFAULT_PROJECT_ID, DEFAULT_REGION
from lab.cli.common import get_client, lab_name
from lab.cli.output import echo_json, echo_table, json_option


@click.command("inspect")
@json_option
@click.pass_context
def inspect(ctx: click.Context, as_json: bool) -> None:
    """Nodes of the lab and the API url/token (for the Scaleway SDK or curl)."""
    client = get_client(ctx)
    got = client.get("/lab/v1/nodes")
    nodes = [{"name": n.get("name"), "netns": n.get("netns"), "role": n.get("role"),
              "addresses": list(n.get("addresses") or []),
              **{k: n[k] for k in ("runtime", "running", "state", "container_id", "image")
                 if k in n},
              **({"daemons": n["daemons"]} if n.get("daemons") else {})}
             for n in got.get("nodes", [])]
    lab = got.get("lab", lab_name(ctx))
    if as_json:
        echo_json({"lab": lab, "api": {"url": client.url, "token": client.token},
                   "nodes": nodes})
        return
    click.echo(f"lab    {lab}")
    click.echo(f"api    {client.url}")
    click.echo(f"token  {client.token}")
    # The SDK wants an access key of SCW + 17 characters (any) and adds the default project
    # to list queries: the lab's resources live in DEFAULT_PROJECT_ID.
    click.echo(f"sdk    SCW_API_URL={client.url} SCW_ACCESS_KEY=SCWXXXXXXXXXXXXXXXXX "
               f"SCW_SECRET_KEY={client.token} SCW_DEFAULT_PROJECT_ID={DEFAULT_PROJECT_ID} "
               f"SCW_DEFAULT_REGION={DEFAULT_REGION}")
    click.echo()
    containers = any(n.get("container_id") or n.get("state") for n in nodes)
    head: tuple[str, ...] = ("NODE", "NETNS", "ROLE", "ADDRESSES", "DAEMONS")
    if containers:  # a container lab: which container and image each node is
        head += ("RUNTIME", "CONTAINER", "IMAGE", "STATE")
    echo_table(head, ([n["name"], n["netns"], n["role"], ", ".join(n["addresses"]) or "-",
                       daemons_cell(n.get("daemons") or []),
                       *([n.get("runtime", "-"), n.get("container_id", "-"),
                          n.get("image", "-"), n.get("state", "-")] if containers else [])]
                      for n in nodes), empty="no nodes")


def daemons_cell(daemons: list[dict[str, Any]]) -> str:
    """``bgpd up, zebra DEAD``: the node's BGP daemons, '-' for none."""
    return ", ".join(f"{d.get('name')} {'up' if d.get('running') else 'DEAD'}"
                     for d in daemons) or "-"
