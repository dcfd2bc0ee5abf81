"""`interlink-lab routes [NODE]`: kernel routes of the lab's namespaces."""

from __future__ import annotations

from typing import Any

import click

from lab.cli.common import get_client
from lab.cli.output import echo_json, echo_table, json_option


def _by_node(got: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    routes = got.get("routes", {})
    if isinstance(routes, list):  # a flat list with a "node" key also works
        out: dict[str, list[dict[str, Any]]] = {}
        for r in routes:
            out.setdefault(str(r.get("node")), []).append(r)
        return out
    return dict(routes)


@click.command("routes")
@click.argument("node", required=False)
@json_option
@click.pass_context
def routes(ctx: click.Context, node: str | None, as_json: bool) -> None:
    """Routes of NODE (default: every node): prefix, gateway, device, protocol."""
    got = get_client(ctx).get("/lab/v1/routes", {"node": node} if node else None)
    if as_json:
        echo_json(got)
        return
    rows = [[name, r.get("prefix"), r.get("via"), r.get("dev"), r.get("proto")]
            for name, rs in _by_node(got).items() for r in rs]
    echo_table(("NODE", "PREFIX", "VIA", "DEV", "PROTO"), rows, empty="no routes")
