"""The registry of customer router kinds: every kind module of lab/routers, by name.

A kind module declares ``KIND = RouterKind(...)`` (lab.routers.kind); registering it is its
entry in the tuple below (and its name in the import above it).
"""

from __future__ import annotations

from lab.routers import bird, exabgp, frr
from lab.routers.kind import RouterKind

# The registration line, in the order `--router` offers the kinds.
_REGISTERED = {m.KIND.name: m.KIND for m in (exabgp, frr, bird)}


class UnknownRouterKind(ValueError):
    pass


def kinds() -> tuple[RouterKind, ...]:
    return tuple(_REGISTERED.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTERED)


def get(name: str) -> RouterKind:
    try:
        return _REGISTERED[name]
    except KeyError:
        raise UnknownRouterKind(f"unknown router kind {name!r} (one of "
                                f"{', '.join(_REGISTERED)})") from None


def kernel_protos() -> tuple[str, ...]:
    """The kernel route protocols customer routers install with, each once."""
    return tuple(dict.fromkeys(k.kernel_proto for k in _REGISTERED.values()))
