"""`interlink-lab fault cut|reset|kill|restore|list`: break a link or a router on purpose.

cut --mode bgp (default): BGP packets dropped, the session dies when its hold timer expires;
cut --mode link: every packet on the link dropped (a silent circuit failure);
reset: the session is closed at once with a NOTIFICATION and kept down;
kill NODE [DAEMON]: a BGP daemon crashes (SIGKILL); a customer router's stays dead until
restore, a Scaleway router's speaker is restarted by the controller;
stop-node NODE / start-node NODE: a container node is killed (power cut: its programs, its
namespace and veths go) / started again with its network, tables and daemons (docker runtime);
impair LINK [--delay 20ms] [--jitter 5ms] [--loss 1%] [--corrupt 0.1%] [--duplicate 1%]
[--rate 50mbit] [--direction both|to-vpc|to-customer]: the link's wire degraded (netem-like);
restore: undoes the cuts and impairments, starts stopped nodes and the customer daemons that are
not running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from lab.cli.common import CliError, get_client
from lab.cli.output import echo_json, echo_table, json_option
from lab.control.client import Client
from lab.scenario import impairment

FAMILY = click.option("--family", type=click.Choice(["ipv4", "ipv6", "both"]), default="both",
                      show_default=True, help="Which session(s).")


@click.group("fault")
def fault() -> None:
    """Cut / restore BGP sessions (packets dropped on Scaleway's side, hold timer expires)."""


def cut_message(got: dict[str, Any], family: str, mode: str, link: str) -> str:
    done = got.get("cut") or [family]
    what = "link" if got.get("mode", mode) == "link" else "BGP"
    return f"cut {what} {', '.join(done)} of link {link}"


def restore_message(got: dict[str, Any]) -> str:
    """Only what was restored: the cuts that were active, the daemons that were dead."""
    lines = []
    by_link: dict[tuple[str, str], list[str]] = {}
    for r in got.get("restored_cuts") or []:
        what = "link" if r.get("mode") == "link" else "BGP"
        by_link.setdefault((what, str(r.get("link_name") or r.get("link_id"))), []).append(
            str(r.get("family")))
    for (what, link), fams in by_link.items():
        lines.append(f"restored {what} {', '.join(fams)} of link {link}")
    for r in got.get("cleared_impairments") or []:
        what = " ".join(f"{k} {v}" for k, v in (r.get("impairment") or {}).items())
        lines.append(f"cleared impairment {what} ({r.get('direction')}) of link "
                     f"{r.get('link_name') or r.get('link_id')}")
    for node in got.get("started_nodes") or []:
        lines.append(f"started node {node}")
    for r in got.get("restarted") or []:
        lines.append(f"restarted {', '.join(r.get('daemons') or [])} on {r.get('node')}")
    return "\n".join(lines) or ("nothing to restore (no active cut or impairment, no dead "
                                 "daemon)")


def _apply(ctx: click.Context, what: str, link_ref: str | None, family: str,
           as_json: bool, **extra: str) -> None:
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.post(f"/lab/v1/faults/{what}",
                      {"link_id": link["id"], "family": family, **extra})
    if as_json:
        echo_json(got)
        return
    if what == "cut":
        click.echo(cut_message(got, family, extra.get("mode", "bgp"), link["name"]))
    else:
        click.echo(f"reset BGP {', '.join(got.get('reset') or [family])} of link "
                   f"{link['name']}")


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


@fault.command("restore")
@click.argument("link_ref", metavar="[LINK]", required=False)
@FAMILY
@json_option
@click.pass_context
def restore(ctx: click.Context, link_ref: str | None, family: str, as_json: bool) -> None:
    """Undo the faults: the cuts of LINK (default: of every link) and the customer daemons
    that are not running (started again, their announcements with them)."""
    client: Client = get_client(ctx)
    body: dict[str, Any] = {"family": family}
    if link_ref:
        body["link_id"] = client.default_link(link_ref)["id"]
    got = client.post("/lab/v1/faults/restore", body)
    if as_json:
        echo_json(got)
        return
    click.echo(restore_message(got))


@fault.command("kill")
@click.argument("node")
@click.argument("daemon", required=False)
@json_option
@click.pass_context
def kill(ctx: click.Context, node: str, daemon: str | None, as_json: bool) -> None:
    """Kill DAEMON (exabgp, bgpd, zebra, bird; default: the router's main daemon) of NODE
    (a customer router, or a Scaleway router: its ExaBGP speakers)."""
    body = {"node": node, **({"daemon": daemon} if daemon else {})}
    got = get_client(ctx).post("/lab/v1/faults/kill", body)
    if as_json:
        echo_json(got)
        return
    for k in got.get("killed") or []:
        click.echo(f"killed {k.get('daemon')} (pid {k.get('pid')}) on {k.get('node')}"
                   + (f" (link {k['link']})" if k.get("link") else ""))


def fault_rows(faults: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for f in faults:
        if f.get("kind") == "impair":
            rows.append(["impair", f.get("link_name") or f.get("link_id"), "-",
                         f.get("direction"), f.get("summary") or "-"])
        elif f.get("kind") in ("kill", "down", "stop-node"):
            rows.append([f.get("kind"), f.get("node"), "-", "-", f.get("daemon") or "-"])
        else:
            rows.append([f.get("kind", "cut"), f.get("link_name") or f.get("link_id"),
                         f.get("family"), f.get("mode", "bgp"), f.get("peer")])
    return rows


@fault.command("stop-node")
@click.argument("node")
@json_option
@click.pass_context
def stop_node(ctx: click.Context, node: str, as_json: bool) -> None:
    """Kill NODE's container (docker runtime): its daemons, namespace and veths go with it, so
    the sessions through it die as they would in a power cut. `start-node` or `restore`
    bring it back."""
    got = get_client(ctx).post("/lab/v1/faults/stop-node", {"node": node})
    if as_json:
        echo_json(got)
        return
    click.echo(f"stopped node {node}")


@fault.command("start-node")
@click.argument("node")
@json_option
@click.pass_context
def start_node(ctx: click.Context, node: str, as_json: bool) -> None:
    """Start NODE's container again, with its network, routes and daemons."""
    got = get_client(ctx).post("/lab/v1/faults/start-node", {"node": node})
    if as_json:
        echo_json(got)
        return
    click.echo(f"started node {node}")


@fault.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Active faults: cuts (with their mode), impairments (with their direction) and customer
    daemons not running (kill: on purpose; down: died)."""
    got = get_client(ctx).get("/lab/v1/faults")
    if as_json:
        echo_json(got)
        return
    echo_table(("KIND", "LINK/NODE", "FAMILY", "MODE", "PEER/DAEMON"),
               fault_rows(got.get("faults") or []), empty="no faults")


@fault.command("impair")
@click.argument("link_ref", metavar="[LINK]", required=False)
@click.option("--delay", help="One-way delay: 20ms, 1s, 500us.")
@click.option("--jitter", help="Delay variation either way (uniform), at most the delay: 5ms.")
@click.option("--loss", help="Packets dropped at random: 1%.")
@click.option("--corrupt", help="Packets with one bit flipped: 0.1%.")
@click.option("--duplicate", help="Packets sent twice: 1%.")
@click.option("--rate", help="A rate below the link's bandwidth: 50mbit, 500kbit.")
@click.option("--direction", type=click.Choice(list(impairment.DIRECTIONS)), default="both",
              show_default=True, help="to-vpc: customer -> VPC; to-customer: the way back.")
@json_option
@click.pass_context
def impair(ctx: click.Context, link_ref: str | None, direction: str, as_json: bool,
           **values: str | None) -> None:
    """Degrade the wire of LINK (default: the lab's only link): delay, jitter, loss,
    corruption, duplication, rate, on Scaleway's side of the link, in both directions or one.
    Replaces the impairments in force in that direction; `fault restore` clears them."""
    given = {k: v for k, v in values.items() if v is not None}
    try:  # checked here first: a bad value is one line and nothing changes
        impairment.parse(given)
    except impairment.ImpairmentError as e:
        raise CliError(str(e)) from None
    client = get_client(ctx)
    link = client.default_link(link_ref)
    got = client.post("/lab/v1/faults/impair",
                      {"link_id": link["id"], "direction": direction, **given})
    if as_json:
        echo_json(got)
        return
    what = " ".join(f"{k} {v}" for k, v in (got.get("impairment") or {}).items())
    click.echo(f"impaired link {link['name']} ({direction}): {what}")
