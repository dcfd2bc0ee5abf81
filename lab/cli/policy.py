"""`interlink-lab policy ...`: routing policies (allowed routes lists) and their links."""

from __future__ import annotations

from typing import Any

import click

from lab.cli.common import get_client, link_summary, policy_names, read_prefix_file
from lab.cli.output import echo_json, echo_table, json_option, shorten
from lab.control.client import Client, P


@click.group("policy")
def policy() -> None:
    """Routing policies: list, show, create, update, delete, attach to / detach from links."""


def _users(client: Client) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for lk in client.links():
        for key in ("routing_policy_v4_id", "routing_policy_v6_id"):
            if lk.get(key):
                users.setdefault(lk[key], []).append(lk["name"])
    return users


@policy.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every routing policy."""
    client = get_client(ctx)
    pols = client.policies()
    if as_json:
        echo_json(pols)
        return
    users = _users(client)
    echo_table(("NAME", "ID", "FAMILY", "IN", "OUT", "LINKS"),
               ([p["name"], p["id"][:8], "ipv6" if p.get("is_ipv6") else "ipv4",
                 shorten(p.get("prefix_filter_in", [])), shorten(p.get("prefix_filter_out", [])),
                 users.get(p["id"])] for p in pols), empty="no routing policies")


@policy.command("show")
@click.argument("policy_ref", metavar="ID|NAME")
@json_option
@click.pass_context
def show(ctx: click.Context, policy_ref: str, as_json: bool) -> None:
    """One routing policy with its full prefix lists."""
    client = get_client(ctx)
    p = client.policy(policy_ref)
    if as_json:
        echo_json(p)
        return
    fields = [("name", p.get("name")), ("id", p.get("id")),
              ("family", "ipv6" if p.get("is_ipv6") else "ipv4"),
              ("tags", ", ".join(p.get("tags") or []) or "-"),
              ("links", ", ".join(_users(client).get(p["id"], [])) or "-"),
              ("created", p.get("created_at")), ("updated", p.get("updated_at"))]
    for k, v in fields:
        click.echo(f"{k:<9}{v}")
    for key, label in (("prefix_filter_in", "in"), ("prefix_filter_out", "out")):
        prefixes = p.get(key) or []
        click.echo(f"{label} ({len(prefixes)}):")
        for prefix in prefixes:
            click.echo(f"  {prefix}")


ALLOW_EMPTY = click.option(
    "--allow-empty", is_flag=True,
    help="Accept an --in-file/--out-file with no prefix (an empty list: nothing passes).")


def _prefixes(given: tuple[str, ...], file: str | None, flag: str = "in",
              allow_empty: bool = False) -> list[str]:
    """--in/--out plus the file's prefixes. A file with none is refused unless
    ``allow_empty``: a wrong path (/dev/null, an empty pipe) must not empty a filter."""
    if not file:
        return list(given)
    try:
        from_file = read_prefix_file(file)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror or exc}",
                                 param_hint=f"--{flag}-file") from None
    if not from_file and not allow_empty:
        raise click.BadParameter(
            f"{file} has no prefix; an empty list {'accepts' if flag == 'in' else 'advertises'}"
            f" nothing: use --allow-empty (or --clear-{flag}) if that is meant",
            param_hint=f"--{flag}-file")
    return [*given, *from_file]


@policy.command("create")
@click.argument("name")
@click.option("--ipv6/--ipv4", "is_ipv6", default=False, help="Family (default ipv4).")
@click.option("--in", "in_", multiple=True, metavar="PREFIX",
              help="Accepted from the peer (range); repeatable.")
@click.option("--out", multiple=True, metavar="PREFIX",
              help="Advertised to the peer (range); repeatable.")
@click.option("--in-file", type=click.Path(dir_okay=False), help="More --in, one per line.")
@click.option("--out-file", type=click.Path(dir_okay=False), help="More --out, one per line.")
@click.option("--tag", "tags", multiple=True, help="Tag; repeatable.")
@ALLOW_EMPTY
@json_option
@click.pass_context
def create(ctx: click.Context, name: str, is_ipv6: bool, in_: tuple[str, ...],
           out: tuple[str, ...], in_file: str | None, out_file: str | None,
           tags: tuple[str, ...], allow_empty: bool, as_json: bool) -> None:
    """Create routing policy NAME."""
    body = {"name": name, "is_ipv6": is_ipv6,
            "prefix_filter_in": _prefixes(in_, in_file, "in", allow_empty),
            "prefix_filter_out": _prefixes(out, out_file, "out", allow_empty),
            "tags": list(tags)}
    p = get_client(ctx).post(f"{P}/routing-policies", body)
    if as_json:
        echo_json(p)
        return
    click.echo(f"created routing policy {p['name']} ({p['id']})")


@policy.command("update")
@click.argument("policy_ref", metavar="ID|NAME")
@click.option("--name", help="New name.")
@click.option("--in", "in_", multiple=True, metavar="PREFIX",
              help="Replaces the whole in list; repeatable.")
@click.option("--out", multiple=True, metavar="PREFIX",
              help="Replaces the whole out list; repeatable.")
@click.option("--in-file", type=click.Path(dir_okay=False), help="More --in, one per line.")
@click.option("--out-file", type=click.Path(dir_okay=False), help="More --out, one per line.")
@click.option("--clear-in", is_flag=True, help="Empty the in list (accept nothing).")
@click.option("--clear-out", is_flag=True, help="Empty the out list (advertise nothing).")
@ALLOW_EMPTY
@json_option
@click.pass_context
def update(ctx: click.Context, policy_ref: str, name: str | None, in_: tuple[str, ...],
           out: tuple[str, ...], in_file: str | None, out_file: str | None, clear_in: bool,
           clear_out: bool, allow_empty: bool, as_json: bool) -> None:
    """Change a routing policy; it applies at once to every link using it."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    for key, given, file, clear, flag in (("prefix_filter_in", in_, in_file, clear_in, "in"),
                                          ("prefix_filter_out", out, out_file, clear_out, "out")):
        if clear and (given or file):
            raise click.UsageError(f"--clear-{flag} conflicts with --{flag}/--{flag}-file")
        if clear:
            body[key] = []
        elif given or file:
            body[key] = _prefixes(given, file, flag, allow_empty)
    if not body:
        raise click.UsageError("nothing to update: give --name, --in, --out, --clear-in or "
                               "--clear-out")
    client = get_client(ctx)
    p = client.patch(f"{P}/routing-policies/{client.policy(policy_ref)['id']}", body)
    if as_json:
        echo_json(p)
        return
    click.echo(f"updated routing policy {p['name']} ({p['id']}): "
               f"{len(p.get('prefix_filter_in', []))} in, "
               f"{len(p.get('prefix_filter_out', []))} out")


