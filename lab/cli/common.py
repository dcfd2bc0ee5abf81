"""What the verbs share: the lab's API client (one per invocation) and input helpers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported when a verb needs the API (http.client costs ~40 ms at start-up)
    from lab.control.client import Client

PROG = "interlink-lab"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CliError(click.ClickException):
    """A LabError/ApiError turned into click's error path: one line, exit 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{PROG}: error: {self.format_message()}", err=True)


def make_client(lab: str) -> Client:
    # Module-level so tests can replace it with a fake.
    from lab.control.client import Client

    return Client.for_lab(lab)


def get_client(ctx: click.Context) -> Client:
    obj = ctx.find_root().obj
    if obj.get("client") is None:
        obj["client"] = make_client(obj["lab"])
    client: Client = obj["client"]
    return client


def lab_name(ctx: click.Context) -> str:
    return str(ctx.find_root().obj["lab"])


def read_prefix_file(path: str) -> list[str]:
    """One prefix per line; blank lines and ``#`` comments ignored ('-' is stdin)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def policy_names(client: Client) -> dict[str, str]:
    return {p["id"]: p["name"] for p in client.policies()}


def link_summary(link: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """One line describing a link's configuration after a change."""
    names = names or {}

    def pol(key: str) -> str:
        pid = link.get(key)
        return names.get(pid, pid) if pid else "-"

    prop = "on" if link.get("enable_route_propagation") else "off"
    return (f"link {link.get('name')}: status {link.get('status')}, "
            f"vpc {link.get('vpc_id') or '-'}, policy v4 {pol('routing_policy_v4_id')}, "
            f"v6 {pol('routing_policy_v6_id')}, propagation {prop}")
