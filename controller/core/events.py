"""Typed events of the ExaBGP speaker layer (pure, no I/O).

Two sources produce them:

* :func:`parse_line` reads one line that ExaBGP 5 (``encoder json``) writes to its API process.
* :func:`encode_event` / :func:`decode_event` are the codec of the bridge <-> controller wire
  protocol (see :mod:`controller.drivers.exabgp_bridge`): one compact JSON object per line whose
  ``"type"`` names the event.

ExaBGP facts relied upon (measured with 5.0.15, see ``shared/reference/speakers.md``):
acks are plain ``done`` / ``error`` lines; every reconnect attempt yields a ``connected`` /
``down`` pair; end-of-RIB is ``neighbor.message.eor`` without ``update``; IPv6 routes from FRR
and BIRD come under a global and a link-local next hop; the as-path is a dict of segments in
5.x and a plain list in 4.2.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Ack",
    "Announced",
    "BridgeHello",
    "EndOfRib",
    "Event",
    "ReplayDone",
    "Route",
    "RouteUpdate",
    "SessionState",
    "decode_event",
    "encode_event",
    "has_as_loop",
    "parse_line",
]


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    next_hop: str
    as_path: tuple[int, ...]
    communities: tuple[tuple[int, int], ...]
    family: str  # "ipv4" | "ipv6"


@dataclass(frozen=True, slots=True)
class SessionState:
    peer: str
    local: str
    state: str  # "up" | "down" | "connected"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RouteUpdate:
    peer: str
    announced: tuple[Route, ...]
    withdrawn: tuple[tuple[str, str], ...]  # (family, prefix)


@dataclass(frozen=True, slots=True)
class EndOfRib:
    peer: str
    family: str


@dataclass(frozen=True, slots=True)
class Ack:
    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class Announced:
    """What the speaker currently announces to ``peer`` (bridge snapshot, full set).

    ``prefixes`` holds ``(prefix, communities)`` pairs, communities as ``"asn:value"``.
    """

    peer: str
    prefixes: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class BridgeHello:
    """First message of every bridge connection.

    ``fresh`` is true on the first connection of a bridge process: a bridge that ExaBGP
    respawned starts with an empty snapshot, so the controller cannot trust it to be complete.
    """

    speaker: str
    pid: int
    fresh: bool


@dataclass(frozen=True, slots=True)
class ReplayDone:
    """Ends the snapshot replayed at connect: the controller now knows the full state."""

    peers: tuple[str, ...]


Event = SessionState | RouteUpdate | EndOfRib | Ack | Announced | BridgeHello | ReplayDone


def has_as_loop(route: Route, asn: int) -> bool:
    """True when ``asn`` is in the AS_PATH (ExaBGP performs no loop check itself)."""
    return asn in route.as_path


# --- ExaBGP JSON ------------------------------------------------------------------------


def _family(key: str) -> str | None:
    # "ipv4 unicast" -> "ipv4"; other SAFIs (flow, vpn, ...) are not ours
    afi, _, safi = key.partition(" ")
    if safi != "unicast" or afi not in ("ipv4", "ipv6"):
        return None
    return afi


def _as_path(raw: Any) -> tuple[int, ...]:
    if isinstance(raw, list):  # ExaBGP 4.2
        return tuple(int(a) for a in raw if isinstance(a, int | str) and str(a).isdigit())
    if isinstance(raw, dict):  # ExaBGP 5: {"0": {"element": "as-sequence", "value": [...]}}
        out: list[int] = []
        for key in sorted(raw, key=lambda k: int(k) if str(k).isdigit() else 0):
            seg = raw[key]
            values = seg.get("value", []) if isinstance(seg, dict) else []
            out.extend(int(a) for a in values if isinstance(a, int))
        return tuple(out)
    return ()


def _communities(raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        return ()
    out = []
    for c in raw:
        if isinstance(c, list) and len(c) == 2 and all(isinstance(x, int) for x in c):
            out.append((c[0], c[1]))
    return tuple(out)


def _is_link_local(nh: str) -> bool:
    try:
        return ipaddress.ip_address(nh).is_link_local
    except ValueError:
        return False


def _nlri(item: Any) -> str | None:
    if isinstance(item, dict):
        p = item.get("nlri")
        return p if isinstance(p, str) else None
    return item if isinstance(item, str) else None  # api.compact encoding


def _update(peer: str, msg: dict[str, Any]) -> RouteUpdate:
    attr = msg.get("attribute") or {}
    as_path = _as_path(attr.get("as-path"))
    communities = _communities(attr.get("community"))
    announced: dict[tuple[str, str], Route] = {}
    for fam_key, by_nh in (msg.get("announce") or {}).items():
        family = _family(fam_key)
        if family is None or not isinstance(by_nh, dict):
            continue
        for nh, items in by_nh.items():
            if not isinstance(items, list):
                continue
            for item in items:
                prefix = _nlri(item)
                if prefix is None:
                    continue
                key = (family, prefix)
                # same prefix under a global and a link-local next hop: keep the global one
                if key in announced and _is_link_local(nh):
                    continue
                announced[key] = Route(prefix, nh, as_path, communities, family)
    withdrawn: list[tuple[str, str]] = []
    for fam_key, items in (msg.get("withdraw") or {}).items():
        family = _family(fam_key)
        if family is None or not isinstance(items, list):
            continue
        for item in items:
            prefix = _nlri(item)
            if prefix is not None:
                withdrawn.append((family, prefix))
    return RouteUpdate(peer, tuple(announced.values()), tuple(withdrawn))


def parse_line(line: str) -> Event | None:
    """One line from ExaBGP's API stream -> an event, or None (ignored). Never raises."""
    try:
        return _parse_line(line)
    except Exception:  # garbage of any shape must not kill the reader
        return None


