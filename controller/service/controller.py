"""The controller: owns the InterLink resources and makes the data plane match them.

It composes the parts: the inventory (``controller.core.inventory``, pure) and its records
(``records``), the API operations (``operations``, served by ``controller.api.http``), the
data-plane state and the BGP events (``dataplane``), and the event bus (``bus``); the lab
plugs in through the ports (``ports``). Every change (an API call or a batch of BGP events)
runs under one asyncio lock: validate + mutate the inventory, persist, then reconcile and
apply the difference to the speakers (ExaBGP API) and the kernel tables.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable

from controller.core.catalog import Catalog
from controller.core.catalog import load as load_catalog
from controller.core.events import Event
from controller.core.inventory import Inventory
from controller.core.model import Link, RoutingPolicy, Vpc
from controller.core.pools import Network
from controller.drivers.store import Store
from controller.service.bus import EventBus
from controller.service.dataplane import DataPlane
from controller.service.operations import Operations
from controller.service.ports import Diagnose, Hub, Speakers, Tables, Wiring
from controller.service.records import Records


class Controller:
    """``reserved``: prefixes the data plane uses itself; no private network may overlap them.
    ``diagnose`` explains a silent session down (``ports.Diagnose``)."""

    def __init__(self, store: Store, hub: Hub, speakers: Speakers,
                 table_for: Callable[[str], Tables], wiring: Wiring,
                 catalog: Catalog | None = None, diagnose: Diagnose | None = None,
                 reserved: Iterable[Network] = ()):
        self.catalog = catalog if catalog is not None else load_catalog()
        self._inv = Inventory(reserved=tuple(reserved))
        lock = asyncio.Lock()
        self.bus = EventBus()
        self._records = Records(store, self._inv)
        self._dataplane = DataPlane(self._inv, lock, self._records, self.bus, hub, speakers,
                                    table_for, wiring, diagnose)
        # What the HTTP API serves (controller.api.http.ControllerApi).
        self.api = Operations(self._inv, lock, self._records, self._dataplane, wiring,
                              self.bus, self.catalog)

    def load(self) -> None:
        """The resources as stored (a restart, or nothing on a first start)."""
        self._records.load()

    def seed(self, vpcs: Iterable[Vpc], policies: Iterable[RoutingPolicy],
             links: Iterable[Link]) -> None:
        """First start of a lab: the scenario's resources, stored in one transaction."""
        self._records.seed(vpcs, policies, links)

    async def start(self, replay_deadline: float = 5.0) -> None:
        """Adopt the kernel tables and the speakers, then reconcile once they replayed."""
        await self._dataplane.start(replay_deadline)

    async def close(self, stop_speakers: bool = True) -> None:
        await self._dataplane.close(stop_speakers)

    @property
    def replayed(self) -> asyncio.Event:
        """Set once every speaker's snapshot is in: statuses are true from then on."""
        return self._dataplane.replayed

    def on_event(self, speaker: str, event: Event) -> None:
        """Called by the hub for every event of a Scaleway-side speaker, in order."""
        self._dataplane.on_event(speaker, event)

    def on_connect(self, speaker: str) -> None:
        """A bridge (re)connected: its snapshot replay follows and is the complete state."""
        self._dataplane.on_connect(speaker)

    def on_disconnect(self, speaker: str) -> None:
        """A bridge's connection ended: a speaker we did not stop is restarted."""
        self._dataplane.on_disconnect(speaker)

    async def reconnect(self, link_id: str, families: Iterable[str]) -> list[str]:
        """Have the link's Scaleway speaker retry its down sessions of ``families`` (``ipv4``,
        ``ipv6``) now instead of after ExaBGP's reconnect backoff (up to 60 s), e.g. once a
        cut is over. Sessions that are up are left alone. Returns the families retried;
        unknown link: the inventory's NotFound; unknown family: ValueError (nothing done)."""
        return await self._dataplane.kick(link_id, families)

    async def node_replaced(self, netns: str) -> None:
        """The namespace ``netns`` is new (its node restarted): re-apply its kernel table
        (the ``Tables`` port is asked for it again) and everything else that is missing."""
        await self._dataplane.node_replaced(netns)

    def links(self) -> list[Link]:
        """Copies of the links as committed: a change mutates and stores them without
        awaiting in between, so no reader sees half of one."""
        return [copy.deepcopy(lk) for lk in self._inv.links.values()]
