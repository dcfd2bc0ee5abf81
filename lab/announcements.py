"""What a customer announces: validation, and the book of base + run-time announcements.

Shared by every customer router kind (ExaBGP, FRR, BIRD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.model import ArgumentError
from controller.prefixes import PrefixError, parse_prefix
from controller.store import Store

COMMUNITY_CHOICES = ("12876:42050", "12876:42100", "12876:42200")


@dataclass(frozen=True)
class CustomerSession:
    family: str
    local_address: str  # customer side, no prefix length
    peer_address: str  # Scaleway side


def validate_announcement(prefixes: Iterable[Any], communities: Iterable[Any]) -> tuple[
        list[str], tuple[str, ...]]:
    details = []
    clean: list[str] = []
    for i, p in enumerate(prefixes):
        try:
            clean.append(str(parse_prefix(p)))
        except PrefixError as exc:
            details.append({"argument_name": f"prefixes.{i}", "reason": "constraint",
                            "help_message": str(exc)})
    comms = tuple(communities)
    for i, c in enumerate(comms):
        parts = c.split(":") if isinstance(c, str) else []
        if len(parts) != 2 or not all(x.isdigit() and int(x) < 65536 for x in parts):
            details.append({"argument_name": f"communities.{i}", "reason": "format",
                            "help_message": f"{c!r} is not a community ASN:VALUE"})
    if details:
        raise ArgumentError(details)
    return clean, comms


@dataclass
class AnnouncementBook:
    """What the customer announces: base prefixes (scenario) + runtime changes in the Store.

    Store scheme (shared with other customers): kind ``customer_route``, id
    ``<name>/<prefix>``, body ``{"customer", "prefix", "communities"}``; kind
    ``customer_withdrawn`` (a base prefix withdrawn at run time), id ``<name>/<prefix>``,
    body ``{"customer", "prefix"}``. Bodies without ``customer`` (written by the ExaBGP
    CustomerRouter) belong to the customer named ``customer``.
    """

    store: Store
    name: str
    base: Mapping[str, tuple[str, ...]]

    def _mine(self, body: Mapping[str, Any]) -> bool:
        return body.get("customer", "customer") == self.name

    def desired(self) -> dict[str, tuple[str, ...]]:
        out = dict(self.base)
        for d in self.store.all("customer_route"):
            if self._mine(d):
                out[d["prefix"]] = tuple(d["communities"])
        for d in self.store.all("customer_withdrawn"):
            if self._mine(d):
                out.pop(d["prefix"], None)
        return out

    def announce(self, prefixes: Sequence[Any], communities: Sequence[Any]) -> list[str]:
        clean, comms = validate_announcement(prefixes, communities)
        with self.store.transaction() as tx:
            for p in clean:
                key = f"{self.name}/{p}"
                tx.put("customer_route", key,
                       {"customer": self.name, "prefix": p, "communities": list(comms)})
                tx.delete("customer_withdrawn", key)
        return clean

    def withdraw(self, prefixes: Sequence[Any]) -> list[str]:
        clean, _ = validate_announcement(prefixes, ())
        with self.store.transaction() as tx:
            for p in clean:
                key = f"{self.name}/{p}"
                tx.delete("customer_route", key)
                if p in self.base:  # a scenario prefix stays withdrawn until re-announced
                    tx.put("customer_withdrawn", key, {"customer": self.name, "prefix": p})
        return clean

    def as_list(self) -> list[dict[str, Any]]:
        return [{"prefix": p, "communities": list(c)}
                for p, c in sorted(self.desired().items())]


def normalise_base(base: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Base announcements: prefixes, ``(prefix, communities)`` pairs,
    ``{"prefix", "communities"}`` dicts or objects with ``.prefix`` and ``.communities``
    (lab.topology.AnnounceSpec); validated like runtime announcements."""
    out: dict[str, tuple[str, ...]] = {}
    prefix: Any
    for item in base:
        if isinstance(item, str):
            prefix, comms = item, ()
        elif isinstance(item, Mapping):
            prefix, comms = item.get("prefix"), tuple(item.get("communities") or ())
        elif isinstance(item, tuple | list) and len(item) == 2:
            prefix, comms = item[0], tuple(item[1])
        elif hasattr(item, "prefix") and hasattr(item, "communities"):
            prefix, comms = item.prefix, tuple(item.communities)
        else:
            raise ValueError(f"bad base announcement {item!r}")
        clean, c = validate_announcement([prefix], comms)
        out[clean[0]] = c
    return out


