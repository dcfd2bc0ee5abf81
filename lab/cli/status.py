"""`interlink-lab status`: one line per link, with route counters from /links/{id}/stats."""

from __future__ import annotations

from typing import Any

import click

from lab.cli.common import get_client, policy_names
from lab.cli.output import echo_json, echo_table, json_option
from lab.control.client import ApiError, Client

HEADERS = ("LINK", "ID", "STATUS", "BGP V4", "BGP V6", "VPC", "POLICY V4", "POLICY V6",
           "PROPAGATION", "ACC V4/V6", "REJ V4/V6", "ADV V4/V6")


def _stats(client: Client, link_id: str) -> dict[str, Any] | None:
    try:
        return client.link_stats(link_id)
    except ApiError as exc:
        if exc.status == 404:  # deleted meanwhile
            return None
        raise


def _counter(stats: dict[str, Any] | None, key: str) -> str:
    if stats is None:
        return "-"
    return "/".join(str((stats.get(fam) or {}).get(key, "-")) for fam in ("ipv4", "ipv6"))


def customer_whys(client: Client) -> dict[tuple[str, str], str]:
    """(link name, family) -> why the customer router's session is not up, one line
    (lab.routers.diagnose); {} when the lab cannot tell."""
    try:
        data = client.get("/lab/v1/customer/diagnosis")
    except ApiError:
        return {}
    out = {}
    for c in data.get("customers") or []:
        for s in c.get("sessions") or []:
            if s.get("state") != "up" and s.get("why"):
                out[(str(s.get("link")), str(s.get("family")))] = f"{c.get('node')}: {s['why']}"
    return out


def link_rows(client: Client, links: list[dict[str, Any]],
              notes: list[str] | None = None) -> list[list[Any]]:
    """Table rows; ``notes`` collects why enabled sessions are down, when the lab knows:
    the customer router's diagnosis first, else what Scaleway's side saw."""
    policies = policy_names(client)
    vpcs = {v["id"]: v["name"] for v in client.vpcs()}
    whys = customer_whys(client) if notes is not None else {}
    rows = []
    for lk in links:
        st = _stats(client, lk["id"])
        for fam in ("ipv4", "ipv6"):
            reason = whys.get((str(lk.get("name")), fam)) or \
                ((st or {}).get(fam) or {}).get("reason")
            if notes is not None and reason and lk.get(f"bgp_v{fam[-1]}_status") == "down":
                notes.append(f"{lk.get('name')} {fam} down: {reason}")
        rows.append([
            lk.get("name"), str(lk.get("id", ""))[:8], lk.get("status"),
            lk.get("bgp_v4_status"), lk.get("bgp_v6_status"),
            vpcs.get(lk.get("vpc_id", ""), lk.get("vpc_id")),
            policies.get(lk.get("routing_policy_v4_id", ""), lk.get("routing_policy_v4_id")),
            policies.get(lk.get("routing_policy_v6_id", ""), lk.get("routing_policy_v6_id")),
            "on" if lk.get("enable_route_propagation") else "off",
            _counter(st, "accepted"), _counter(st, "rejected"), _counter(st, "advertised"),
        ])
    return rows


@click.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Links of the lab: status, BGP sessions, VPC, policies, route counters."""
    client = get_client(ctx)
    links = client.links()
    if as_json:
        echo_json(links)
        return
    notes: list[str] = []
    echo_table(HEADERS, link_rows(client, links, notes), empty="no links")
    notes += daemon_notes(client.get("/lab/v1/nodes").get("nodes") or [])
    for note in notes:
        click.echo(note)


def daemon_notes(nodes: list[dict[str, Any]]) -> list[str]:
    """One line per node that is down, and per BGP daemon that is not running (a customer
    router or a speaker)."""
    out = []
    for n in nodes:
        if n.get("running") is False:  # its daemons are gone with it: one line says it all
            state = f" (container {n['state']})" if n.get("state") else ""
            out.append(f"{n.get('name')}: node is down{state}: `interlink-lab fault "
                       f"start-node {n.get('name')}` starts it again")
            continue
        for d in n.get("daemons") or []:
            if not d.get("running"):
                link = f" (link {d['link']})" if d.get("link") else ""
                out.append(f"{n.get('name')}: {d.get('name')}{link} is not running")
    return out
