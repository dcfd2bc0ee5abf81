"""`interlink-lab events`: follow the controller's events (status changes, ...)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import click

from lab.cli import common
from lab.cli.common import CliError, get_client, lab_name
from lab.control.client import ApiError, Client
from lab.control.labdir import LabError, lab_dir

# How long a stream that ended waits for the controller to come back (a restart takes a few
# seconds; `down` never comes back), and between two tries.
RECONNECT_S = 30.0
RETRY_S = 0.2

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


def follow(client: Client, reconnect: Callable[[], Client], timeout: float | None,
           note: Callable[[str], None], reconnect_s: float = RECONNECT_S) -> Iterator[Any]:
    """The events of ``client``, across controller restarts: a stream that ends before
    ``timeout`` is opened again (``reconnect`` reads the lab's API file anew) for up to
    ``reconnect_s`` seconds; then LabError says why. Events emitted while no controller
    was listening to us are not replayed: ``note`` says there was a gap."""
    deadline = None if timeout is None else time.monotonic() + timeout
    lost: float | None = None  # when the stream ended, while reconnecting
    why = ""
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        try:
            for ev in client.events(timeout=left):
                if lost is not None:
                    lost = None
                yield ev
            if deadline is not None and time.monotonic() >= deadline:
                return
            why = "the controller closed the event stream"
        except (LabError, ApiError) as exc:  # an error answer while it restarts, too
            why = str(exc)
        now = time.monotonic()
        if lost is None:
            lost = now
            note(f"{why}; reconnecting for up to {reconnect_s:g} s "
                 "(events meanwhile are not replayed)")
        elif now - lost >= reconnect_s:
            raise LabError(f"{why}; the controller did not come back within "
                           f"{reconnect_s:g} s")
        time.sleep(RETRY_S)
        try:
            client = reconnect()
        except (LabError, ApiError) as exc:  # api.json absent while the controller restarts
            why = str(exc)


def wait_client(connect: Callable[[], Client], within: float,
                note: Callable[[str], None]) -> Client:
    """``connect()`` retried for ``within`` seconds while it raises LabError."""
    deadline = time.monotonic() + within
    noted = False
    while True:
        try:
            return connect()
        except LabError as exc:
            if time.monotonic() >= deadline:
                raise
            if not noted:
                note(f"{exc}; reconnecting for up to {within:g} s")
                noted = True
            time.sleep(RETRY_S)


def _note(msg: str) -> None:
    click.echo(f"{common.PROG}: {msg}", err=True)


@click.command("events")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Stop after S seconds; with --count, fewer than N events is an error.")
@click.pass_context
def events(ctx: click.Context, as_json: bool, count: int | None, timeout: float | None) -> None:
    """Stream events until interrupted (or --count / --timeout), following the controller
    across restarts (it fails if the controller stays away for 30 s)."""
    lab = lab_name(ctx)
    try:
        client = get_client(ctx)
    except LabError:
        # A controller restarting right now has no api.json: follow it like a restart.
        if not (lab_dir(lab) / "lab.json").exists():
            raise
        client = wait_client(lambda: common.make_client(lab), RECONNECT_S, _note)
    names = {} if as_json else {lk["id"]: lk["name"] for lk in client.links()}
    seen = 0


    try:
        for ev in follow(client, lambda: common.make_client(lab), timeout, _note, RECONNECT_S):
            line = json.dumps(ev, sort_keys=True) if as_json else human(ev, names)
            click.echo(line)
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return
    except LabError as exc:
        raise CliError(f"{exc} (after {seen} event(s))") from None
    if count is not None:
        raise CliError(f"got {seen} of {count} events before the stream ended"
                       + (f" (timeout {timeout:g} s)" if timeout is not None else ""))
