"""`interlink-lab events`: follow the controller's events: link statuses, BGP sessions up
and down (with the reason), routes accepted / rejected (with the reason) / withdrawn, one
line per batch, policy, propagation and VPC changes, faults. ``--since`` replays what the
controller kept (its last 10,000 events) first; ``--no-follow`` stops there."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import click

from controller.core.feed import parse_since
from lab.cli import common
from lab.cli.common import CliError, get_client, lab_name
from lab.cli.fault import restore_message
from lab.control.client import ApiError, Client
from lab.control.labdir import LabError, lab_dir

# How long a stream that ended waits for the controller to come back (a restart takes a few
# seconds; `down` never comes back), and between two tries.
RECONNECT_S = 30.0
RETRY_S = 0.2

SKIP = {"id", "time", "type", "link_id", "link_name", "field", "old", "new"}
Json = dict[str, Any]


def _time(value: Any) -> str:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).strftime("%H:%M:%S.%f")[:-3]
    return str(value) if value is not None else "-"


def _sample(shown: list[Any], count: int) -> str:
    if not shown:
        return ""
    more = count - len(shown)
    return " (" + ", ".join(map(str, shown)) + (f", +{more} more" if more > 0 else "") + ")"


def _routes(ev: Json) -> str:
    parts = []
    if ev.get("accepted"):
        parts.append(f"accepted {ev['accepted']}"
                     + _sample(ev.get("accepted_sample") or [], ev["accepted"]))
    for r in ev.get("rejections") or []:
        parts.append(f"rejected {r.get('count')}: {r.get('message') or r.get('reason')}"
                     + _sample(r.get("sample") or [], int(r.get("count") or 0)))
    if ev.get("withdrawn"):
        parts.append(f"withdrawn {ev['withdrawn']}"
                     + _sample(ev.get("withdrawn_sample") or [], ev["withdrawn"]))
    cause = {"reconcile": "re-evaluated: ", "replay": "replayed: "}.get(ev.get("cause", ""), "")
    return f"{ev.get('family', '-')} {cause}" + "; ".join(parts)


def _policy(ev: Json) -> str:
    action, name, fam = ev.get("action"), ev.get("policy_name"), ev.get("family")
    if action == "replaced":
        return f"replaced {ev.get('old_policy_name')} by {name} ({fam})"
    if action == "created":
        n = ev.get("entries") or {}
        return f"created {name} ({fam}, {n.get('in', 0)} in, {n.get('out', 0)} out)"
    if action == "edited":
        what = []
        for c in ev.get("changes") or []:
            if "added" in c:
                what.append(f"{c['field']} +{c['added']} -{c['removed']}"
                            + _sample(c.get("sample") or [], len(c.get("sample") or [])))
            else:
                what.append(f"{c['field']} {c.get('old')} -> {c.get('new')}")
        users = ev.get("links") or []
        return (f"edited {name}: " + ("; ".join(what) or "no change")
                + (f" (used by {', '.join(users)})" if users else ""))
    return f"{action} {name}" + (f" ({fam})" if action in ("attached", "detached") else "")


def _fault(ev: Json) -> str:
    action = ev.get("action")
    if action == "cut":
        return f"cut {ev.get('mode', 'bgp')} {', '.join(ev.get('families') or [])}"
    if action == "reset":
        return f"reset {', '.join(ev.get('families') or [])}"
    if action == "restore":
        known = [restore_message(ev).replace("\n", "; ")] if (
            ev.get("restored_cuts") or ev.get("restarted") or ev.get("started_nodes")) else []
        other = [f"{k.removeprefix('restored_')} {len(v)}" for k, v in sorted(ev.items())
                 if isinstance(v, list) and v and k not in (
                     "restored_cuts", "restarted", "started_nodes")]
        return "; ".join(known + (["restored " + ", ".join(other)] if other else []))
    if action == "kill":
        return "; ".join(f"killed {k.get('daemon')} (pid {k.get('pid')}) on {k.get('node')}"
                         for k in ev.get("killed") or [])
    if action in ("stop-node", "start-node"):
        return f"{action} {', '.join(ev.get('nodes') or [])}"
    rest = {k: v for k, v in ev.items() if k not in SKIP | {"action"}}
    return f"{action} " + " ".join(f"{k}={v}" for k, v in sorted(rest.items()))


def detail(ev: Json) -> str:
    """What happened, in a few words (the event's kind says what to show)."""
    kind = ev.get("type")
    if kind == "status" or "old" in ev or "new" in ev:
        return f"{ev.get('field') or kind} {ev.get('old') or '-'} -> {ev.get('new')}"
    if kind == "session":
        reason = ev.get("reason")
        return f"{ev.get('family')} {ev.get('state')}" + (f": {reason}" if reason else "")
    if kind == "routes":
        return _routes(ev)
    if kind == "policy":
        return _policy(ev)
    if kind == "propagation":
        return "on" if ev.get("enabled") else "off"
    if kind == "vpc":
        return f"{ev.get('action')} {ev.get('vpc_id')}"
    if kind == "link":
        return f"{ev.get('action')} ({ev.get('lifecycle')})"
    if kind == "fault":
        return _fault(ev)
    if kind == "error":
        return str(ev.get("message"))
    return " ".join(f"{k}={v}" for k, v in sorted(ev.items()) if k not in SKIP)


def human(ev: Json, names: dict[str, str]) -> str:
    """`TIME  KIND  LINK-OR-NODE  DETAIL`, aligned for a terminal."""
    where = (ev.get("link_name") or names.get(ev.get("link_id", ""), ev.get("link_id"))
             or ev.get("node") or ", ".join(ev.get("nodes") or []) or "-")
    return f"{_time(ev.get('time'))}  {ev.get('type', 'event'):<11} {where!s:<14} {detail(ev)}"


def follow(client: Client, reconnect: Callable[[], Client], timeout: float | None,
           note: Callable[[str], None], reconnect_s: float = RECONNECT_S,
           since: str | None = None) -> Iterator[Any]:
    """The events of ``client`` (from ``since`` when given), across controller restarts: a
    stream that ends before ``timeout`` is opened again (``reconnect`` reads the lab's API
    file anew) for up to ``reconnect_s`` seconds; then LabError says why. The new stream
    starts after the last event seen, so what the new controller published before we got
    back is replayed; ``note`` says there was a gap."""
    deadline = None if timeout is None else time.monotonic() + timeout
    lost: float | None = None  # when the stream ended, while reconnecting
    why = ""
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        try:
            # Without a cursor, the plain call (older fakes and clients take no since).
            stream = (client.events(timeout=left, since=since) if since
                      else client.events(timeout=left))
            for ev in stream:
                if lost is not None:
                    lost = None
                if isinstance(ev, dict) and ev.get("id") is not None:
                    since = str(ev["id"])  # ids grow across restarts: resume after it
                yield ev
            if deadline is not None and time.monotonic() >= deadline:
                return
            why = "the controller closed the event stream"
        except (LabError, ApiError) as exc:  # an error answer while it restarts, too
            why = str(exc)
        now = time.monotonic()
        if lost is None:
            lost = now
            note(f"{why}; reconnecting for up to {reconnect_s:g} s")
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


def _check_since(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_since(value, time.time())
        except ValueError as exc:
            raise click.BadParameter(str(exc).removeprefix(f"--since {value!r}: ")) from None
    return value


@click.command("events")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Stop after S seconds; with --count, fewer than N events is an error.")
@click.option("--since", metavar="ID|DURATION|TIME", callback=_check_since,
              help="First replay the kept events after this event id (0: all), from this "
                   "long ago (30s, 5m, 1h30m) or from this ISO time.")
@click.option("--follow/--no-follow", "keep_following", default=True, show_default=True,
              help="Keep following new events; --no-follow stops after the replay "
                   "(without --since: everything kept).")
@click.pass_context
def events(ctx: click.Context, as_json: bool, count: int | None, timeout: float | None,
           since: str | None, keep_following: bool) -> None:
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
    stream: Iterator[Any] = (
        follow(client, lambda: common.make_client(lab), timeout, _note, RECONNECT_S, since)
        if keep_following else client.events(timeout=timeout, since=since, follow=False))
    try:
        for ev in stream:
            line = json.dumps(ev, sort_keys=True) if as_json else human(ev, names)
            click.echo(line)
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return
    except (LabError, ApiError) as exc:
        raise CliError(f"{exc} (after {seen} event(s))") from None
    if count is not None:
        raise CliError(f"got {seen} of {count} events before the stream ended"
                       + (f" (timeout {timeout:g} s)" if timeout is not None else ""))
