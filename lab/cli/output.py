"""Output helpers shared by the verbs: aligned tables for humans, sorted JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(fn: F) -> F:
    """``--json``: every read verb has it."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON (sorted keys) instead of a table.")(fn)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def echo_json(data: Any) -> None:
    click.echo(dumps(data))


def cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; no trailing blanks."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    lines = []
    for row in [list(headers), *texts]:
        lines.append("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())
    return "\n".join(lines)


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
               empty: str | None = None) -> None:
    rows = list(rows)
    if not rows and empty is not None:
        click.echo(empty)
        return
    click.echo(table(headers, rows))


def shorten(items: Sequence[Any], limit: int = 3) -> str:
    """A few list entries then "(+N)": big prefix lists stay on one line."""
    if not items:
        return "-"
    head = ",".join(str(i) for i in items[:limit])
    return head if len(items) <= limit else f"{head} (+{len(items) - limit})"
