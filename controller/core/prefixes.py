"""Prefix parsing and InterLink's allowed-routes matching (pure).

InterLink filter entries are *ranges*: a route passes an entry when the route lies inside it
and is at least as specific (``10.0.0.0/8`` admits ``10.1.0.0/16``, never ``0.0.0.0/0``).
There are no le/ge knobs.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
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


def _canonical_fast(text: str) -> tuple[int, int, int] | None:
    """(version, network int, prefixlen) of a prefix already written canonically (as
    ``str(ip_network(text))`` would write it, host bits clear); None for anything else.

    libc's inet_pton/inet_ntop are ~30x faster than ``ipaddress``: a maximal policy (2 x 10k
    prefixes) is then parsed in ~20 ms of CPU instead of ~0.9 s, which other requests would
    wait behind for the GIL. Any other spelling, and every error, takes the exact path."""
    addr, sep, plen_text = text.partition("/")
    if not sep or not plen_text.isdigit() or not plen_text.isascii() or (
            len(plen_text) > 1 and plen_text[0] == "0"):
        return None
    family, version, bits = ((socket.AF_INET6, 6, 128) if ":" in addr
                             else (socket.AF_INET, 4, 32))
    try:
        packed = socket.inet_pton(family, addr)
    except (OSError, ValueError):
        return None
    # glibc writes IPv4-mapped IPv6 with a dotted quad where ipaddress does not
    if socket.inet_ntop(family, packed) != addr or (version == 6 and "." in addr):
        return None
    plen, value = int(plen_text), int.from_bytes(packed, "big")
    if plen > bits or value & ((1 << (bits - plen)) - 1):
        return None
    return version, value, plen


def canonical_prefix(text: str, *, ipv6: bool | None = None) -> str:
    """``str(parse_prefix(text, ipv6=ipv6))``, fast for prefixes already written so."""
    fast = _canonical_fast(text) if isinstance(text, str) else None
    if fast is not None and (ipv6 is None or (fast[0] == 6) == ipv6):
        return text
    return str(parse_prefix(text, ipv6=ipv6))


def prefix_entry(text: str) -> tuple[int, int, int] | None:
    """(version, network int, prefixlen) of a canonically written prefix, fast; None for
    anything else (then ``parse_prefix`` says what is wrong, or normalises it)."""
    return _canonical_fast(text) if isinstance(text, str) else None


def covers(outer: tuple[int, int, int], inner: tuple[int, int, int]) -> bool:
    """``inner`` lies inside ``outer`` (both (version, network int, prefixlen))."""
    version, base, olen = outer
    iversion, value, ilen = inner
    if version != iversion or ilen < olen:
        return False
    shift = (32 if version == 4 else 128) - olen
    return (value >> shift) == (base >> shift)


def prefix_key(text: str) -> tuple[int, int, int]:
    """A sort key ordering prefixes as ``ipaddress`` does (family, address, length)."""
    return _entry(text)


def _entry(text: str) -> tuple[int, int, int]:
    fast = _canonical_fast(text)
    if fast is not None:
        return fast
    net = parse_prefix(text)
    return net.version, int(net.network_address), net.prefixlen


@functools.lru_cache(maxsize=64)
def _compile(prefixes: tuple[str, ...]) -> PrefixFilter:
    return PrefixFilter(tuple(_entry(p) for p in prefixes))


def family_of(prefix: str) -> str:
    """'ipv6' if the prefix contains ':' else 'ipv4' (cheap, for already-valid prefixes)."""
    return "ipv6" if ":" in prefix else "ipv4"


@dataclass(frozen=True)
class PrefixFilter:
    """A compiled list of range entries; ``matches`` answers in O(entries) integer ops."""

    entries: tuple[tuple[int, int, int], ...]  # (version, network int, prefixlen)

    @classmethod
    def compile(cls, prefixes: Iterable[str]) -> PrefixFilter:
        # Every reconcile compiles every policy: parsing 10k prefixes takes ~10 ms, hashing
        # them ~0.3 ms, so the same list is parsed once (and can be, off the event loop).
        return _compile(tuple(prefixes))

    def matches(self, prefix: str | Network) -> bool:
        if isinstance(prefix, str):  # per route on every reconcile: the fast parse first
            return self.matches_entry(_entry(prefix))
        return self.matches_entry((prefix.version, int(prefix.network_address),
                                   prefix.prefixlen))

    def matches_entry(self, entry: tuple[int, int, int]) -> bool:
        """``matches`` of a prefix already parsed (``prefix_key``): a route checked against
        several filters is parsed once."""
        version, addr, plen = entry
        bits = 32 if version == 4 else 128
        for ver, base, elen in self.entries:
            if ver != version or plen < elen:
                continue
            if (addr >> (bits - elen)) == (base >> (bits - elen)) if elen else True:
                return True
        return False
