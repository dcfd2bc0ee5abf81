"""Prefix parsing and InterLink's allowed-routes matching (pure).

InterLink filter entries are *ranges*: a route passes an entry when the route lies inside it
and is at least as specific (``10.0.0.0/8`` admits ``10.1.0.0/16``, never ``0.0.0.0/0``).
There are no le/ge knobs.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PrefixError(ValueError):
    """A prefix string that is not a valid network of the expected family."""


def parse_prefix(text: str, *, ipv6: bool | None = None) -> Network:
    """Parse a CIDR prefix strictly (host bits set is an error), optionally of one family."""
    if not isinstance(text, str) or "/" not in text:
        raise PrefixError(f"{text!r} is not a CIDR prefix (expected e.g. 198.51.100.0/24)")
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            raise PrefixError(f"{text!r} has host bits set") from None
        raise PrefixError(f"{text!r} is not a valid prefix") from None
    if ipv6 is not None and (net.version == 6) != ipv6:
        want = "IPv6" if ipv6 else "IPv4"
        raise PrefixError(f"{text!r} is not an {want} prefix")
    return net


@functools.lru_cache(maxsize=64)
def _compile(prefixes: tuple[str, ...]) -> PrefixFilter:
    nets = (parse_prefix(p) for p in prefixes)
    return PrefixFilter(tuple((n.version, int(n.network_address), n.prefixlen) for n in nets))


def family_of(prefix: str) -> str:
    """'ipv6' if the prefix contains ':' else 'ipv4' (cheap, for already-valid prefixes)."""
    return "ipv6" if ":" in prefix else "ipv4"


@dataclass(frozen=True)
class PrefixFilter:
    """A compiled list of range entries; ``matches`` answers in O(entries) integer ops."""

    entries: tuple[tuple[int, int, int], ...]  # (version, network int, prefixlen)

    @classmethod
    def compile(cls, prefixes: Iterable[str]) -> PrefixFilter:
        # Every reconcile compiles every policy: parsing 10k prefixes takes ~70 ms, hashing
        # them ~0.3 ms, so the same list is parsed once (and can be, off the event loop).
        return _compile(tuple(prefixes))

    def matches(self, prefix: str | Network) -> bool:
        net = parse_prefix(prefix) if isinstance(prefix, str) else prefix
        addr, plen, version = int(net.network_address), net.prefixlen, net.version
        bits = 32 if version == 4 else 128
        for ver, base, elen in self.entries:
            if ver != version or plen < elen:
                continue
            if (addr >> (bits - elen)) == (base >> (bits - elen)) if elen else True:
                return True
        return False
