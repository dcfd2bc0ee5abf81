"""The lab-only HTTP API (/lab/v1/...): nodes, routes, customer announcements, faults.

Scaleway's API has no such resources; they are how a rehearsal plays the customer's and the
circuit's part. Mounted by the daemon next to the v1beta1 routes (same token, same errors);
the partner's side and the event stream are ``partner_api`` and ``events_api``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from controller.api.http import json_body
from controller.api.middleware import json_response
from controller.core.model import ArgumentError, Link, NotFound, PreconditionFailed
from controller.service.ports import speaker_name
from lab.daemon import fault_events
from lab.dataplane import faults, impair, iproute
from lab.dataplane.nodes import runtime_for
from lab.routers import registry
from lab.routers.announcements import validate_announcement
from lab.routers.kind import CustomerRouter, RouterDown, RouterOwnConfig
from lab.scenario import impairment
from lab.scenario.impairment import ImpairmentError
from lab.scenario.topology import CustomerSession, LinkWiring, Node

STOPPED = "lab_fault_stop_node"  # store kind of the nodes stopped on purpose: id node name
KILLS = "lab_fault_kill"  # store kind of the daemons killed on purpose: id "<node>/<daemon>"
SCW_DAEMON = "exabgp"  # what runs on a Scaleway router: one speaker per link

if TYPE_CHECKING:
    from lab.daemon.main import LabDaemon


class LabApi:
    def __init__(self, daemon: LabDaemon):
        self.d = daemon

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/lab/v1/nodes", self.h_nodes)
        app.router.add_get("/lab/v1/routes", self.h_routes)
        app.router.add_post("/lab/v1/customer/announce", self.h_announce)
        app.router.add_post("/lab/v1/customer/withdraw", self.h_withdraw)
        app.router.add_get("/lab/v1/customer/routes", self.h_customer_routes)
        app.router.add_get("/lab/v1/customer/sessions", self.h_customer_sessions)
        app.router.add_get("/lab/v1/customer/diagnosis", self.h_diagnosis)
        app.router.add_post("/lab/v1/faults/cut", self.h_cut)
        app.router.add_post("/lab/v1/faults/impair", self.h_impair)
        app.router.add_post("/lab/v1/faults/restore", self.h_restore)
        app.router.add_post("/lab/v1/faults/reset", self.h_reset)
        app.router.add_post("/lab/v1/faults/kill", self.h_kill)
        app.router.add_post("/lab/v1/faults/stop-node", self.h_stop_node)
        app.router.add_post("/lab/v1/faults/start-node", self.h_start_node)
        app.router.add_get("/lab/v1/faults", self.h_faults)
        # Each fault applied is an event on the bus (`interlink-lab events`).
        app.middlewares.append(fault_events.middleware(self.d.ctrl.bus.publish, self._link_of))

    def openapi(self) -> dict[str, Any]:
        return {}  # not in the document: the lab's CLI and tests are their only clients

    async def h_nodes(self, request: web.Request) -> web.Response:
        daemons = await asyncio.to_thread(self._all_daemons)
        about = await asyncio.to_thread(
            lambda: {n.name: runtime_for(n.netns).describe(n.netns) for n in self.d.topo.nodes})
        nodes = [{"name": n.name, "netns": n.netns, "role": n.role,
                  "addresses": self.d.topo.node_addresses(n), **about[n.name],
                  **({"daemons": daemons[n.name]} if n.name in daemons else {})}
                 for n in self.d.topo.nodes]
        return json_response({"lab": self.d.lab, "nodes": nodes})

    # --- the BGP daemons of the nodes ----------------------------------------------------
    def _router_of_node(self, node: str) -> CustomerRouter | None:
        for c in self.d.topo.customers:
            if node in (c.node, c.netns) and c.name in self.d.customers:
                return self.d.customers[c.name]
        return None

    def _scw_speakers(self, netns: str) -> list[tuple[Link, str]]:
        out = []
        for link in self.d.ctrl.links():
            placement = self.d.wiring.placement(link.id)
            if placement is not None and placement.scw_netns == netns:
                out.append((link, speaker_name(link.id)))
        return out

    def _all_daemons(self) -> dict[str, list[dict[str, Any]]]:
        """Node name -> ``[{"name", "pid", "running"[, "link"]}]`` (blocking: reads /proc)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for n in self.d.topo.nodes:
            router = self._router_of_node(n.name)
            if router is not None:
                out[n.name] = [{"name": d, "pid": pid, "running": pid is not None}
                               for d, pid in router.daemons().items()]
                continue
            speakers = self._scw_speakers(n.netns)
            if speakers:
                out[n.name] = [{"name": SCW_DAEMON, "link": link.name,
                                "pid": (pid := self.d.speakers.pid(sp)),
                                "running": pid is not None} for link, sp in speakers]
        return out

    def _node_name(self, router: CustomerRouter) -> str:
        return next((c.node for c in self.d.topo.customers if c.name == router.name),
                    router.netns)

    async def h_routes(self, request: web.Request) -> web.Response:
        wanted = request.query.get("node")
        names = [n.name for n in self.d.topo.nodes]
        if wanted is not None and wanted not in names:
            raise NotFound("node", wanted)
        out = {}
        for n in self.d.topo.nodes:
            if wanted in (None, n.name):
                out[n.name] = await _kernel_routes(n.netns)
        return json_response({"routes": out})

    def _customer(self, body: dict[str, Any]) -> CustomerRouter:
        name = body.get("customer")
        if name is None:
            if len(self.d.customers) != 1:
                raise ArgumentError.one("customer", "required",
                                        f"the lab has {len(self.d.customers)} customers: "
                                        f"name one of {', '.join(sorted(self.d.customers))}")
            return next(iter(self.d.customers.values()))
        if name not in self.d.customers:
            raise NotFound("customer", str(name))
        return self.d.customers[name]

    # --- events --------------------------------------------------------------------------
    def _link_arg(self, router: CustomerRouter, body: dict[str, Any]) -> dict[str, Any]:
        link = body.get("link")
        if link is None:
            return {}
        kind = registry.get(self.d.topo.customer(router.name).router)
        if not kind.per_link_sessions:
            able = ", ".join(k.name for k in registry.kinds() if k.per_link_sessions)
            raise ArgumentError.one("link", "constraint",
                                    f"per-link announcements need a customer router kind with "
                                    f"per-link sessions ({able}); this one is {kind.name}")
        names = {s.link for s in router.sessions}
        if link not in names:  # the current API name or the id: its scenario name
            api = next((lk for lk in self.d.ctrl.links() if link in (lk.id, lk.name)), None)
            link = self.d.wiring.link_name(api.id) if api is not None else None
        if link not in names:
            raise NotFound("customer_link", str(body.get("link")))
        return {"link": link}

    async def h_announce(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        router = self._customer(body)
        try:
            n = await router.announce(_list(body, "prefixes"), _list(body, "communities"),
                                      **self._link_arg(router, body))
        except RouterDown as exc:
            return self._down(router, exc)
        except RouterOwnConfig as exc:
            return self._own_config(router, exc)
        return json_response({"announced": n})

    async def h_withdraw(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        router = self._customer(body)
        prefixes = _list(body, "prefixes")
        try:
            n = await router.withdraw(prefixes, **self._link_arg(router, body))
        except RouterDown as exc:
            return self._down(router, exc)
        except RouterOwnConfig as exc:
            return self._own_config(router, exc)
        asked = len(set(validate_announcement(prefixes, ())[0]))
        return json_response({"withdrawn": n, "not_announced": asked - n})

    def _down(self, router: CustomerRouter, exc: RouterDown) -> web.Response:
        """409: the command cannot reach a router whose daemon is dead."""
        node = self._node_name(router)
        return json_response({"type": "router_down", "node": node, "daemon": exc.daemon,
                              "message": f"{exc.daemon} is not running on {node}: "
                                         "`interlink-lab fault restore` starts it again"}, 409)

    def _own_config(self, router: CustomerRouter, exc: RouterOwnConfig) -> web.Response:
        """409: announcements of a router running the user's configuration are its file's."""
        return json_response({"type": "router_own_config", "node": self._node_name(router),
                              "customer": exc.customer, "config": exc.config,
                              "message": str(exc)}, 409)

    async def h_diagnosis(self, request: web.Request) -> web.Response:
        """Each customer router's sessions and, for those not up, why (one line each)."""
        wanted = request.query.get("customer")
        if wanted is not None and wanted not in self.d.customers:
            raise NotFound("customer", wanted)
        out = []
        for name, router in sorted(self.d.customers.items()):
            if wanted not in (None, name):
                continue
            details = await asyncio.to_thread(router.session_details) or {}
            cw = self.d.topo.customer(name)
            sessions = []
            for s in router.sessions:
                d = details.get(s.peer_address) or {}
                sessions.append({"link": s.link, "family": s.family, "peer": s.peer_address,
                                 "state": d.get("state", "unknown"),
                                 "bgp_state": d.get("bgp_state"),
                                 "why": d.get("why") or (d.get("reason")
                                                         if d.get("state") != "up" else None)})
            out.append({"customer": name, "node": self._node_name(router),
                        "router": cw.router, "config": cw.config, "sessions": sessions})
        return json_response({"customers": out})

    async def h_customer_routes(self, request: web.Request) -> web.Response:
        router = self._customer(dict(request.query))
        loop = asyncio.get_running_loop()
        learned = await loop.run_in_executor(None, router.learned)
        sessions = await loop.run_in_executor(None, router.sessions_state)
        details = await loop.run_in_executor(None, router.session_details)
        daemons = await loop.run_in_executor(None, router.daemons)
        out = {"announced": router.announced(), "learned": learned, "sessions": sessions,
               "router": {"node": self._node_name(router), "main_daemon": router.main_daemon,
                          "daemons": [{"name": d, "pid": pid, "running": pid is not None}
                                      for d, pid in daemons.items()],
                          "running": all(pid is not None for pid in daemons.values())}}
        if details is not None:
            out["session_details"] = details
        return json_response(out)

    async def h_customer_sessions(self, request: web.Request) -> web.Response:
        # The sessions alone: what a poller wants, without the (100k-long) route lists.
        router = self._customer(dict(request.query))
        sessions = await asyncio.get_running_loop().run_in_executor(None, router.sessions_state)
        return json_response({"sessions": sessions})

    def _fault_link(self, body: dict[str, Any]) -> Link:
        link_ref = body.get("link_id")
        links = self.d.ctrl.links()
        if link_ref is None and len(links) == 1:
            return links[0]
        match = [lk for lk in links if link_ref in (lk.id, lk.name)] or [
            lk for lk in links if link_ref == self.d.wiring.link_name(lk.id)]
        if not match:
            raise NotFound("link", str(link_ref))
        return match[0]

    def _link_of(self, body: dict[str, Any]) -> tuple[str, str] | None:
        """(id, name) of the link a fault request means, for its event."""
        if body.get("link_id") is None and "node" in body:
            return None
        try:
            link = self._fault_link(body)
        except NotFound:
            return None
        return link.id, link.name

    def _fault_target(self, body: dict[str, Any]) -> list[tuple[str, str, str]]:
        link = self._fault_link(body)
        family = body.get("family", "both")
        if family not in ("ipv4", "ipv6", "both"):
            raise ArgumentError.one("family", "constraint", "must be ipv4, ipv6 or both")
        fams = ("ipv4", "ipv6") if family == "both" else (family,)
        placement = self.d.wiring.placement(link.id)
        if placement is None:
            raise PreconditionFailed("not_provisioned", "the link has no data plane yet")
        return [(placement.scw_netns, link.peer_bgp_config.address(f), f) for f in fams]

    async def h_cut(self, request: web.Request) -> web.Response:
        """``mode: bgp`` (default) drops the session's BGP packets only; ``mode: link`` drops
        everything on the link's interface (a silent circuit failure)."""
        body = await json_body(request)
        targets = self._fault_target(body)
        mode = body.get("mode", "bgp")
        if mode not in ("bgp", "link"):
            raise ArgumentError.one("mode", "constraint", "must be bgp or link")
        ifname = None
        if mode == "link":
            name = self.d.wiring.link_name(self._fault_link(body).id) or ""
            ifname = self.d.topo.link(name).scw_ifname
        for netns, peer, _fam in targets:
            faults.cut(netns, peer, ifname)
        return json_response({"cut": [f for _, _, f in targets], "mode": mode})

    def _wiring(self, link: Link) -> LinkWiring:
        name = self.d.wiring.link_name(link.id)
        if self.d.wiring.placement(link.id) is None or name is None:
            raise PreconditionFailed("not_provisioned", "the link has no data plane yet")
        return self.d.topo.link(name)

    async def h_impair(self, request: web.Request) -> web.Response:
        """Impair the link's wire: ``{"link_id", "direction": both|to-vpc|to-customer,
        "delay": "20ms", "jitter", "loss": "1%", "corrupt", "duplicate", "rate": "50mbit"}``;
        replaces what was in force in that direction. A bad value changes nothing."""
        body = await json_body(request)
        values = {k: v for k, v in body.items() if k in impairment.FIELDS}
        unknown = sorted(set(body) - set(impairment.FIELDS) - {"link_id", "direction"})
        try:
            if unknown:
                raise ImpairmentError(f"unknown impairment {unknown[0]!r} (known: "
                                      f"{', '.join(impairment.FIELDS)})")
            way = impairment.direction(body.get("direction", "both"))
            imp = impairment.parse(values)
        except ImpairmentError as e:
            field = str(e).split(":", 1)[0] if ":" in str(e) else "impairment"
            raise ArgumentError.one(field, "constraint", str(e)) from None
        link = self._fault_link(body)
        w = self._wiring(link)
        try:
            await asyncio.to_thread(impair.apply, self.d.topo, w, imp, way)
        except impair.ImpairError as e:
            raise PreconditionFailed("impair_failed", str(e)) from None
        return json_response({"link_id": link.id, "link_name": link.name, "direction": way,
                              "impairment": imp.to_api()})

    async def _clear_impairments(self, links: list[Link]) -> list[dict[str, Any]]:
        out = []
        for link in links:
            name = self.d.wiring.link_name(link.id)
            if self.d.wiring.placement(link.id) is None or name is None:
                continue
            was = await asyncio.to_thread(impair.clear, self.d.topo, self.d.topo.link(name))
            out += [{"link_id": link.id, "link_name": link.name, "direction": side,
                     "impairment": imp.to_api()} for side, imp in was.items()]
        return out

    async def h_restore(self, request: web.Request) -> web.Response:
        """Undo the faults: the cuts of the link (every link without ``link_id`` when the lab
        has several), then start the customer daemons that are not running (killed on
        purpose or not). Says only what was restored; sessions retry at once."""
        body = await json_body(request)
        links = self.d.ctrl.links()
        if body.get("link_id") is not None or len(links) == 1:
            link = self._fault_link(body)
            chosen = [(link, self._fault_target(body))]
        else:
            chosen = [(lk, self._fault_target({"link_id": lk.id, "family": body.get(
                "family", "both")})) for lk in links if self.d.wiring.placement(lk.id)]
        restored: list[dict[str, Any]] = []
        # A family the link has no address of has nothing to restore (an IPv4-only link).
        chosen = [(lk, [t for t in targets if t[1]]) for lk, targets in chosen]
        for link, targets in chosen:
            modes = await asyncio.to_thread(faults.cut_modes, targets[0][0]) if targets else {}
            done = []
            for netns, peer, fam in targets:
                if await asyncio.to_thread(faults.restore, netns, peer):
                    done.append(fam)
                    restored.append({"link_id": link.id, "link_name": link.name,
                                     "family": fam, "mode": modes.get(peer, "bgp")})
            await self._reconnect(link, done)
        cleared = await self._clear_impairments([lk for lk, _ in chosen])
        stopped = {r["node"] for r in self.d.store.all(STOPPED)}
        started = await self._start_nodes([n for n in self.d.topo.nodes if n.name in stopped])
        restarted = []
        for router in list(self.d.customers.values()):
            back = await router.restart()
            if back:
                restarted.append({"node": self._node_name(router), "customer": router.name,
                                  "daemons": back})
        for rec in self.d.store.all(KILLS):
            self.d.store.delete(KILLS, f"{rec['node']}/{rec['daemon']}")
        return json_response({"restored": sorted({r["family"] for r in restored}),
                              "restored_cuts": restored, "restarted": restarted,
                              "cleared_impairments": cleared,
                              "started_nodes": started})

    async def _reconnect(self, link: Link, families: list[str]) -> None:
        """Both sides of each restored session that is down retry now: after a long cut
        ExaBGP waits up to 60 s between connection attempts. The Scaleway speaker re-arms
        those neighbors (Controller.reconnect), which is enough for an ExaBGP customer;
        FRR and BIRD are told to retry too."""
        for fam in families:
            found = self._customer_session(link, fam)
            if found is None:
                continue
            router, session = found
            if router.sessions_state().get(session.peer_address) != "up":
                await router.reconnect([session.peer_address])
        if families:
            await self.d.ctrl.reconnect(link.id, families)

    def _customer_session(self, link: Link, family: str
                          ) -> tuple[CustomerRouter, CustomerSession] | None:
        name = self.d.wiring.link_name(link.id)
        for router in self.d.customers.values():
            for s in router.sessions:
                if s.link == name and s.family == family:
                    return router, s
        return None

    async def h_reset(self, request: web.Request) -> web.Response:
        """A loud failure: the session is closed with a NOTIFICATION and kept down (cut)."""
        body = await json_body(request)
        targets = self._fault_target(body)
        link = self._fault_link(body)
        for netns, peer, _fam in targets:
            faults.cut(netns, peer)
            if self.d.hub.connected(speaker_name(link.id)):
                await self.d.hub.teardown(speaker_name(link.id), peer)
        return json_response({"reset": [f for _, _, f in targets]})

    async def h_kill(self, request: web.Request) -> web.Response:
        """Kill a BGP daemon by PID (SIGKILL: a crash). A customer router's stays dead until
        ``restore``; a Scaleway router's speakers are the controller's to restart."""
        body = await json_body(request)
        node = body.get("node")
        if not isinstance(node, str) or not node:
            raise ArgumentError.one("node", "required", "name the node whose daemon to kill")
        daemon = body.get("daemon")
        if daemon is not None and not isinstance(daemon, str):
            raise ArgumentError.one("daemon", "format", "must be a daemon name")
        names = {n.name: n for n in self.d.topo.nodes}
        n = names.get(node) or next((x for x in names.values() if x.netns == node), None)
        if n is None:
            raise NotFound("node", node)
        router = self._router_of_node(n.name)
        if router is not None:
            daemon = daemon or router.main_daemon
            try:
                pid = await asyncio.to_thread(router.kill, daemon)
            except ValueError as exc:
                raise ArgumentError.one("daemon", "constraint", str(exc)) from None
            except RouterDown as exc:
                return self._down(router, exc)
            self.d.store.put(KILLS, f"{n.name}/{daemon}", {"node": n.name, "daemon": daemon,
                                                           "customer": router.name})
            return json_response({"killed": [{"node": n.name, "daemon": daemon, "pid": pid}]})
        speakers = self._scw_speakers(n.netns)
        if not speakers:
            raise ArgumentError.one("node", "constraint",
                                    f"{n.name} runs no BGP daemon (customer and Scaleway "
                                    "routers do)")
        if (daemon or SCW_DAEMON) != SCW_DAEMON:
            raise ArgumentError.one("daemon", "constraint",
                                    f"a Scaleway router runs {SCW_DAEMON} only, not {daemon!r}")
        killed = []
        for link, sp in speakers:
            speaker_pid = self.d.speakers.pid(sp)
            if speaker_pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(speaker_pid, signal.SIGKILL)
            killed.append({"node": n.name, "daemon": SCW_DAEMON, "pid": speaker_pid,
                           "link": link.name})
        if not killed:
            return json_response({"type": "router_down", "node": n.name, "daemon": SCW_DAEMON,
                                  "message": f"{SCW_DAEMON} is not running on {n.name}"}, 409)
        return json_response({"killed": killed})

    def _node(self, body: dict[str, Any]) -> Node:
        node = body.get("node")
        if not isinstance(node, str) or not node:
            raise ArgumentError.one("node", "required", "name the node")
        for n in self.d.topo.nodes:
            if node in (n.name, n.netns):
                return n
        raise NotFound("node", node)

    async def h_stop_node(self, request: web.Request) -> web.Response:
        """The node's container is killed (a power cut): its programs and its network
        namespace, veths included, go with it; sessions through it die on the wire."""
        n = self._node(await json_body(request))
        nodes = runtime_for(n.netns)
        if not nodes.can_stop_nodes:
            raise ArgumentError.one("node", "constraint",
                                    f"stop-node needs a container runtime; {n.name} is a "
                                    f"{nodes.name} node (`up --runtime docker`)")
        if not nodes.exists(n.netns):
            return json_response({"type": "node_down", "node": n.name,
                                  "message": f"{n.name} is already stopped"}, 409)
        # Our netlink socket in it would keep the namespace, and its forwarding, alive.
        self.d.drop_table(n.netns)
        await asyncio.to_thread(nodes.stop_node, n.netns)
        await asyncio.to_thread(self._wait_unplugged, n)
        self.d.store.put(STOPPED, n.name, {"node": n.name, "at": time.time()})
        return json_response({"stopped": [n.name]})

    def _wait_unplugged(self, n: Node, timeout: float = 5.0) -> None:
        """Until the far ends of the node's veths are gone: the kernel frees a namespace
        (and its veths) only some time after its last process (seconds when many namespaces
        go at once), so the far ends are deleted here: the wire is cut now."""
        ends = [(e.netns, e.ifname) for v in self.d.topo.veths for e, o in ((v.a, v.b),
                (v.b, v.a)) if o.netns == n.netns]
        scripts: dict[str, list[str]] = {}
        for ns, ifname in ends:
            scripts.setdefault(ns, []).append(f"link del {ifname}")
        iproute.batches(scripts, "unplugging", force=True)  # one already gone is fine
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            ends = [(ns, i) for ns, i in ends if iproute.link_exists(ns, i)]
            if ends:
                time.sleep(0.01)
        if ends:
            raise PreconditionFailed("node_unplugged", f"{n.name} stopped but its links are "
                                     f"still up after {timeout:g}s: {ends}")

    async def h_start_node(self, request: web.Request) -> web.Response:
        n = self._node(await json_body(request))
        if runtime_for(n.netns).exists(n.netns):
            return json_response({"type": "node_up", "node": n.name,
                                  "message": f"{n.name} is running"}, 409)
        return json_response({"started": await self._start_nodes([n])})

    async def _start_nodes(self, nodes: list[Node]) -> list[str]:
        """Start stopped nodes again, then what lived in them: the network the lab built
        (re-created by a resync), the VPC tables, the customer daemons, the speakers."""
        gone = [n for n in nodes if not runtime_for(n.netns).exists(n.netns)]
        if not gone:
            return []
        for n in gone:
            self.d.drop_table(n.netns)
        await self.d.wiring.resync()
        for n in gone:
            self.d.store.delete(STOPPED, n.name)
            await self.d.ctrl.node_replaced(n.netns)
        renewed = {n.netns for n in gone}
        for router in list(self.d.customers.values()):
            if router.netns in renewed:
                await router.node_replaced()
            await router.restart()
        for link in self.d.ctrl.links():
            if self.d.wiring.placement(link.id) is not None:
                await self.d.ctrl.reconnect(link.id, ["ipv4", "ipv6"])
        return [n.name for n in gone]

    async def h_faults(self, request: web.Request) -> web.Response:
        out: list[dict[str, Any]] = []
        for link in self.d.ctrl.links():
            placement = self.d.wiring.placement(link.id)
            if placement is None:
                continue
            modes = await asyncio.to_thread(faults.cut_modes, placement.scw_netns)
            for peer, mode in modes.items():
                fam = "ipv6" if ":" in peer else "ipv4"
                out.append({"kind": "cut", "link_id": link.id, "link_name": link.name,
                            "family": fam, "mode": mode, "peer": peer})
            name = self.d.wiring.link_name(link.id)
            if name is not None:
                for side, imp in (await asyncio.to_thread(
                        impair.active, self.d.topo.link(name))).items():
                    out.append({"kind": "impair", "link_id": link.id, "link_name": link.name,
                                "direction": side, "impairment": imp.to_api(),
                                "summary": imp.describe()})
        stopped = {rec["node"] for rec in self.d.store.all(STOPPED)}
        out += [{"kind": "stop-node", "node": node} for node in sorted(stopped)]
        killed = {(r["node"], r["daemon"]) for r in self.d.store.all(KILLS)}
        for node, daemons in (await asyncio.to_thread(self._all_daemons)).items():
            if self._router_of_node(node) is None or node in stopped:
                continue  # Scaleway speakers: the controller restarts them
            for d in daemons:
                if not d["running"]:  # killed on purpose, or died: restore brings it back
                    out.append({"kind": "kill" if (node, d["name"]) in killed else "down",
                                "node": node, "daemon": d["name"]})
        return json_response({"faults": out})


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ArgumentError.one(key, "format", "must be a list")
    return value


async def _kernel_routes(netns: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await asyncio.to_thread(iproute.routes, netns)]
