"""The ports of the controller: what a data plane (the lab) implements for it.

Every method takes plain values (ids, namespace names, prefixes, neighbor configs), never the
controller's inventory, so an implementation needs nothing of the controller's internals.
Blocking methods are called from a worker thread; ``async`` ones on the controller's loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.core.model import Link, Vpc
from controller.drivers.exabgp_config import NeighborConfig


@dataclass(frozen=True)
class LinkPlacement:
    """Where a link lives in the lab: its Scaleway router and the VPC router's view of it."""

    scw_netns: str
    transit_address: Mapping[str, str]  # family -> scw router address the VPC router routes via


class Tables(Protocol):
    """The controller's routes in one namespace's kernel table (blocking)."""

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Prefix -> gateways of what the table holds now."""
        ...

    def apply(self, add: Mapping[str, tuple[str, ...]], remove: Iterable[str],
              emptied: Mapping[tuple[str, ...], Collection[str]] | None = None
              ) -> Sequence[tuple[str, str]]:
        """Add or replace ``add``, delete ``remove``; returns the (prefix, reason) refused.
        ``emptied``: gateways no route goes through afterwards -> the prefixes of ``remove``
        through them (``reconcile.emptied``), which may go in one request each."""
        ...


class Hub(Protocol):
    """Commands to the Scaleway-side speakers over their bridges."""

    def connected(self, speaker: str) -> bool: ...
    async def announce(self, speaker: str, neighbor: str, prefixes: Sequence[str],
                       communities: Sequence[str] = ...) -> None: ...
    async def withdraw(self, speaker: str, neighbor: str, prefixes: Sequence[str]) -> None: ...


class Wiring(Protocol):
    """The data plane behind the resources: where links and VPCs live, and creating or
    removing that plumbing when links are provisioned or VPCs change."""

    def placement(self, link_id: str) -> LinkPlacement | None: ...
    def vpc_netns(self, vpc_id: str) -> str | None: ...

    async def provision(self, link: Link) -> None:
        """Build the link's plumbing; ``link`` is a copy, taken when provisioning starts."""
        ...

    async def unprovision(self, link_id: str) -> None: ...

    async def refresh(self, vpcs: Mapping[str, Vpc],
                      link_vpcs: Mapping[str, str | None]) -> None:
        """Plumb VPC routers to match ``vpcs`` (id -> VPC) and ``link_vpcs`` (link id ->
        attached VPC id)."""
        ...


class Speakers(Protocol):
    """Process management of the Scaleway-side ExaBGP speakers (blocking)."""

    def ensure(self, name: str, netns: str, neighbors: Sequence[NeighborConfig]) -> None:
        """Run speaker ``name`` in ``netns`` with these sessions (start, reload or adopt)."""
        ...

    def stop(self, name: str) -> None:
        """Stop it by PID, whatever state it is in (also a half-dead one)."""
        ...

    def alive(self, name: str) -> bool:
        """True while its process runs (cheap: the controller's watchdog polls it)."""
        ...


# Why a speaker's session of a family is down, when BGP itself cannot say (a TCP-MD5
# mismatch is silent): (speaker name, family) -> reason or None.
Diagnose = Callable[[str, str], str | None]


def speaker_name(link_id: str) -> str:
    """The name of a link's Scaleway-side speaker (and of its bridge's connection)."""
    return f"scw-{link_id[:8]}"
