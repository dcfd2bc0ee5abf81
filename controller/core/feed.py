"""The controller's event feed (pure): what `interlink-lab events` shows, a bounded ring of
the latest events, and what ``--since`` means.

Every event is a JSON object with ``id`` (increasing, unique across controller restarts: a
microsecond timestamp at least one above the previous), ``time`` (epoch seconds) and
``type``:

- ``status``: a link status field changed (``field``, ``old``, ``new``);
- ``session``: a BGP session went ``up`` or ``down`` (``family``, ``state``, ``reason``);
- ``routes``: per link and family, what a batch of BGP updates brought (``cause: update``,
  or ``replay`` after a reconnect) or a reconciliation changed (``cause: reconcile``):
  counts and a few sample prefixes per verdict; the bus merges the batches of a burst
  (``batches``), so 100k routes make a few events, not 100k;
- ``policy`` (attached, detached, replaced, created, edited, deleted), ``propagation``
  (``enabled``), ``vpc`` (attached, detached), ``fault`` (the lab's), ``error``.

Events only gain fields: consumers (the live graph page) keep reading the ones they know.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.core.model import Link

Json = dict[str, Any]
RING_SIZE = 10_000  # events kept for --since (a few MB at most)
SAMPLE = 3  # prefixes shown per verdict in a routes event

# reconcile.verdict's codes -> what a person reads ("rejected: ...").
_REASONS = {
    "no_policy": "no routing policy attached for {family}",
    "default_route": "a default route (never accepted)",
    "as_path_loop": "AS 12876 in its AS_PATH",
    "vpc_prefix": "a VPC subnet, or inside one",
    "filter_in": "not in prefix_filter_in of policy {policy}",
}


def rejection_text(code: str, family: str, policy: str | None) -> str:
    template = _REASONS.get(code)
    if template is None:
        return code
    return template.format(family=family, policy=policy or "-")


# BGP NOTIFICATION codes (RFC 4271 section 4.5, cease subcodes RFC 4486/8203/9384).
_NOTIFICATION = {1: "message header error", 2: "OPEN message error",
                 3: "UPDATE message error", 4: "hold timer expired",
                 5: "finite state machine error", 6: "cease"}
_CEASE = {1: "maximum number of prefixes reached", 2: "administrative shutdown",
          3: "peer de-configured", 4: "administrative reset", 5: "connection rejected",
          6: "other configuration change", 7: "connection collision resolution",
          8: "out of resources", 9: "hard reset", 10: "BFD down"}
_CODES = re.compile(r"\((\d+),\s*(\d+)\)")


def session_reason(text: str) -> str:
    """A speaker's down reason with its NOTIFICATION code spelled out:
    ``notification sent (4,0)`` -> ``notification sent (4,0): hold timer expired``."""
    m = _CODES.search(text)
    if m is None:
        return text
    code, sub = int(m.group(1)), int(m.group(2))
    meaning = _CEASE.get(sub) if code == 6 and sub in _CEASE else _NOTIFICATION.get(code)
    return f"{text}: {meaning}" if meaning and meaning not in text else text


# --- routes ---------------------------------------------------------------------------------
class RouteNews:
    """What one (link, family) heard in a batch: prefixes received and withdrawn, in order.
    A prefix withdrawn then announced again in the same batch counts as received only;
    ``cause`` is ``replay`` for a speaker's snapshot replayed after a (re)connect."""

    __slots__ = ("cause", "received", "withdrawn")

    def __init__(self) -> None:
        self.received: dict[str, None] = {}
        self.withdrawn: dict[str, None] = {}
        self.cause = "update"

    def receive(self, prefix: str) -> None:
        self.withdrawn.pop(prefix, None)
        self.received[prefix] = None

    def withdraw(self, prefix: str) -> None:
        self.received.pop(prefix, None)
        self.withdrawn[prefix] = None


