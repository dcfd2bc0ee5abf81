"""The customer's router, whatever it runs: ExaBGP (lab.routers.exabgp), FRR or BIRD.

``CustomerRouterApi`` is what the lab daemon uses; ``make_router`` builds an FRR or BIRD one.
FRR and BIRD routers run real daemons inside the customer netns, install what they learn in
its kernel table themselves, and outlive the controller: ``start()`` adopts running daemons,
``close()`` leaves them running, ``stop()`` ends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from controller.drivers.store import Store
from lab.routers.announcements import CustomerSession
from lab.routers.bird import BirdRouter, bird_available
from lab.routers.daemon_router import DaemonError, DaemonRouter
from lab.routers.frr import FrrRouter, frr_available

__all__ = [
    "KINDS",
    "BirdRouter",
    "CustomerRouterApi",
    "DaemonError",
    "DaemonRouter",
    "FrrRouter",
    "available",
    "make_router",
]


@runtime_checkable
class CustomerRouterApi(Protocol):
    """The customer router as the lab daemon drives it."""

    netns: str

    async def start(self) -> None:
        """Bring the router up (adopting a running one), announcing what is due."""

    async def close(self) -> None:
        """Detach from the router; its BGP sessions keep running."""

    def stop(self) -> None:
        """Stop the router's processes (synchronous, by PID)."""

    async def announce(self, prefixes: Sequence[Any], communities: Sequence[Any]) -> int:
        """Announce (persisted); ArgumentError on bad input; returns how many."""

    async def withdraw(self, prefixes: Sequence[Any]) -> int:
        """Withdraw (persisted); ArgumentError on bad input; returns how many."""

    def announced(self) -> list[dict[str, Any]]:
        """``[{"prefix", "communities"}]`` sorted by prefix."""

    def learned(self) -> list[dict[str, Any]]:
        """``[{"prefix", "via"}]``: routes installed in the router's kernel table."""

    def sessions_state(self) -> dict[str, str]:
        """``{peer_address: "up"|"down"}``."""


KINDS = ("frr", "bird")


def available(kind: str) -> bool:
    """Whether the binaries of ``kind`` are installed."""
    if kind == "frr":
        return frr_available()
    if kind == "bird":
        return bird_available()
    raise ValueError(f"unknown router kind {kind!r} (one of {', '.join(KINDS)})")


def make_router(kind: str, store: Store, netns: str, asn: int,
                sessions: Sequence[CustomerSession], base_announce: Iterable[Any],
                hold_time: int, md5_password: str | None, workdir: Path,
                name: str = "customer") -> DaemonRouter:
    """An FRR or BIRD customer router (not started)."""
    cls: type[DaemonRouter]
    if kind == "frr":
        cls = FrrRouter
    elif kind == "bird":
        cls = BirdRouter
    else:
        raise ValueError(f"unknown router kind {kind!r} (one of {', '.join(KINDS)})")
    return cls(store, netns, asn, sessions, base_announce, hold_time, md5_password, workdir,
               name)