def _parse_line(line: str) -> Event | None:
    text = line.strip()
    if not text:
        return None
    if text in ("done", "error"):
        return Ack(text == "done", text)
    if text[0] != "{":
        return None
    obj = json.loads(text)
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    neighbor = obj.get("neighbor")
    if not isinstance(neighbor, dict):
        return None
    address = neighbor.get("address") or {}
    peer = str(address.get("peer", ""))
    local = str(address.get("local", ""))
    if not peer:
        return None
    if kind == "state":
        state = neighbor.get("state")
        if not isinstance(state, str):
            return None
        return SessionState(peer, local, state, str(neighbor.get("reason", "")))
    if kind == "update":
        message = neighbor.get("message")
        if not isinstance(message, dict):
            return None
        if "update" in message and isinstance(message["update"], dict):
            return _update(peer, message["update"])
        eor = message.get("eor")
        if isinstance(eor, dict):
            return EndOfRib(peer, str(eor.get("afi", "")))
    return None


# --- bridge wire codec ------------------------------------------------------------------


def _route_to_list(r: Route) -> list[Any]:
    return [r.prefix, r.next_hop, list(r.as_path), [list(c) for c in r.communities], r.family]


def _route_from_list(v: list[Any]) -> Route:
    prefix, nh, path, comms, family = v
    return Route(
        str(prefix),
        str(nh),
        tuple(int(a) for a in path),
        tuple((int(c[0]), int(c[1])) for c in comms),
        str(family),
    )


def encode_event(ev: Event) -> str:
    """Event -> one compact JSON line (no trailing newline). Routes are positional lists."""
    d: dict[str, Any]
    if isinstance(ev, RouteUpdate):
        d = {
            "type": "update",
            "peer": ev.peer,
            "announced": [_route_to_list(r) for r in ev.announced],
            "withdrawn": [list(w) for w in ev.withdrawn],
        }
    elif isinstance(ev, SessionState):
        d = {"type": "state", "peer": ev.peer, "local": ev.local, "state": ev.state}
        if ev.reason:
            d["reason"] = ev.reason
    elif isinstance(ev, EndOfRib):
        d = {"type": "eor", "peer": ev.peer, "family": ev.family}
    elif isinstance(ev, Ack):
        d = {"type": "ack", "ok": ev.ok, "text": ev.text}
    elif isinstance(ev, Announced):
        prefixes = [[p, list(c)] for p, c in ev.prefixes]
        d = {"type": "announced", "peer": ev.peer, "prefixes": prefixes}
    elif isinstance(ev, BridgeHello):
        d = {"type": "hello", "speaker": ev.speaker, "pid": ev.pid, "fresh": ev.fresh}
    elif isinstance(ev, ReplayDone):
        d = {"type": "replay_done", "peers": list(ev.peers)}
    else:  # pragma: no cover - exhaustive above
        raise TypeError(f"not an event: {ev!r}")
    return json.dumps(d, separators=(",", ":"))


def decode_event(line: str | bytes) -> Event | None:
    """Inverse of :func:`encode_event`; None for anything malformed. Never raises."""
    try:
        d = json.loads(line)
        kind = d["type"]
        if kind == "update":
            return RouteUpdate(
                str(d["peer"]),
                tuple(_route_from_list(r) for r in d["announced"]),
                tuple((str(f), str(p)) for f, p in d["withdrawn"]),
            )
        if kind == "state":
            return SessionState(
                str(d["peer"]), str(d["local"]), str(d["state"]), str(d.get("reason", ""))
            )
        if kind == "eor":
            return EndOfRib(str(d["peer"]), str(d["family"]))
        if kind == "ack":
            return Ack(bool(d["ok"]), str(d["text"]))
        if kind == "announced":
            return Announced(
                str(d["peer"]),
                tuple((str(p), tuple(str(c) for c in cs)) for p, cs in d["prefixes"]),
            )
        if kind == "hello":
            return BridgeHello(str(d["speaker"]), int(d["pid"]), bool(d["fresh"]))
        if kind == "replay_done":
            return ReplayDone(tuple(str(p) for p in d["peers"]))
    except Exception:
        return None
    return None
