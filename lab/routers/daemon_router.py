"""Shared parts of the FRR and BIRD customer routers.

- daemon processes inside a network namespace, started without systemd, found again through
  their pid files (so a restarted controller adopts them), stopped by PID;
- polling with a deadline;
- what the netns kernel table holds (the daemons install learned routes themselves);
- TCP-MD5 failure counters of a netns (a key mismatch is silent in BGP);
- input checks (ASN, hold time, MD5 password, one session per family);
- ``DaemonRouter``, the base class: announcements (lab.routers.announcements), session
  states and their reasons, adoption.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.core.prefixes import family_of
from controller.core.secrets import check_md5_password
from controller.drivers.procs import process_alive
from controller.drivers.store import Store
from lab.dataplane import iproute
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import Mount, NodeError
from lab.routers import template
from lab.routers.announcements import AnnouncementBook, normalise_base, validate_announcement
from lab.routers.diagnose import Observation, why
from lab.routers.kind import RouterContext, RouterDown, RouterOwnConfig
from lab.scenario.topology import CustomerSession, CustomerWiring

POLL = 0.01  # seconds between two looks at something we wait for
WATCH = 0.25  # seconds between two looks at the daemons' processes
log = logging.getLogger("lab.routers.daemon_router")


class DaemonError(RuntimeError):
    """A router daemon could not be started, configured or queried."""


# --- polling -----------------------------------------------------------------------------


def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``cond`` until true; returns the time it took; DaemonError after ``timeout``."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise DaemonError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(POLL)
    return time.monotonic() - t0


# --- processes -----------------------------------------------------------------------------


def run(netns: str, argv: Sequence[str], timeout: float = 10.0, check: bool = True) -> str:
    """A short command of node ``netns``: its stdout; DaemonError (with stderr) if it fails."""
    try:
        proc = runtime_for(netns).run(netns, argv, timeout=timeout)
    except NodeError as exc:
        raise DaemonError(str(exc)) from None
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip())[-500:]
        raise DaemonError(f"{' '.join(argv[:4])}... failed ({proc.returncode}): {msg}")
    return proc.stdout


def pid_from_file(pid_file: Path, marker: str, netns: str | None = None) -> int | None:
    """The host PID of the process in ``pid_file`` if it is alive and its command line holds
    ``marker`` (guards against PID reuse: pass something unique to the instance, e.g. its
    config path). A daemon writes the PID it sees: in a container, ``netns``'s runtime
    translates it."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if netns is not None:
        found = runtime_for(netns).host_pid(netns, pid)
        if found is None:
            return None
        pid = found
    if pid <= 1 or not process_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return pid if any(marker.encode() in arg for arg in cmdline) else None


def node_mounts(netns: str, wanted: Sequence[Mount]) -> list[Mount]:
    """``wanted`` as the node can take them. A container runtime binds every one (it creates
    missing targets in the container). The netns runtime shares the host's filesystem, where
    a missing target (no /run/bird on a host without BIRD's service) cannot be bound and must
    not be created: that bind is dropped (the lab's own vtysh/birdc pass explicit socket
    paths, so nothing of the lab needs it)."""
    if runtime_for(netns).name != "netns":
        return list(wanted)
    return [m for m in wanted if Path(m.target).is_dir()]


def spawn_daemon(netns: str, argv: Sequence[str], *, log_path: Path,
                 private_var_tmp: Path | None = None, timeout: float = 10.0,
                 mounts: Sequence[Mount] = ()) -> None:
    mounts = node_mounts(netns, [*mounts, *([Mount(private_var_tmp, "/var/tmp")]
                                           if private_var_tmp is not None else [])])
    try:
        runtime_for(netns).start_daemon(netns, argv, log_path=log_path, mounts=mounts,
                                        timeout=timeout)
    except NodeError as exc:
        raise DaemonError(str(exc)) from None


# --- kernel view ---------------------------------------------------------------------------


