"""What a customer announces: validation, and the book of base + run-time announcements.

Shared by every customer router kind (ExaBGP, FRR, BIRD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core.model import ArgumentError
from controller.core.prefixes import PrefixError, covers, parse_prefix, prefix_entry
from controller.drivers.store import Store
from lab.scenario.model import FORBIDDEN_PREFIXES, host_conflict

# host_conflict's rule for a routed prefix (inside a forbidden network), as integers
_FORBIDDEN = tuple((n.version, int(n.network_address), n.prefixlen) for n in FORBIDDEN_PREFIXES)


def validate_announcement(prefixes: Iterable[Any], communities: Iterable[Any]) -> tuple[
        list[str], tuple[str, ...]]:
    details = []
    clean: list[str] = []
    for i, p in enumerate(prefixes):
        entry = prefix_entry(p)  # 100k prefixes in one request: the fast path first
        if entry is not None and not any(covers(bad, entry) for bad in _FORBIDDEN):
            clean.append(p)
            continue
        try:
            net = parse_prefix(p)
        except PrefixError as exc:
            details.append({"argument_name": f"prefixes.{i}", "reason": "constraint",
                            "help_message": str(exc)})
            continue
        why = host_conflict(net, routed=True)  # the scenario files' rule
        if why is not None:
            details.append({"argument_name": f"prefixes.{i}", "reason": "constraint",
                            "help_message": why})
        else:
            clean.append(str(net))
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
    """What the customer announces: base prefixes (scenario) + run-time changes in the Store.

    Entries are general (every session of the customer) or for one link, which overrides the
    general entry of the same prefix on that link's sessions (e.g. a high-preference community
    on the primary link only). Store scheme, shared by all customers: kind ``customer_route``,
    id ``<name>/<prefix>`` or ``<name>/<link>/<prefix>``, body ``{"customer", "prefix",
    "communities", "link"}``; kind ``customer_withdrawn`` for base prefixes withdrawn at run
    time. Bodies without ``customer`` belong to the customer named ``customer``.
    """

    store: Store
    name: str
    base: Mapping[str, tuple[str, ...]]
    link_base: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    _cache: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def _mine(self, body: Mapping[str, Any]) -> bool:
        return body.get("customer", "customer") == self.name

    def _key(self, prefix: str, link: str | None) -> str:
        return f"{self.name}/{prefix}" if link is None else f"{self.name}/{link}/{prefix}"

    def _entries(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """This customer's run-time entries, by store id: (announced, withdrawn). Read from
        the store once, then kept in step with it (decoding 100k rows per call made each
        announce of a big table slower than the last)."""
        if self._cache is None:
            self._cache = tuple(  # type: ignore[assignment]
                {self._key(d["prefix"], d.get("link")): d for d in self.store.all(kind)
                 if self._mine(d)} for kind in ("customer_route", "customer_withdrawn"))
        assert self._cache is not None
        return self._cache

    def desired(self, link: str | None = None) -> dict[str, tuple[str, ...]]:
        """Prefix -> communities for the sessions of ``link`` (None: general entries only)."""
        announced, gone = self._entries()
        routes, withdrawn = list(announced.values()), list(gone.values())
        out = dict(self.base)
        for d in routes:
            if d.get("link") is None:
                out[d["prefix"]] = tuple(d["communities"])
        if link is not None:
            out.update({p: c for (lk, p), c in self.link_base.items() if lk == link})
            for d in routes:
                if d.get("link") == link:
                    out[d["prefix"]] = tuple(d["communities"])
        for d in withdrawn:
            if d.get("link") in (None, link):
                out.pop(d["prefix"], None)
        return out

    def announce(self, clean: Sequence[str], comms: Sequence[str],
                 link: str | None = None) -> None:
        """``clean``, ``comms``: as ``validate_announcement`` returns them (the routers
        validate before anything else: 100k prefixes are not parsed twice)."""
        announced, gone = self._entries()
        bodies = {self._key(p, link): {"customer": self.name, "prefix": p,
                                       "communities": list(comms), "link": link}
                  for p in clean}
        with self.store.transaction() as tx:
            tx.put_many("customer_route", bodies)
            for key in bodies.keys() & gone.keys():
                tx.delete("customer_withdrawn", key)
        announced.update(bodies)  # once committed
        for key in bodies:
            gone.pop(key, None)

    def withdraw(self, clean: Sequence[str], link: str | None = None) -> list[str]:
        """Returns the prefixes that were announced (on ``link``'s sessions), each once; the
        others are not an error: there was nothing to withdraw. ``clean``: as
        ``validate_announcement`` returns them."""
        before = self.desired(link)
        done = [p for p in dict.fromkeys(clean) if p in before]
        based = set(self.base) | {p for (lk, p) in self.link_base if link in (None, lk)}
        announced, gone = self._entries()
        went: dict[str, dict[str, Any]] = {}
        with self.store.transaction() as tx:
            for p in clean:
                key = self._key(p, link)
                if key in announced:
                    tx.delete("customer_route", key)
                if p in based:  # a scenario prefix stays withdrawn until re-announced
                    went[key] = {"customer": self.name, "prefix": p, "link": link}
                    tx.put("customer_withdrawn", key, went[key])
        for p in clean:  # once committed
            announced.pop(self._key(p, link), None)
        gone.update(went)
        return done

    def as_list(self) -> list[dict[str, Any]]:
        out = [{"prefix": p, "communities": list(c), "link": None}
               for p, c in sorted(self.desired().items())]
        links = sorted({lk for lk, _ in self.link_base}
                       | {d["link"] for d in self._entries()[0].values() if d.get("link")})
        for lk in links:
            general = self.desired()
            out += [{"prefix": p, "communities": list(c), "link": lk}
                    for p, c in sorted(self.desired(lk).items()) if general.get(p) != c]
        return out


def split_base(base: Iterable[Any]) -> tuple[dict[str, tuple[str, ...]],
                                             dict[tuple[str, str], tuple[str, ...]]]:
    """(general, per-link) base announcements; see ``normalise_base`` for accepted items."""
    general: dict[str, tuple[str, ...]] = {}
    per_link: dict[tuple[str, str], tuple[str, ...]] = {}
    for item in base:
        link = getattr(item, "link", None) or (
            item.get("link") if isinstance(item, Mapping) else None)
        for prefix, comms in normalise_base([item]).items():
            if link:
                per_link[(link, prefix)] = comms
            else:
                general[prefix] = comms
    return general, per_link


def normalise_base(base: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Base announcements: prefixes, ``(prefix, communities)`` pairs,
    ``{"prefix", "communities"}`` dicts or objects with ``.prefix`` and ``.communities``
    (lab.scenario.parse.AnnounceSpec); validated like runtime announcements."""
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
