"""`interlink-lab events`: follow the controller's events (status changes, ...)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from lab.cli.common import CliError, get_client

SKIP = {"time", "type", "link_id", "link_name", "field", "old", "new"}


def _time(value: Any) -> str:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")[:-3]
    return str(value) if value is not None else "-"


def human(ev: dict[str, Any], names: dict[str, str]) -> str:
    """`TIME link-name field old -> new`; other events: their remaining keys."""
    link = ev.get("link_name") or names.get(ev.get("link_id", ""), ev.get("link_id")) or "-"
    parts = [_time(ev.get("time")), str(link)]
    if "old" in ev or "new" in ev:
        old = ev.get("old") or "-"
        parts += [str(ev.get("field") or ev.get("type", "")), f"{old} -> {ev.get('new')}"]
    else:
        parts.append(str(ev.get("type", "event")))
        parts += [f"{k}={v}" for k, v in sorted(ev.items()) if k not in SKIP]
    return " ".join(parts)


@click.command("events")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Stop after S seconds; with --count, fewer than N events is an error.")
@click.pass_context
def events(ctx: click.Context, as_json: bool, count: int | None, timeout: float | None) -> None:
    """Stream events until interrupted (or --count / --timeout)."""
    client = get_client(ctx)
    names = {} if as_json else {lk["id"]: lk["name"] for lk in client.links()}
    seen = 0
    try:
        for ev in client.events(timeout=timeout):
            line = json.dumps(ev, sort_keys=True) if as_json else human(ev, names)
            click.echo(line)
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return
    if timeout is None:  # only the daemon ends an endless stream: it stopped
        raise CliError(f"the controller closed the event stream after {seen} event(s)")
    if count is not None:
        raise CliError(f"got {seen} of {count} events before the stream ended"
                       + (f" (timeout {timeout:g} s)" if timeout is not None else ""))
