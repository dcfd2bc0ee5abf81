"""`interlink-lab customer ...`: what the customer router announces to Scaleway."""

from __future__ import annotations

from typing import Any

import click

from controller.core.model import ArgumentError
from lab.cli.common import CliError, get_client, read_prefix_file
from lab.cli.output import echo_json, echo_table, json_option
from lab.control.client import error_message
from lab.routers.announcements import validate_announcement

# Scaleway's preference communities by name (interlink.md).
COMMUNITY_ALIASES = {"low": "12876:42050", "medium": "12876:42100", "high": "12876:42200"}


@click.group("customer")
def customer() -> None:
    """The customer router: announce / withdraw prefixes, see its routes."""


def _collect(prefixes: tuple[str, ...], file: str | None) -> list[str]:
    out = [*prefixes, *(read_prefix_file(file) if file else [])]
    if not out:
        raise click.UsageError("no prefix given (arguments or --file)")
    return out


CUSTOMER = click.option("--customer", "customer_name", metavar="NAME",
                        help="Which customer (needed when the lab has several).")
LINK = click.option("--link", metavar="LINK",
                    help="Only on this link's sessions (link name or id; ExaBGP customers).")
PREFIX_FILE = click.option("--file", type=click.Path(dir_okay=False, allow_dash=True),
                           help="More prefixes, one per line ('-' = stdin).")


# A request body is at most 1 MiB (controller.core.limits) and the daemon takes ~30 us per
# prefix on its event loop: a long list (a --file) goes in chunks of this many (< 250 kB,
# ~0.2 s each), after a check of the whole list so that a bad prefix still sends nothing.
ANNOUNCE_CHUNK = 5_000


def _post_chunked(ctx: click.Context, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` posted to ``path``; a long ``prefixes`` list in chunks, answers summed."""
    prefixes = body["prefixes"]
    if len(prefixes) <= ANNOUNCE_CHUNK:
        return dict(get_client(ctx).post(path, body))
    try:
        validate_announcement(prefixes, body.get("communities", ()))  # the daemon's own check
    except ArgumentError as exc:
        raise CliError(error_message(400, {"type": "invalid_arguments",
                                           "details": exc.details})[1]) from None
    prefixes = list(dict.fromkeys(prefixes))  # a repeat in a later chunk would count twice
    total: dict[str, Any] = {}
    for i in range(0, len(prefixes), ANNOUNCE_CHUNK):
        got = get_client(ctx).post(path, {**body, "prefixes": prefixes[i:i + ANNOUNCE_CHUNK]})
        for key, value in got.items():
            total[key] = total.get(key, 0) + value
    return total


def _target(customer_name: str | None, link: str | None) -> dict[str, str]:
    out = {"customer": customer_name, "link": link}
    return {k: v for k, v in out.items() if v}


@customer.command("announce")
@click.argument("prefixes", nargs=-1, metavar="PREFIX...")
@click.option("--community", "communities", multiple=True, metavar="C",
              help="ASN:VALUE or low|medium|high (12876:42050/42100/42200); repeatable.")
@PREFIX_FILE
@CUSTOMER
@LINK
@json_option
@click.pass_context
def announce(ctx: click.Context, prefixes: tuple[str, ...], communities: tuple[str, ...],
             file: str | None, customer_name: str | None, link: str | None,
             as_json: bool) -> None:
    """Announce PREFIX... from the customer router (re-announcing updates communities)."""
    body = {"prefixes": _collect(prefixes, file),
            "communities": [COMMUNITY_ALIASES.get(c, c) for c in communities],
            **_target(customer_name, link)}
    got = _post_chunked(ctx, "/lab/v1/customer/announce", body)
    if as_json:
        echo_json(got)
        return
    click.echo(f"announced {got.get('announced', len(body['prefixes']))} prefix(es)")


@customer.command("withdraw")
@click.argument("prefixes", nargs=-1, metavar="PREFIX...")
@PREFIX_FILE
@CUSTOMER
@LINK
@json_option
@click.pass_context
def withdraw(ctx: click.Context, prefixes: tuple[str, ...], file: str | None,
             customer_name: str | None, link: str | None, as_json: bool) -> None:
    """Withdraw PREFIX... from the customer router."""
    body = {"prefixes": _collect(prefixes, file), **_target(customer_name, link)}
    got = _post_chunked(ctx, "/lab/v1/customer/withdraw", body)
    if as_json:
        echo_json(got)
        return
    click.echo(withdraw_message(got))


def withdraw_message(got: dict[str, object]) -> str:
    """How many were withdrawn, and how many had not been announced (nothing to do)."""
    msg = f"withdrew {got.get('withdrawn', 0)} prefix(es)"
    if got.get("not_announced"):
        msg += f"; {got['not_announced']} not announced"
    return msg


@customer.command("routes")
@CUSTOMER
@json_option
@click.pass_context
def routes(ctx: click.Context, customer_name: str | None, as_json: bool) -> None:
    """BGP sessions, announced prefixes and routes learned from Scaleway."""
    query = {"customer": customer_name} if customer_name else None
    got = get_client(ctx).get("/lab/v1/customer/routes", query)
    if as_json:
        echo_json(got)
        return
    router = got.get("router") or {}
    for d in router.get("daemons") or []:
        if not d.get("running"):
            click.echo(f"router {router.get('node')}: {d.get('name')} is not running "
                       "(`interlink-lab fault restore` starts it)")
    for peer, st in sorted((got.get("sessions") or {}).items()):
        click.echo(f"session {peer}: {st}")
    rows = [["announced", r.get("prefix"), None, r.get("communities")]
            for r in got.get("announced") or []]
    rows += [["learned", r.get("prefix"), r.get("via"), r.get("communities")]
             for r in got.get("learned") or []]
    echo_table(("DIRECTION", "PREFIX", "VIA", "COMMUNITIES"), rows, empty="no routes")