@policy.command("delete")
@click.argument("policy_ref", metavar="ID|NAME")
@click.pass_context
def delete(ctx: click.Context, policy_ref: str) -> None:
    """Delete a routing policy (refused while a link uses it)."""
    client = get_client(ctx)
    p = client.policy(policy_ref)
    client.delete(f"{P}/routing-policies/{p['id']}")
    click.echo(f"deleted routing policy {p['name']} ({p['id']})")


def _link_and_policy(client: Client, refs: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    if len(refs) not in (1, 2):
        raise click.UsageError("expected [LINK] POLICY")
    link = client.default_link(refs[0] if len(refs) == 2 else None)
    return link, client.policy(refs[-1])["id"]


def _link_policy_verb(verb: str, action: str, doc: str) -> click.Command:
    @click.command(verb)
    @click.argument("refs", nargs=-1, metavar="[LINK] POLICY")
    @json_option
    @click.pass_context
    def cmd(ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
        client = get_client(ctx)
        link, pid = _link_and_policy(client, refs)
        got = client.link_action(link["id"], action, {"routing_policy_id": pid})
        if as_json:
            echo_json(got)
            return
        click.echo(link_summary(got, policy_names(client)))

    cmd.help = doc + " LINK defaults to the lab's only link."
    return cmd


for _verb, _action, _doc in (
        ("attach", "attach-routing-policy", "Attach POLICY to LINK (one per family)."),
        ("detach", "detach-routing-policy", "Detach POLICY from LINK: that family is blocked."),
        ("set", "set-routing-policy",
         "Replace LINK's policy of POLICY's family in place (no blocking gap).")):
    policy.add_command(_link_policy_verb(_verb, _action, _doc))