def log_tail(paths: Iterable[Path], lines: int = 5) -> list[str]:
    """The last lines of the first of ``paths`` that has any (a daemon's own log first)."""
    for p in paths:
        try:
            with open(p, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
                text = f.read().decode(errors="replace").splitlines()
        except OSError:
            continue
        text = [t for t in text if t.strip()]
        if text:
            return text[-lines:]
    return []


def l2_facts(netns: str, peer: str, ifname: str) -> tuple[str | None, int | None]:
    """The kernel's ARP/ND state of ``peer`` (None: no entry) and the packets received on
    ``ifname`` (None: unknown), read from the node's namespace."""
    state: str | None = None
    rx: int | None = None
    with contextlib.suppress(iproute.IprouteError, ValueError):
        for n in iproute.ip_json(netns, "neigh", "show", "to", peer):
            st = n.get("state") or []
            state = str(st[0] if isinstance(st, list) and st else st or "") or None
    with contextlib.suppress(iproute.IprouteError, ValueError, KeyError, IndexError):
        rx = int(iproute.ip_json(netns, "-s", "link", "show", "dev", ifname)[0]
                 ["stats64"]["rx"]["packets"])
    return state, rx


def read_kernel_routes(netns: str, proto: str) -> list[dict[str, Any]]:
    out = [{"prefix": r["prefix"], "via": r["via"]} for r in iproute.routes(netns, proto)]
    return sorted(out, key=lambda d: (family_of(d["prefix"]), d["prefix"]))


MD5_COUNTERS = ("TCPMD5Failure", "TCPMD5NotFound", "TCPMD5Unexpected")


def md5_failures(pid: int) -> dict[str, int]:
    """TCP-MD5 counters (TcpExt) of the network namespace ``pid`` lives in; {} if unknown.

    Same numbers as ``nstat -az TcpExtTCPMD5Failure`` in the netns, read without a
    subprocess and without touching nstat's history file. Failure: the peer signs with
    another key; NotFound: we expect a signature the peer does not send; Unexpected: the
    peer signs and we have no key.
    """
    try:
        lines = Path(f"/proc/{pid}/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(head.split()[1:], values.split()[1:], strict=False))
            return {k: int(table.get(k, 0)) for k in MD5_COUNTERS}
    return {}


# --- configuration input checks ------------------------------------------------------------


def validate_sessions(sessions: Iterable[CustomerSession]) -> list[CustomerSession]:
    """One session per family at most, addresses of the session's family."""
    out: list[CustomerSession] = []
    seen: set[str] = set()
    for s in sessions:
        if s.family not in ("ipv4", "ipv6"):
            raise ValueError(f"session family must be ipv4 or ipv6, not {s.family!r}")
        if s.family in seen:
            raise ValueError(f"more than one {s.family} session")
        seen.add(s.family)
        for what, addr in (("local_address", s.local_address),
                           ("peer_address", s.peer_address)):
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                raise ValueError(f"{s.family} session: {what} {addr!r} is not an IP address"
                                 ) from None
            if (ip.version == 6) != (s.family == "ipv6"):
                raise ValueError(f"{s.family} session: {what} {addr} is not {s.family}")
        out.append(s)
    if not out:
        raise ValueError("a customer router needs at least one session")
    return out


def check_asn(asn: int) -> int:
    if not isinstance(asn, int) or isinstance(asn, bool) or not 1 <= asn <= 4294967295:
        raise ValueError(f"ASN must be an integer in 1..4294967295, not {asn!r}")
    return asn


def check_hold_time(hold_time: int) -> int:
    if not isinstance(hold_time, int) or not (hold_time == 0 or 3 <= hold_time <= 65535):
        raise ValueError(f"hold time must be 0 or 3..65535 seconds, not {hold_time!r}")
    return hold_time


def check_password(password: str | None) -> str | None:
    return None if password is None else check_md5_password(password)


# --- announcements -------------------------------------------------------------------------


def community_tag(communities: Sequence[str]) -> str:
    """A stable identifier for a set of communities: ``12876-42200_12876-42100``."""
    return "_".join(c.replace(":", "-") for c in communities)


# --- the part FRR and BIRD share ------------------------------------------------------------


class DaemonRouter:
    """A customer router made of real routing daemons in ``netns``, one session per family.

    The daemons install what they learn in the netns kernel table themselves and outlive the
    controller: ``start()`` adopts running daemons, ``close()`` leaves them running,
    ``stop()`` ends them.

    Subclasses provide ``_running``, ``_start_daemons``, ``_stop_daemons``, ``_apply``
    (push the desired announcements into the running daemons), ``_peer_states`` and
    ``daemon_pids``.
    """

    NAME = "?"  # the kind's name
    KERNEL_PROTO = "?"  # how the daemon's routes show in ``ip route``
    MAIN_DAEMON = "?"  # the daemon holding the BGP sessions

    def __init__(self, store: Store, netns: str, asn: int, sessions: Sequence[CustomerSession],
                 base_announce: Iterable[Any], hold_time: int, md5_password: str | None,
                 workdir: Path, name: str = "customer", *, config: str | None = None,
                 customer: CustomerWiring | None = None,
                 link_ids: Callable[[], Mapping[str, str]] = dict):
        if not name or "/" in name:
            raise ValueError(f"bad customer name {name!r}")
        self.store, self.netns, self.name = store, netns, name
        self.asn = check_asn(asn)
        self.sessions = validate_sessions(sessions)
        self.hold_time = check_hold_time(hold_time)
        self.md5_password = check_password(md5_password)
        self.workdir = Path(workdir)
        self.dir = self.workdir / self.NAME  # the daemons' files
        self.book = AnnouncementBook(store, name, normalise_base(base_announce))
        self.lock = asyncio.Lock()
        self.adopted = False  # start() found the daemons already running
        self._md5_baseline: dict[str, int] = {}
        self._watch: asyncio.Task[None] | None = None
        self._dead: set[str] = set()  # daemons seen dead (their routes were flushed)
        # The user's own configuration (a template), rendered into the instance's directory.
        self.config = config
        self.customer = customer
        self.link_ids = link_ids
        self._config_interfaces: tuple[str, ...] = ()

    @property
    def own_config(self) -> bool:
        return self.config is not None

    def render_own_config(self, dest: Path) -> str:
        """The user's template rendered to ``dest``; DaemonError (one line) if it cannot be."""
        assert self.config is not None and self.customer is not None
        try:
            text = Path(self.config).read_text()
        except OSError as exc:
            raise DaemonError(f"cannot read {self.config}: {exc.strerror}") from None
        try:
            out = template.render_customer(text, self.config, self.customer, self.link_ids())
        except template.TemplateError as exc:
            raise DaemonError(str(exc)) from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.write_text(out)
        os.replace(tmp, dest)
        self._config_interfaces = self.interfaces_named(out)
        return out

    @staticmethod
    def interfaces_named(text: str) -> tuple[str, ...]:
        """Interfaces a configuration names (for the VLAN diagnosis); the kinds override."""
        return ()

    @classmethod
    def for_customer(cls, customer: CustomerWiring, ctx: RouterContext) -> DaemonRouter:
        """The router of a topology customer (the kind's factory)."""
        return cls(ctx.store, customer.netns, customer.asn, customer.sessions,
                   customer.announce, ctx.hold_time, customer.md5_password, ctx.workdir,
                   customer.name, config=customer.config, customer=customer,
                   link_ids=ctx.link_ids)

    @property
    def router_id(self) -> str:
        v4 = next((s.local_address for s in self.sessions if s.family == "ipv4"), None)
        return v4 or "198.51.100.1"

    def keepalive(self) -> int:
        return self.hold_time // 3

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the daemons (or adopt running ones) and make them announce what is due."""
        async with self.lock:
            desired = self._desired()
            self.adopted = await asyncio.to_thread(self._running)
            if not self.adopted:
                await asyncio.to_thread(self._stop_daemons)  # a half-dead leftover
                await asyncio.to_thread(self._start_daemons, desired)
            elif self.own_config:  # adopted: what it runs is what was rendered then
                await asyncio.to_thread(self._note_rendered)
            if not self.own_config:
                await self._apply(desired)
        self._watch = asyncio.create_task(self._watch_loop())

    async def update(self, customer: CustomerWiring) -> None:
        """The sessions are fixed for the daemons' life (a customer whose links change needs
        a kind with per-link sessions); node names never change, the netns is kept as given."""
        self.netns = customer.netns

    async def close(self) -> None:
        """Forget the daemons without stopping them: they outlive a controller restart."""
        if self._watch is not None:
            self._watch.cancel()

    # --- the daemons' processes ----------------------------------------------------------
    @property
    def main_daemon(self) -> str:
        return self.MAIN_DAEMON

    def dead_daemons(self) -> list[str]:
        return [d for d, pid in self.daemons().items() if pid is None]

    def _check_alive(self) -> None:
        """Commands need the main daemon only (FRR: bgpd announces its ``network``
        statements without zebra, import-check being off)."""
        dead = self.dead_daemons()
        if dead:
            self._died(dead)
        if self.MAIN_DAEMON in dead:
            raise RouterDown(self.netns, self.MAIN_DAEMON)

    def kill(self, daemon: str) -> int:
        pids = self.daemons()
        if daemon not in pids:
            raise ValueError(f"the {self.NAME} router runs {', '.join(pids)}, not {daemon!r}")
        pid = pids[daemon]
        if pid is None:
            raise RouterDown(self.netns, daemon)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a crash: no NOTIFICATION, nothing cleaned up
        with contextlib.suppress(DaemonError):
            wait_until(lambda: daemon in self.dead_daemons(), 2.0, f"{daemon} to die")
        self._died([daemon])
        return pid

    def _died(self, dead: Sequence[str]) -> None:
        """A killed daemon leaves its kernel routes behind (BIRD, zebra): a dead router
        forwards nothing it learned, so they go."""
        new = set(dead) - self._dead
        if not new:
            return
        log.warning("customer %s: %s not running", self.name, ", ".join(sorted(new)))
        self._dead |= new
        # one by one: `ip route flush` fails (EINVAL) on zebra's nexthop-object routes
        for r in read_kernel_routes(self.netns, self.KERNEL_PROTO):
            with contextlib.suppress(DaemonError):
                run(self.netns, ["ip", "route", "del", r["prefix"], "proto", self.KERNEL_PROTO])

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH)
            dead = await asyncio.to_thread(self.dead_daemons)
            if dead:
                await asyncio.to_thread(self._died, dead)

    async def node_replaced(self) -> None:
        # The daemons install their own routes and died with the node: restart() suffices.
        return None

    async def restart(self) -> list[str]:
        """Start the router again if a daemon is not running (all its daemons: FRR's bgpd
        does not reconnect to a restarted zebra, measured on FRR 8.4: nothing it learned
        would reach the kernel again); returns the daemons that were not running."""
        async with self.lock:
            dead = await asyncio.to_thread(self.dead_daemons)
            if not dead:
                return []
            desired = self._desired()
            await asyncio.to_thread(self._stop_daemons)
            await asyncio.to_thread(self._start_daemons, desired)
            if not self.own_config:
                await self._apply(desired)
            self._dead.clear()
            return dead

    async def reconnect(self, peers: Sequence[str]) -> None:
        if not await asyncio.to_thread(self._running):
            return
        sessions = [s for s in self.sessions if s.peer_address in peers]
        with contextlib.suppress(DaemonError):
            await asyncio.to_thread(self._reconnect, sessions)

    def stop(self) -> None:
        """Stop the daemons by PID (learned routes leave the kernel with them)."""
        self._stop_daemons()

    def _desired(self) -> dict[str, tuple[str, ...]]:
        """What the lab makes the router announce: nothing when it runs the user's config
        (the file announces what it wants; the scenario's list is its ``{{ prefixes }}``)."""
        return {} if self.own_config else self.book.desired()

    def _refuse_own_config(self) -> None:
        if self.config is not None:
            raise RouterOwnConfig(self.name, self.config)

    def _note_rendered(self) -> None:
        path = self.rendered_path()
        with contextlib.suppress(OSError):
            self._config_interfaces = self.interfaces_named(path.read_text())

    def rendered_path(self) -> Path:
        """Where the user's configuration is rendered (and read by the daemon)."""
        return self.dir / "own.conf"

    # --- announcements -----------------------------------------------------------------
    async def announce(self, prefixes: Sequence[Any], communities: Sequence[Any],
                       link: str | None = None) -> int:
        _no_link(link)
        clean, comms = validate_announcement(prefixes, communities)  # bad input first
        self._refuse_own_config()
        self._check_alive()  # before the book: a refused command changes nothing
        async with self.lock:
            self.book.announce(clean, comms)
            await self._apply(self.book.desired())
        return len(clean)

    async def withdraw(self, prefixes: Sequence[Any], link: str | None = None) -> int:
        _no_link(link)
        asked, _ = validate_announcement(prefixes, ())
        self._refuse_own_config()
        self._check_alive()
        async with self.lock:
            clean = self.book.withdraw(asked)
            await self._apply(self.book.desired())
        return len(clean)

    def announced(self) -> list[dict[str, Any]]:
        return self.book.as_list()

    # --- views -------------------------------------------------------------------------
    def learned(self) -> list[dict[str, Any]]:
        """Routes the daemon installed in the netns kernel table: ``[{prefix, via}]``; none
        while the main daemon is dead (what zebra may still hold for a moment is stale)."""
        if self.daemons().get(self.MAIN_DAEMON) is None:
            return []
        return read_kernel_routes(self.netns, self.KERNEL_PROTO)

    def sessions_state(self) -> dict[str, str]:
        """``{peer_address: "up"|"down"}`` for every configured session."""
        return {peer: d["state"] for peer, d in self.session_details().items()}

    def session_details(self) -> dict[str, dict[str, Any]]:
        """``{peer: {"state": "up"|"down", "bgp_state": str, "reason": str|None,
        "why": str|None, "link": str, "family": str}}``.

        ``reason`` explains a down session when one is known: the daemon's own (e.g. BIRD
        ``Received: Bad peer AS``, FRR's last reset reason) or, when TCP-MD5 segments were
        dropped in the netns since the sessions were last all up, the MD5 mismatch (BGP
        itself never sees it). ``why`` is the one-line diagnosis (lab.routers.diagnose).
        """
        dead = self.dead_daemons()
        if self.MAIN_DAEMON in dead:  # no daemon holds the sessions
            tail = log_tail(self.log_paths(self.MAIN_DAEMON))
            out: dict[str, dict[str, Any]] = {}
            for s in self.sessions:
                obs = self._observation(s, False, "not running", None, {}, {},
                                        running=False, tail=tail)
                out[s.peer_address] = {
                    "state": "down", "bgp_state": "not running",
                    "reason": f"{' and '.join(dead)} "
                              f"{'is' if len(dead) == 1 else 'are'} not running",
                    "why": why(obs), "link": s.link, "family": s.family}
            return out
        # another daemon dead (FRR's zebra): the sessions are what the main daemon holds
        states = self._peer_states()
        out = {}
        for s in self.sessions:
            bgp_state, reason = states.get(s.peer_address, ("unknown", None))
            up = bgp_state.lower() == "established"
            out[s.peer_address] = {"state": "up" if up else "down", "bgp_state": bgp_state,
                                   "reason": None if up else reason, "link": s.link,
                                   "family": s.family}
        pids = self.daemon_pids()
        counters = md5_failures(pids[0]) if pids else {}
        grown: dict[str, int] = {}
        if all(d["state"] == "up" for d in out.values()):
            self._md5_baseline = counters
        else:
            grown = {k: v - self._md5_baseline.get(k, 0) for k, v in counters.items()
                     if v > self._md5_baseline.get(k, 0)}
            if grown:
                what = ", ".join(f"{k} +{n}" for k, n in sorted(grown.items()))
                for d in out.values():
                    if d["state"] == "down":
                        d["reason"] = f"TCP-MD5 authentication failures ({what})"
        facts = self._neighbor_facts() if any(d["state"] == "down" for d in out.values()) \
            else {}
        for s in self.sessions:
            d = out[s.peer_address]
            if d["state"] == "up":
                d["why"] = None
                continue
            raw_reason = states.get(s.peer_address, ("", None))[1]
            d["why"] = why(self._observation(s, False, d["bgp_state"], raw_reason, grown,
                                             facts))
        return out

    def _observation(self, s: CustomerSession, up: bool, bgp_state: str, reason: str | None,
                     md5: dict[str, int], facts: Mapping[str, Any], *, running: bool = True,
                     tail: Sequence[str] = ()) -> Observation:
        neighbors = facts.get("neighbors")
        peer = (facts.get("peers") or {}).get(s.peer_address) or {}
        state, rx = (None, None)
        if running and not up:
            state, rx = l2_facts(self.netns, s.peer_address, s.ifname) if s.ifname \
                else (None, None)
        return Observation(
            link=s.link, family=s.family, peer=s.peer_address, local=s.local_address,
            vlan=s.vlan, interface=s.ifname, asn=self.asn, up=up, bgp_state=bgp_state,
            reason=reason, daemon=self.MAIN_DAEMON, daemon_running=running, log_tail=tail,
            own_config=self.own_config,
            configured=None if neighbors is None else s.peer_address in neighbors,
            neighbors=tuple(neighbors or ()), remote_asn=peer.get("remote_asn"),
            local_asn=peer.get("local_asn"), md5_failures=dict(md5),
            neighbor_state=state, rx_packets=rx, config_interfaces=self._config_interfaces)

    def log_paths(self, daemon: str) -> list[Path]:
        """Where ``daemon`` logs, its own log first (the kinds override)."""
        return []

    def _neighbor_facts(self) -> dict[str, Any]:
        """What the running daemon says about its neighbors, after ``_peer_states``:
        ``{"neighbors": [addresses], "peers": {address: {"remote_asn", "local_asn"}}}``;
        {} when unknown."""
        return {}

    # --- subclass hooks ------------------------------------------------------------------
    def _running(self) -> bool:
        raise NotImplementedError

    def _start_daemons(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        raise NotImplementedError

    def _stop_daemons(self) -> None:
        raise NotImplementedError
    async def _apply(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        raise NotImplementedError

    def _peer_states(self) -> dict[str, tuple[str, str | None]]:
        raise NotImplementedError

    def daemon_pids(self) -> list[int]:
        """PIDs of the router's running daemons."""
        return [pid for pid in self.daemons().values() if pid is not None]

    def daemons(self) -> dict[str, int | None]:
        """Each daemon, in start order: its PID, None when it is not running."""
        raise NotImplementedError

    def _reconnect(self, sessions: Sequence[CustomerSession]) -> None:
        """Make these sessions try to connect now (blocking)."""
        raise NotImplementedError

    def session_for(self, family: str) -> CustomerSession | None:
        return next((s for s in self.sessions if s.family == family), None)

    @staticmethod
    def by_family(desired: Mapping[str, tuple[str, ...]], family: str
                  ) -> dict[str, tuple[str, ...]]:
        return {p: c for p, c in desired.items() if family_of(p) == family}


def _no_link(link: str | None) -> None:
    if link is not None:  # the lab API checks the kind's per_link_sessions first
        raise ValueError("one session per family: announcements are for all sessions")