def route_event(link_id: str, link_name: str, family: str,
                verdicts: Iterable[tuple[str, str | None]], withdrawn: Iterable[str] = (),
                policy: str | None = None, cause: str = "update",
                sample: int = SAMPLE) -> Json | None:
    """One ``routes`` event from ``(prefix, rejection code or None)`` pairs and withdrawn
    prefixes (one pass over each: O(batch)); None when there is nothing to say."""
    accepted: list[str] = []
    n_accepted = 0
    groups: dict[str, list[Any]] = {}  # code -> [count, sample]
    for prefix, code in verdicts:
        if code is None:
            n_accepted += 1
            if len(accepted) < sample:
                accepted.append(prefix)
            continue
        g = groups.setdefault(code, [0, []])
        g[0] += 1
        if len(g[1]) < sample:
            g[1].append(prefix)
    gone: list[str] = []
    n_withdrawn = 0
    for prefix in withdrawn:
        n_withdrawn += 1
        if len(gone) < sample:
            gone.append(prefix)
    n_rejected = sum(g[0] for g in groups.values())
    if not (n_accepted or n_rejected or n_withdrawn):
        return None
    rejections = [{"reason": code, "message": rejection_text(code, family, policy),
                   "count": count, "sample": prefixes}
                  for code, (count, prefixes) in sorted(groups.items(),
                                                        key=lambda kv: (-kv[1][0], kv[0]))]
    return {"type": "routes", "cause": cause, "link_id": link_id, "link_name": link_name,
            "family": family, "accepted": n_accepted, "rejected": n_rejected,
            "withdrawn": n_withdrawn, "accepted_sample": accepted,
            "withdrawn_sample": gone, "rejections": rejections, "batches": 1}


def merge_routes(a: Json, b: Json, sample: int = SAMPLE) -> Json:
    """Two routes events of one (link, family, cause) as one: counts added, samples kept
    to ``sample`` (O(reasons), whatever the routes)."""
    out = dict(a)
    for key in ("accepted", "rejected", "withdrawn"):
        out[key] = int(a.get(key, 0)) + int(b.get(key, 0))
    for key in ("accepted_sample", "withdrawn_sample"):
        out[key] = (list(a.get(key) or []) + list(b.get(key) or []))[:sample]
    groups = {r["reason"]: dict(r) for r in a.get("rejections") or []}
    for r in b.get("rejections") or []:
        g = groups.get(r["reason"])
        if g is None:
            groups[r["reason"]] = dict(r)
        else:
            g["count"] += r["count"]
            g["sample"] = (list(g["sample"]) + list(r["sample"]))[:sample]
    out["rejections"] = sorted(groups.values(), key=lambda r: (-r["count"], r["reason"]))
    out["batches"] = int(a.get("batches", 1)) + int(b.get("batches", 1))
    return out


def verdict_changes(prefixes: Iterable[str], old: Mapping[str, str],
                    new: Mapping[str, str]) -> Iterator[tuple[str, str | None]]:
    """The prefixes whose verdict differs between two rejection maps (prefix -> code;
    absent: accepted), with the new verdict."""
    for p in prefixes:
        after = new.get(p)
        if old.get(p) != after:
            yield p, after


# --- links and policies ----------------------------------------------------------------------
@dataclass(frozen=True)
class LinkFacts:
    """What the feed compares of a link before and after an operation."""

    id: str
    name: str
    policies: tuple[tuple[str, str | None], ...]  # (family, policy id)
    propagation: bool
    vpc_id: str | None


def facts(link: Link) -> LinkFacts:
    return LinkFacts(link.id, link.name, (("ipv4", link.routing_policy_v4_id),
                                          ("ipv6", link.routing_policy_v6_id)),
                     link.enable_route_propagation, link.vpc_id)


def link_event(action: str, link: Link) -> Json:
    """``created`` / ``deleted`` (its lifecycle says how far: deprovisioning, deleted)."""
    return {"type": "link", "action": action, "link_id": link.id, "link_name": link.name,
            "lifecycle": link.lifecycle}


