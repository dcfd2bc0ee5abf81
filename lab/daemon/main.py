"""The per-lab daemon: Scaleway's controller plus the lab's own API, started by ``up``.

``python -m lab.daemon.main --lab NAME`` reads ``lab.json`` (written by ``up``), opens the lab's
SQLite store (seeding it from the scenario on first start only), starts or adopts the ExaBGP
speakers, and serves the HTTP API on 127.0.0.1. Restarting it after a crash resumes from the
store, the kernel tables and the bridges' snapshots.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from aiohttp import web

from controller.api.http import make_app
from controller.core.catalog import Catalog
from controller.core.events import Event
from controller.core.model import (
    BgpConfig,
    Link,
    PartnerRef,
    PrivateNetwork,
    RoutingPolicy,
    Vpc,
    new_id,
)
from controller.drivers.exabgp_config import (
    REACTOR_SPEED,
    SCW_REACTOR_SPEED_AT_SCALE,
    scw_nice,
    scw_reactor_speed,
)
from controller.drivers.procs import run_first
from controller.drivers.speaker import SpeakerHub
from controller.drivers.speaker_forkserver import Forkserver
from controller.drivers.store import Store
from controller.service.controller import Controller
from controller.service.ports import speaker_name
from lab.control.labdir import lab_dir, read_json, write_json
from lab.control.lifecycle import use_images, with_router, with_runtime
from lab.daemon.events_api import EventsApi
from lab.daemon.graph_api import PAGE_PATH, GraphApi
from lab.daemon.lab_api import LabApi
from lab.daemon.partner_api import PartnerApi
from lab.daemon.speakers import ProcessSpeakers
from lab.daemon.tables import KernelTable
from lab.daemon.wiring import RESERVED_PREFIXES, LabWiring
from lab.dataplane import impair
from lab.dataplane.nodes import DEFAULT as DEFAULT_RUNTIME
from lab.routers import registry
from lab.routers.daemon_router import DaemonError, md5_failures
from lab.routers.exabgp import speaker_for
from lab.routers.kind import CustomerRouter, RouterContext, SpeakerListener
from lab.scenario.model import Scenario
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology
from lab.scenario.world import slug

log = logging.getLogger("lab.daemon.main")
# An auto customer reloads its ExaBGP for every link wired (its configuration grows by a
# session each time): at nice 0 it took as much CPU as the controller while 100 links were
# wired (12.8 s against 10.8), and API calls waited for a CPU. At 10 it yields to the
# controller and coalesces more of those reloads (5.7 s), and its sessions still come up.
AUTO_CUSTOMER_NICE = 10


def _loose(name: str) -> str:
    return slug(name).replace("-", "")  # "free-pro", "Free Pro" and "FreePro" match


def _catalog_refs(catalog: Catalog, spec: Any) -> tuple[str, PartnerRef]:
    """PoP id and partner for a scenario link: names matched loosely against the catalog."""
    partners = [p for p in catalog.partners.values() if p.region == "fr-par"]
    partner = next((p for p in partners if _loose(p.name) == _loose(spec.partner)),
                   partners[0] if partners else None)
    pops = [p for p in catalog.pops.values()
            if partner is None or p.id in partner.pop_ids] or list(catalog.pops.values())
    pop = next((p for p in pops if spec.pop and _loose(spec.pop) in _loose(p.name)), None)
    pop = pop or (pops[0] if pops else None)
    ref = PartnerRef(partner_id=partner.id if partner else new_id(), pairing_key=new_id(),
                     l3_connectivity=partner.l3_connectivity if partner else False)
    return (pop.id if pop else new_id()), ref


def seed(ctrl: Controller, wiring: LabWiring, scenario: Scenario) -> None:
    """Turn the scenario into API resources, once: later starts load them from the store."""
    topo = wiring.topo
    vpcs = {}
    for v in scenario.vpcs:
        vpc = Vpc(id=new_id(), name=v.name)
        vpc.private_networks = [PrivateNetwork(id=new_id(), name=pn.name, subnets=list(pn.subnets),
                                               vpc_id=vpc.id) for pn in v.private_networks]
        vpcs[v.name] = vpc
    policies = {p.name: RoutingPolicy(id=new_id(), name=p.name, is_ipv6=p.is_ipv6,
                                      prefix_filter_in=list(p.prefix_filter_in),
                                      prefix_filter_out=list(p.prefix_filter_out))
                for p in scenario.routing_policies}
    links = {}
    for spec in scenario.links:
        w = topo.link(spec.name)
        pop_id, partner = _catalog_refs(ctrl.catalog, spec)
        customer = scenario.customer_by_name(spec.customer)
        link = Link(
            id=new_id(), name=spec.name, pop_id=pop_id, partner=partner,
            bandwidth_mbps=spec.bandwidth_mbps, vlan=spec.vlan, hold_time=scenario.hold_time,
            md5_password=spec.md5_password,
            scw_bgp_config=BgpConfig(asn=12876, ipv4=w.scw_v4_cidr or "", ipv6=w.scw_v6_cidr or ""),
            peer_bgp_config=BgpConfig(asn=customer.asn, ipv4=w.peer_v4_cidr or "",
                                      ipv6=w.peer_v6_cidr or ""),
            vpc_id=vpcs[spec.vpc].id if spec.vpc else None,
            enable_route_propagation=spec.enable_route_propagation,
        )
        for pname in spec.routing_policies:
            p = policies[pname]
            link.set_policy_id(p.family, p.id)
        links[spec.name] = link
    ctrl.seed(vpcs.values(), policies.values(), links.values())
    wiring.record_seed({lk.id: n for n, lk in links.items()},
                       {v.id: n for n, v in vpcs.items()})


class PortTaken(RuntimeError):
    """The lab's API port is held by another program: the lab keeps its port for its
    lifetime (SDKs configured from ``inspect`` hold it), so it fails rather than move."""


def listen_socket(port: int) -> socket.socket:
    """A bound 127.0.0.1 TCP socket for the API: ``port`` 0 picks a free one (a new lab).
    SO_REUSEADDR lets a restarted controller take its port back from TIME_WAIT connections,
    never from another listener."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise PortTaken(f"cannot listen on 127.0.0.1:{port}, this lab's API port "
                        f"({exc.strerror}): another program holds it; stop it, or "
                        "`interlink-lab down` and `up` the lab again (new port)") from None
    return sock


