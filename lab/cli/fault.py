"""`interlink-lab fault cut|reset|restore|list`: break a link's BGP sessions on purpose.

cut --mode bgp (default): BGP packets dropped, the session dies when its hold timer expires;
cut --mode link: every packet on the link dropped (a silent circuit failure);
reset: the session is closed at once with a NOTIFICATION and kept down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lab.cli.common import get_client
from lab.cli.output import echo_json, echo_table, json_option

FAMILY = click.option("--family", type=click.Choice(["ipv4", "ipv6", "both"]), default="both",
                      show_default=True, help="Which session(s).")


@click.group("fault")
def fault() -> None:
    """Cut / restore BGP sessions (packets dropped on Scaleway's side, hold timer expires)."""


PAST = {"cut": "cut", "reset": "reset", "restore": "restored"}


def _apply(ctx: click.Context, what: str, link_ref: str | None, family: str,
           as_json: bool, **extra: str) -> None:
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.post(f"/lab/v1/faults/{what}",
                      {"link_id": link["id"], "family": family, **extra})
    if as_json:
        echo_json(got)
        return
    done = got.get(PAST[what]) or [family]
    click.echo(f"{PAST[what]} BGP {', '.join(done)} of link {link['name']}")


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _link_fault(name: str, *options: Decorator) -> Callable[[Callable[..., Any]],
                                                              click.Command]:
    """`fault NAME [LINK] --family ... [options] --json`, registered in the group."""

    def decorate(fn: Callable[..., Any]) -> click.Command:
        fn = click.pass_context(json_option(fn))
        for option in reversed(options):
            fn = option(fn)
        link_arg = click.argument("link_ref", metavar="[LINK]", required=False)
        return fault.command(name)(link_arg(FAMILY(fn)))

    return decorate


@_link_fault("cut", click.option(
    "--mode", type=click.Choice(["bgp", "link"]), default="bgp", show_default=True,
    help="bgp: drop BGP packets only; link: drop every packet on the link."))
def cut(ctx: click.Context, link_ref: str | None, family: str, mode: str,
        as_json: bool) -> None:
    """Cut the BGP session(s) of LINK (default: the lab's only link)."""
    _apply(ctx, "cut", link_ref, family, as_json, mode=mode)


@_link_fault("reset")
def reset(ctx: click.Context, link_ref: str | None, family: str, as_json: bool) -> None:
    """Close the session(s) of LINK now (NOTIFICATION) and keep them down until restore."""
    _apply(ctx, "reset", link_ref, family, as_json)


@_link_fault("restore")
def restore(ctx: click.Context, link_ref: str | None, family: str, as_json: bool) -> None:
    """Restore the BGP session(s) of LINK (default: the lab's only link)."""
    _apply(ctx, "restore", link_ref, family, as_json)


@fault.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Active faults."""
    got = get_client(ctx).get("/lab/v1/faults")
    if as_json:
        echo_json(got)
        return
    echo_table(("LINK", "FAMILY", "PEER"),
               ([f.get("link_name") or f.get("link_id"), f.get("family"), f.get("peer")]
                for f in got.get("faults") or []), empty="no faults")
