"""What a customer router kind is: the router the lab daemon drives, what the daemon lends it,
and the declaration every kind module ends with (``KIND = RouterKind(...)``).

The daemon treats every kind alike: it builds a router with ``kind.factory(customer, context)``,
``start()``s it, ``update()``s it when the topology changes and ``close()``s it. A router that
needs the lab's ExaBGP speakers (the ExaBGP kind) finds them in its context; routers running
their own daemons ignore that part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.core.events import Event
from controller.drivers.exabgp_config import NeighborConfig
from controller.drivers.speaker import SpeakerHub
from controller.drivers.store import Store
from lab.dataplane.nodes import runtime_for
from lab.scenario.topology import CustomerSession, CustomerWiring


class SpeakerListener(Protocol):
    """Receives the hub events of one speaker (see ``RouterContext.listen``)."""

    def on_connect(self) -> None:
        """The speaker's bridge (re)connected; its snapshot replay follows."""

    def on_event(self, event: Event) -> None:
        """One event of the speaker, in order."""


@dataclass(frozen=True)
class RouterContext:
    """What the lab daemon lends one customer router."""

    store: Store  # the lab's store: announcements persist there
    workdir: Path  # the router's own directory (created by the router when it needs one)
    hold_time: int  # the scenario's BGP hold time
    hub: SpeakerHub  # the bridges of the lab's ExaBGP speakers
    # Start the named ExaBGP speaker in a netns with these neighbors, or reload it if its
    # configuration changed (blocking); the speakers adapter renders the file.
    ensure_speaker: Callable[[str, str, Sequence[NeighborConfig]], None]
    # Route the hub events of a speaker to a listener; returns the call that stops it.
    listen: Callable[[str, SpeakerListener], Callable[[], None]]
    # The PID of the named ExaBGP speaker, None if it is not running.
    speaker_pid: Callable[[str], int | None] = lambda _name: None
    # The API ids of the links, by scenario name (a user's config template may use them).
    link_ids: Callable[[], Mapping[str, str]] = lambda: {}


class RouterDown(RuntimeError):
    """A command went to a router whose daemon is not running (the lab API answers 409)."""

    def __init__(self, node: str, daemon: str):
        super().__init__(f"{daemon} is not running on {node}: `interlink-lab fault restore` "
                         "starts it again")
        self.node, self.daemon = node, daemon


class RouterOwnConfig(RuntimeError):
    """A lab-driven announcement went to a router running the user's own configuration
    (the lab API answers 409): its announcements are the user's file's business."""

    def __init__(self, customer: str, config: str):
        super().__init__(f"customer {customer!r} runs its own router configuration ({config}): "
                         "announce prefixes there (e.g. from {{ prefixes }}), not through the lab")
        self.customer, self.config = customer, config


class CustomerRouter(Protocol):
    """A customer router as the lab daemon and its API drive it.

    Routers outlive the daemon: ``start()`` adopts what is already running, ``close()`` leaves
    the BGP sessions up.
    """

    netns: str  # the customer node's netns (node names never change)

    @property
    def name(self) -> str:
        """The customer's name."""

    @property
    def sessions(self) -> Sequence[CustomerSession]:
        """The BGP sessions it holds (each names its link)."""

    async def start(self) -> None:
        """Bring the router up (adopting a running one), announcing what is due."""

    async def update(self, customer: CustomerWiring) -> None:
        """The topology changed: take the customer's new namespace name and sessions."""

    async def close(self) -> None:
        """Detach from the router; its BGP sessions keep running."""

    async def announce(self, prefixes: Sequence[Any], communities: Sequence[Any],
                       link: str | None = None) -> int:
        """Announce (persisted); ArgumentError on bad input; returns how many.
        ``link``: on that link's sessions only (kinds with per-link sessions)."""

    async def withdraw(self, prefixes: Sequence[Any], link: str | None = None) -> int:
        """Withdraw (persisted); ArgumentError on bad input; returns how many."""

    def announced(self) -> list[dict[str, Any]]:
        """``[{"prefix", "communities", "link"}]`` sorted by prefix."""

    def learned(self) -> list[dict[str, Any]]:
        """``[{"prefix", "via"}]``: routes installed in the router's kernel table."""

    def sessions_state(self) -> dict[str, str]:
        """``{peer_address: "up"|"down"}``."""

    def session_details(self) -> dict[str, dict[str, Any]] | None:
        """``{peer: {"state", "bgp_state", "reason"}}``, or None if the kind knows no more
        than ``sessions_state``."""

    @property
    def main_daemon(self) -> str:
        """The daemon holding the BGP sessions (``exabgp``, ``bgpd``, ``bird``)."""

    def daemons(self) -> dict[str, int | None]:
        """Each daemon of the router, in start order: its PID, None when it is not running."""

    def kill(self, daemon: str) -> int:
        """Kill ``daemon`` by PID (SIGKILL, a crash); returns the PID; ValueError if the kind
        has no such daemon, RouterDown if it is not running."""

    async def restart(self) -> list[str]:
        """Start the daemons that are not running, announcements included; returns them."""

    async def node_replaced(self) -> None:
        """The router's node is new (a restarted container: a fresh network namespace, its
        daemons gone): drop what was bound to the old one; ``restart`` follows."""

    async def reconnect(self, peers: Sequence[str]) -> None:
        """Make the sessions with these peers try to connect now (a restored cut must not
        wait for a connect backoff)."""


RouterFactory = Callable[[CustomerWiring, RouterContext], CustomerRouter]


@dataclass(frozen=True)
class RouterKind:
    """One customer router kind, as its module declares it."""

    name: str  # as scenarios and `--router` spell it
    available: Callable[[], bool]  # whether its programs are installed
    kernel_proto: str  # the `proto` of the routes it installs in the kernel (`ip route`)
    # True: one session per link and family, announcements per link (redundant customers);
    # False: one session per family, announcements for all of them.
    per_link_sessions: bool
    factory: RouterFactory  # a router for a customer of the topology (not started)
    # Whether it can run a configuration the user wrote (scenario `config:`).
    own_config: bool = False

    def refusal(self, customer: CustomerWiring) -> str | None:
        """Why this kind cannot be ``customer``'s router; None if it can."""
        if customer.config is not None and not self.own_config:
            able = "frr or bird"
            return (f"customer {customer.name!r} has a config of its own ({customer.config}); "
                    f"the {self.name} router runs the lab's generated configuration (use "
                    f"router {able})")
        if customer.image is not None and runtime_for(customer.netns).name == "netns":
            return (f"customer {customer.name!r} names an image ({customer.image}): images need "
                    "a container runtime; the netns runtime runs the host's own daemons")
        if self.per_link_sessions:
            return None
        families = [s.family for s in customer.sessions]
        shared = sorted({f for f in families if families.count(f) > 1})
        if shared:
            return (f"customer {customer.name!r} has several {shared[0]} sessions (one per "
                    f"link); the {self.name} router holds one session per family")
        if any(a.link for a in customer.announce):
            return (f"customer {customer.name!r} announces per link; the {self.name} router "
                    "holds one session per family")
        return None