class RouterStartFailed(RuntimeError):
    """A customer router could not start (e.g. the user's configuration is refused)."""


class LabDaemon:
    def __init__(self, lab: str):
        self.lab = lab
        self.dir = lab_dir(lab)
        self.info = read_json(self.dir / "lab.json")
        base = load_scenario(self.info["scenario_path"])
        if self.info.get("hold_time"):
            base = dataclasses.replace(base, hold_time=int(self.info["hold_time"]))
        base = with_router(base, self.info.get("router"))  # `up --router` overrides the file
        base = with_runtime(base, self.info.get("runtime"))  # and `up --runtime`
        use_images(self.info)
        self.store = Store(self.dir / "state.db")
        self.restarted = self.store.get("lab", "scenario") is not None
        self.wiring = LabWiring(lab, self.store, base)
        self.wiring.on_change = self._on_topology_change
        self.sock = self.dir / "controller.sock"
        workdir = self.dir / "speakers"
        workdir.mkdir(exist_ok=True)
        # Already started by `up` (it imports ExaBGP meanwhile), else now; for a lab of
        # containers, only if a speaker is ever started in a namespace.
        forkserver = Forkserver.in_dir(workdir)
        if self.wiring.topo.runtime == DEFAULT_RUNTIME:
            forkserver.spawn()
        # Scaleway's speakers (one per link) and the customers' ExaBGP (one per customer)
        self.speakers = ProcessSpeakers(
            workdir, self.sock, lambda name: scw_reactor_speed(self._scw_rank(name)),
            lambda name: scw_nice(self._scw_rank(name)), forkserver=forkserver)
        self.customer_speakers = ProcessSpeakers(workdir, self.sock, self._customer_speed,
                                                 self._customer_nice, background_reloads=True,
                                                 forkserver=forkserver)
        self.hub = SpeakerHub(self.sock, self._on_event, self._on_connect, self._on_disconnect)
        self._tables: dict[str, KernelTable] = {}
        self.ctrl = Controller(self.store, self.hub, self.speakers, self._table, self.wiring,
                               diagnose=self._diagnose, reserved=RESERVED_PREFIXES)
        self.wiring.catalog = self.ctrl.catalog
        self.ctrl.load()
        if not self.restarted:
            seed(self.ctrl, self.wiring, self.wiring.scenario)
        self.customers: dict[str, CustomerRouter] = {}
        self._by_speaker: dict[str, SpeakerListener] = {}  # customer routers' speakers

    def _scw_rank(self, speaker: str) -> int:
        """The speakers of the lab's first links poll fast and take their share of the CPU,
        the others idle cheaply and yield: by the link's rank in provisioning order (links
        are wired in batches, so a count of the links at the speaker's start would depend
        on the batches)."""
        return next((i for i, lid in enumerate(self.wiring.link_names, 1)
                     if speaker_name(lid) == speaker), len(self.wiring.link_names) + 1)

    def _auto_customer(self, speaker: str) -> bool:
        """A customer the lab made for API-created links: it announces only its LAN, over a
        session per link."""
        return speaker in {speaker_for(c) for c in self.wiring.auto_customers.values()}

    def _customer_speed(self, speaker: str) -> str:
        # ExaBGP's fast loop would cost an auto customer O(links) per millisecond
        return SCW_REACTOR_SPEED_AT_SCALE if self._auto_customer(speaker) else REACTOR_SPEED

    def _customer_nice(self, speaker: str) -> int:
        return AUTO_CUSTOMER_NICE if self._auto_customer(speaker) else 0

    def _diagnose(self, speaker: str, family: str) -> str | None:
        """TCP-MD5 failures seen in the Scaleway router's namespace explain a silent down."""
        pid = self.speakers.pid(speaker)
        counters = md5_failures(pid) if pid else {}
        seen = {k: v for k, v in counters.items() if v}
        if not seen:
            return None
        return "TCP-MD5 authentication failures (" + ", ".join(
            f"{k} {v}" for k, v in sorted(seen.items())) + "): check both sides' password"

    @property
    def topo(self) -> Topology:
        return self.wiring.topo

    def drop_table(self, netns: str) -> None:
        """Forget the table of a namespace that went (its socket points into the old one)."""
        table = self._tables.pop(netns, None)
        if table is not None:
            table.close()

    def _table(self, netns: str) -> KernelTable:
        if netns not in self._tables:
            self._tables[netns] = KernelTable(netns)
        return self._tables[netns]

    # --- customer routers ------------------------------------------------------------------
    def _router_context(self, customer: str) -> RouterContext:
        return RouterContext(store=self.store, workdir=self.dir / "routers" / customer,
                             hold_time=self.wiring.scenario.hold_time, hub=self.hub,
                             ensure_speaker=self.customer_speakers.ensure,
                             listen=self._listen,
                             speaker_pid=self.speakers.pid, link_ids=self._link_ids)

    def _link_ids(self) -> dict[str, str]:
        """Scenario link name -> API id (for a user's router configuration template)."""
        return {name: lid for lid, name in self.wiring.link_names.items()}

    def _listen(self, speaker: str, listener: SpeakerListener) -> Callable[[], None]:
        self._by_speaker[speaker] = listener

        def stop() -> None:
            if self._by_speaker.get(speaker) is listener:
                del self._by_speaker[speaker]
        return stop

    async def _sync_customers(self) -> None:
        """One router per customer of the topology: start new ones, update the others."""
        wanted = {c.name: c for c in self.topo.customers}
        for name in list(self.customers):
            if name not in wanted:  # its namespace is gone with its processes
                await self.customers.pop(name).close()
        for name, cw in wanted.items():
            router = self.customers.get(name)
            if router is None:
                router = registry.get(cw.router).factory(cw, self._router_context(name))
                self.customers[name] = router
                try:
                    await router.start()
                except DaemonError as exc:  # one line: `up` shows the log's last ones
                    raise RouterStartFailed(f"customer {name!r} ({cw.router}): {exc}") from None
            else:
                await router.update(cw)

    async def _on_topology_change(self, topo: Topology) -> None:
        with contextlib.suppress(OSError, ValueError):
            info = read_json(self.dir / "lab.json")
            info["namespaces"] = list(topo.netns_names)
            write_json(self.dir / "lab.json", info)
        await self._sync_customers()

    def _on_event(self, speaker: str, event: Event) -> None:
        listener = self._by_speaker.get(speaker)
        if listener is not None:
            listener.on_event(event)
        else:
            self.ctrl.on_event(speaker, event)

    def _on_connect(self, speaker: str) -> None:
        # Called before the bridge's hello and snapshot replay, in order with them.
        listener = self._by_speaker.get(speaker)
        if listener is not None:
            listener.on_connect()
        else:
            self.ctrl.on_connect(speaker)

    def _on_disconnect(self, speaker: str) -> None:
        if speaker not in self._by_speaker:  # a Scaleway speaker: the controller restarts it
            self.ctrl.on_disconnect(speaker)

    # --- run -----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # The event loop's thread ahead of the speakers, so the API answers within ms
        # while links are wired ($ILAB_CONTROLLER_RT=0: an ordinary process).
        if os.environ.get("ILAB_CONTROLLER_RT", "1") != "0" and not run_first():
            log.info("the controller runs as an ordinary process (no real-time priority)")
        # The port first, before anything moves: the lab's, recorded at its first start.
        listener = listen_socket(int(self.info.get("port") or 0))
        port = listener.getsockname()[1]
        if self.info.get("port") != port:
            info = read_json(self.dir / "lab.json")
            info["port"] = self.info["port"] = port
            write_json(self.dir / "lab.json", info)
        if self.restarted:
            await self.wiring.resync()
        await self.hub.start()
        await self.ctrl.start()
        try:
            await self._sync_customers()
        except RouterStartFailed:
            # nothing serves yet: stop what runs here so that the process ends now
            # (`up` reports the failure and takes the lab down)
            await self.ctrl.close(stop_speakers=False)
            await self.hub.close()
            for t in self._tables.values():
                t.close()
            raise
        await asyncio.to_thread(self._start_impairments)
        # Serve only once the speakers told us their sessions: a restarted controller must
        # not answer `all_down` for links whose sessions never went down.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ctrl.replayed.wait(), timeout=5.0)
        graph = GraphApi(self.lab, lambda: self.topo, self.ctrl.api.list_links,
                         self.wiring.link_name)
        app = make_app(self.ctrl.api, self.info["token"],
                       [PartnerApi(self.ctrl.api), EventsApi(self.ctrl.bus), LabApi(self), graph],
                       pages=[PAGE_PATH])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.SockSite(runner, listener)
        await site.start()
        write_json(self.dir / "api.json", {"url": f"http://127.0.0.1:{port}",
                                           "token": self.info["token"], "pid": os.getpid()})
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("lab %s controller listening on 127.0.0.1:%d", self.lab, port)
        await stop.wait()
        log.info("stopping")
        await runner.cleanup()
        for router in self.customers.values():
            await router.close()
        # Speakers keep running: a restarted daemon adopts them; `down` kills them by netns.
        await self.ctrl.close(stop_speakers=False)
        await self.hub.close()
        for t in self._tables.values():
            t.close()
        impair.stop_all()  # held packets go now; the rules stay for the next start

    def _start_impairments(self) -> None:
        """The delays in force get their workers back; on the first start, the scenario's
        links' `impairments:` are applied."""
        impair.resume(self.topo)
        if self.restarted:
            return
        for w in self.topo.links:
            if w.impairment is not None:
                try:
                    impair.apply(self.topo, w, w.impairment, w.impair_direction)
                except impair.ImpairError as e:
                    log.error("impairments of link %s: %s", w.name, e)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lab.daemon.main")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--gate", type=int, help="wait for one byte on this descriptor "
                        "before reading the lab (end of file: exit)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.gate is not None:
        with os.fdopen(args.gate, "rb") as gate:
            if not gate.read(1):
                return  # `up` failed before its nodes were built: nothing to serve
    daemon = LabDaemon(args.lab)
    try:
        asyncio.run(daemon.run())
    except (PortTaken, RouterStartFailed) as exc:
        # one line, the log's last: `up` / `controller start` show it
        log.error("%s", " ".join(str(exc).split()))
        sys.exit(1)


if __name__ == "__main__":
    main()