def link_changes(before: LinkFacts | None, after: LinkFacts,
                 policy_names: Mapping[str, str]) -> list[Json]:
    """Policy, propagation and VPC events for what differs between ``before`` and
    ``after`` (None before: a new link, nothing to compare)."""
    if before is None:
        return []
    base = {"link_id": after.id, "link_name": after.name}
    out: list[Json] = []
    old_pol = dict(before.policies)
    for fam, pid in after.policies:
        was = old_pol.get(fam)
        if was == pid:
            continue
        ev: Json = {"type": "policy", **base, "family": fam}
        if pid is None:
            ev |= {"action": "detached", "policy_id": was,
                   "policy_name": policy_names.get(was or "", was)}
        else:
            ev |= {"action": "attached" if was is None else "replaced", "policy_id": pid,
                   "policy_name": policy_names.get(pid, pid)}
            if was is not None:
                ev |= {"old_policy_id": was, "old_policy_name": policy_names.get(was, was)}
        out.append(ev)
    if before.propagation != after.propagation:
        out.append({"type": "propagation", **base, "enabled": after.propagation})
    if before.vpc_id != after.vpc_id:
        out.append({"type": "vpc", **base,
                    "action": "detached" if after.vpc_id is None else "attached",
                    "vpc_id": after.vpc_id or before.vpc_id})
    return out


def policy_event(action: str, policy: Mapping[str, Any], before: Mapping[str, Any] | None = None,
                 links: Iterable[str] = (), sample: int = SAMPLE) -> Json:
    """``created`` / ``edited`` / ``deleted`` from the policy's API JSON; ``edited`` says what
    changed (prefix lists as counts of added and removed entries, with a sample)."""
    ev: Json = {"type": "policy", "action": action, "policy_id": policy.get("id"),
                "policy_name": policy.get("name"),
                "family": "ipv6" if policy.get("is_ipv6") else "ipv4",
                "entries": {"in": len(policy.get("prefix_filter_in") or ()),
                            "out": len(policy.get("prefix_filter_out") or ())}}
    users = sorted(links)
    if users:
        ev["links"] = users
    if before is None:
        return ev
    changes: list[Json] = []
    for key in ("prefix_filter_in", "prefix_filter_out"):
        old, new = before.get(key) or [], policy.get(key) or []
        if old == new:
            continue
        olds, news = set(old), set(new)
        added = [p for p in new if p not in olds]
        removed = [p for p in old if p not in news]
        changes.append({"field": key, "added": len(added), "removed": len(removed),
                        "sample": ([f"+{p}" for p in added[:sample]]
                                   + [f"-{p}" for p in removed[:sample]])})
    for key in ("name", "tags"):
        if before.get(key) != policy.get(key):
            changes.append({"field": key, "old": before.get(key), "new": policy.get(key)})
    ev["changes"] = changes
    return ev


# --- the ring and --since ---------------------------------------------------------------------
@dataclass(frozen=True)
class Since:
    """Where a replay starts: after event ``id``, or at epoch ``time``."""

    id: int | None = None
    time: float | None = None

    def admits(self, event: Mapping[str, Any]) -> bool:
        if self.id is not None:
            return int(event.get("id", 0)) > self.id
        return float(event.get("time", 0)) >= (self.time or 0.0)


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float | None:
    """``90s``, ``5m``, ``1h30m``, ``250ms`` -> seconds; None if not a duration."""
    t = text.strip().lower()
    if not t:
        return None
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(t) else None


def parse_since(text: str, now: float) -> Since:
    """``--since``: an event id (digits: replay after it; 0 is everything kept), a
    duration back from ``now`` (5m, 1h30m) or an ISO 8601 time (local time unless it says
    its zone). ValueError names the three forms."""
    t = text.strip()
    if t.isdigit():
        return Since(id=int(t))
    seconds = parse_duration(t)
    if seconds is not None:
        return Since(time=now - seconds)
    try:
        when = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: expected an event id (digits), a duration "
                         "(30s, 5m, 1h30m) or an ISO time (2025-01-31T12:00:00)") from None
    return Since(time=when.timestamp())


class Ring:
    """The latest ``capacity`` events, oldest first; ``add`` stamps ``id`` and ``time``."""

    def __init__(self, capacity: int = RING_SIZE):
        self.events: deque[Json] = deque(maxlen=capacity)
        self.last_id = 0

    def add(self, event: Json, now: float) -> Json:
        self.last_id = max(self.last_id + 1, int(now * 1_000_000))
        stamped = {"id": self.last_id, "time": now, **event}
        self.events.append(stamped)
        return stamped

    def since(self, since: Since) -> list[Json]:
        """The events kept that ``since`` admits, oldest first (a scan from the newest end:
        a recent cursor costs little)."""
        out: list[Json] = []
        for ev in reversed(self.events):
            if not since.admits(ev):
                break
            out.append(ev)
        out.reverse()
        return out
