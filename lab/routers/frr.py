"""FRR as the customer's router: zebra + bgpd inside the customer netns, no systemd.

Layout under ``workdir``: ``frr/`` (owned by frr:frr: ``zebra.conf``, ``bgpd.conf``, pid files,
vty sockets, ``zserv.api``, logs) and ``frr-var-tmp/`` (bind-mounted on /var/tmp for the
daemons, so FRR's crash-log folders stay with the instance). Both daemons run as the ``frr``
user (FRR's vty group check fails as root), with the TCP vty disabled (``-P 0``); bgpd gets no
``-l`` (that silently disables kernel install). zebra installs what bgpd learns in the netns
main table (``proto bgp``) and removes it on exit.

A dead zebra alone: bgpd keeps its sessions and still announces (import-check off, measured),
so the sessions are reported as bgpd holds them and commands are accepted; what zebra left in
the kernel is stale and flushed; ``restart`` restarts both (bgpd never reconnects to a new
zebra).

Announcements are ``network`` statements (``no bgp network import-check``: no matching route
needed); a set of communities is a route-map ``ILAB-C-<tag>`` set on the network statement.
Run-time changes go through vtysh, diffed against ``show running-config``.

With the user's own configuration (scenario ``config:``): zebra and bgpd start with stub
configs, then ``vtysh -f own.conf`` applies the rendered integrated file (each command to its
daemon, as ``vtysh -b`` does), once ``vtysh -C`` accepted it; the lab announces nothing (409).
The frr user's uid/gid are the node's (``runtime_for(netns).user_ids``); the instance's
directory is bound on /var/run/frr for the daemons (vtysh's default socket place).
"""

from __future__ import annotations

import asyncio
import grp
import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.core.model import SCW_ASN
from controller.core.secrets import check_md5_password
from controller.drivers.procs import stop_process
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import Mount, NodeError
from lab.routers.daemon_router import (
    DaemonError,
    DaemonRouter,
    community_tag,
    pid_from_file,
    run,
    spawn_daemon,
)
from lab.routers.kind import RouterKind
from lab.scenario.topology import CustomerSession

FRR_DIR = Path(os.environ.get("ILAB_FRR_DIR", "/usr/lib/frr"))
FRR_USER = "frr"
DAEMONS = ("zebra", "bgpd")  # start order; stopped in reverse
VTYSH_CHUNK = 2000  # commands per vtysh call: argv stays ~100 KiB, far below ARG_MAX
VTY_DIR = "/var/run/frr"  # where vtysh looks for the daemons by default
_DRYRUN_LINE = re.compile(r"^line (\d+): (.*)$")


def frr_available() -> bool:
    return all((FRR_DIR / d).is_file() for d in DAEMONS) and shutil.which("vtysh") is not None


def route_map_name(communities: Sequence[str]) -> str:
    return f"ILAB-C-{community_tag(communities)}"


def parse_running_config(text: str) -> tuple[dict[str, str | None], set[str]]:
    """``network`` statements ({prefix: route-map or None}) and route-map names."""
    networks: dict[str, str | None] = {}
    route_maps: set[str] = set()
    in_af = False
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "address-family":
            in_af = True
        elif words[0] == "exit-address-family":
            in_af = False
        elif in_af and words[0] == "network" and len(words) >= 2:
            rmap = words[3] if len(words) >= 4 and words[2] == "route-map" else None
            networks[words[1]] = rmap
        elif words[0] == "route-map" and len(words) >= 2 and not line.startswith(" "):
            route_maps.add(words[1])
    return networks, route_maps


def _norm(addr: str) -> str:
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return addr


class FrrRouter(DaemonRouter):
    NAME = "frr"
    KERNEL_PROTO = "bgp"
    MAIN_DAEMON = "bgpd"

    # what bgpd has (network -> route-map, route-map names); None: ask it
    _applied: tuple[dict[str, str | None], set[str]] | None = None

    # --- files (under self.dir = workdir/frr) --------------------------------------------
    @property
    def var_tmp(self) -> Path:
        return self.workdir / "frr-var-tmp"

    def conf_path(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.conf"

    def pid_path(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.pid"

    def pids(self) -> dict[str, int | None]:
        return {d: pid_from_file(self.pid_path(d), str(self.conf_path(d)), self.netns)
                for d in DAEMONS}

    def zebra_config(self) -> str:
        return f"hostname {self.netns}\n"

    def bgpd_config(self, desired: Mapping[str, tuple[str, ...]]) -> str:
        lines = [f"hostname {self.netns}"]
        for comms in sorted({c for c in desired.values() if c}):
            lines += [f"route-map {route_map_name(comms)} permit 10",
                      f" set community {' '.join(comms)}", "exit"]
        lines += [f"router bgp {self.asn}", f" bgp router-id {self.router_id}",
                  " no bgp ebgp-requires-policy", " no bgp network import-check",
                  " no bgp default ipv4-unicast"]
        for sess in self.sessions:
            p = sess.peer_address
            lines += [f" neighbor {p} remote-as {SCW_ASN}",
                      f" neighbor {p} update-source {sess.local_address}",
                      f" neighbor {p} timers {self.keepalive()} {self.hold_time}",
                      f" neighbor {p} timers connect 2"]
            if self.md5_password:
                # one WORD: check_md5_password (DaemonRouter) allows no whitespace
                lines.append(f" neighbor {p} password {check_md5_password(self.md5_password)}")
        for family in ("ipv4", "ipv6"):
            s = self.session_for(family)
            nets = self.by_family(desired, family)
            if s is None and not nets:
                continue
            lines.append(f" address-family {family} unicast")
            for prefix, comms in sorted(nets.items()):
                rm = f" route-map {route_map_name(comms)}" if comms else ""
                lines.append(f"  network {prefix}{rm}")
            if s is not None:
                lines.append(f"  neighbor {s.peer_address} activate")
            lines.append(" exit-address-family")
        lines += ["exit", ""]
        return "\n".join(lines)

    # --- processes -----------------------------------------------------------------------
    def _running(self) -> bool:
        return all(pid is not None for pid in self.pids().values())

    def daemons(self) -> dict[str, int | None]:
        return self.pids()

    def _reconnect(self, sessions: Sequence[CustomerSession]) -> None:
        for s in sessions:
            self.vtysh(f"clear bgp {s.peer_address}", timeout=5.0)

    def _prepare_dirs(self) -> tuple[int, int]:
        if not frr_available():
            raise DaemonError(f"FRR not found ({FRR_DIR}/zebra, bgpd, vtysh): "
                              "apt-get install frr")
        try:  # as the node sees it: a container's frr is not the host's
            uid, gid = runtime_for(self.netns).user_ids(self.netns, FRR_USER)
        except NodeError as exc:
            raise DaemonError(f"no {FRR_USER} user in {self.netns} ({exc}): is FRR installed?"
                              ) from None
        for d in (self.dir, self.var_tmp):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, uid, gid)
            d.chmod(0o750)
        # the daemons run as frr: every directory above must let it through
        if not _user_can_enter(self.dir, uid, gid):
            raise DaemonError(f"user {FRR_USER} cannot reach {self.dir}: make its parent "
                              "directories world-searchable (chmod o+x)")
        return uid, gid

    # --- the user's own configuration -----------------------------------------------------
    @staticmethod
    def interfaces_named(text: str) -> tuple[str, ...]:
        return tuple(m.group(1) for m in re.finditer(r"^interface\s+(\S+)", text, re.M))

    def log_paths(self, daemon: str) -> list[Path]:
        return [self.dir / f"{daemon}.log", self.workdir / "frr-start.log"]

    def _check_own_config(self, path: Path) -> None:
        """vtysh's own dry run (every daemon's commands): one line with its first error."""
        proc = _node_run(self.netns, ["vtysh", "-C", "-f", str(path)])
        if proc.returncode == 0:
            return
        lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        first = next((m for m in map(_DRYRUN_LINE.match, lines) if m), None)
        if first is not None:
            msg = re.sub(r"\[\d+\]", "", first.group(2))  # "% Unknown command[25]:"
            raise DaemonError(f"{path}:{first.group(1)}: {' '.join(msg.split())} (vtysh -C; "
                              f"rendered from {self.config})")
        what = lines[-1] if lines else f"exit {proc.returncode}"
        raise DaemonError(f"{path}: {what} (vtysh -C; rendered from {self.config})")

    def _apply_own_config(self, path: Path) -> None:
        out = run(self.netns, ["vtysh", "--vty_socket", str(self.dir), "-f", str(path)],
                  check=False, timeout=30.0)
        errors = [ln.strip() for ln in out.splitlines() if "%" in ln]
        if errors:
            raise DaemonError(f"{path}: the daemons refused: {errors[0]}")

    def _start_daemons(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        uid, gid = self._prepare_dirs()
        own: Path | None = None
        if self.own_config:
            own = self.rendered_path()
            self.render_own_config(own)
            os.chown(own, uid, gid)
            self._check_own_config(own)
        bgpd_text = f"hostname {self.netns}\n" if own else self.bgpd_config(desired)
        for daemon, text in (("zebra", self.zebra_config()), ("bgpd", bgpd_text)):
            path = self.conf_path(daemon)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            os.chown(tmp, uid, gid)
            os.replace(tmp, path)
        for daemon in DAEMONS:
            self.pid_path(daemon).unlink(missing_ok=True)
            argv = [str(FRR_DIR / daemon), "-d", "-u", FRR_USER, "-g", FRR_USER,
                    "--vty_socket", str(self.dir), "-z", str(self.dir / "zserv.api"),
                    "-f", str(self.conf_path(daemon)), "-i", str(self.pid_path(daemon)),
                    "-P", "0", "--log", f"file:{self.dir / (daemon + '.log')}"]
            try:
                # vtysh's default socket directory is the instance's (vtysh in the node)
                spawn_daemon(self.netns, argv, log_path=self.workdir / "frr-start.log",
                             private_var_tmp=self.var_tmp, mounts=[Mount(self.dir, VTY_DIR)])
            except DaemonError:
                self._stop_daemons()
                raise
            if self.pids()[daemon] is None:
                self._stop_daemons()
                raise DaemonError(f"{daemon} exited right after starting; see "
                                  f"{self.dir / (daemon + '.log')}")
        if own is not None:
            # the user's integrated file, as vtysh -b would: each command to its daemon
            try:
                self._apply_own_config(own)
            except DaemonError:
                self._stop_daemons()
                raise

    def _stop_daemons(self) -> None:
        self._applied = None
        pids = self.pids()
        for daemon in reversed(DAEMONS):  # bgpd first: it sends a Cease to its peers
            pid = pids[daemon]
            if pid is not None:
                stop_process(pid, timeout=3.0)
            self.pid_path(daemon).unlink(missing_ok=True)

    # --- vtysh ---------------------------------------------------------------------------
    def vtysh(self, *commands: str, timeout: float = 30.0) -> str:
        argv = ["vtysh", "--vty_socket", str(self.dir)]
        for c in commands:
            argv += ["-c", c]
        out = run(self.netns, argv, timeout=timeout)
        errors = [ln for ln in out.splitlines() if ln.startswith("%")]
        if errors:
            raise DaemonError(f"vtysh refused a command: {'; '.join(errors[:5])}")
        return out

    def _configure(self, route_maps: list[list[str]], per_af: dict[str, list[str]]) -> None:
        """One vtysh call for a usual change; big ones in chunks of VTYSH_CHUNK commands."""
        cmds: list[str] = ["configure terminal"]
        for block in route_maps:
            cmds += block
        cmds.append(f"router bgp {self.asn}")
        for family, lines in per_af.items():
            for i in range(0, len(lines), VTYSH_CHUNK):
                cmds += [f"address-family {family} unicast", *lines[i:i + VTYSH_CHUNK],
                         "exit-address-family"]
                if len(cmds) >= VTYSH_CHUNK:
                    self.vtysh(*cmds)
                    cmds = ["configure terminal", f"router bgp {self.asn}"]
        if len(cmds) > 2:
            self.vtysh(*cmds)

    def _read_applied(self) -> tuple[dict[str, str | None], set[str]]:
        return parse_running_config(self.vtysh("show running-config"))

    async def _apply(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        if self._applied is None:  # just started or adopted: ask bgpd what it has
            self._applied = await asyncio.to_thread(self._read_applied)
        have, route_maps = self._applied
        want = {p: (route_map_name(c) if c else None) for p, c in desired.items()}
        new_maps = [[f"route-map {route_map_name(c)} permit 10",
                     f"set community {' '.join(c)}", "exit"]
                    for c in sorted({c for c in desired.values() if c})
                    if route_map_name(c) not in route_maps]
        per_af: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
        for p in sorted(set(have) - set(want)):
            per_af["ipv6" if ":" in p else "ipv4"].append(f"no network {p}")
        for p, rm in sorted(want.items()):
            if p not in have or have[p] != rm:
                per_af["ipv6" if ":" in p else "ipv4"].append(
                    f"network {p}" + (f" route-map {rm}" if rm else ""))
        per_af = {f: lines for f, lines in per_af.items() if lines}
        if not new_maps and not per_af:
            return
        self._applied = None  # unknown until the change is confirmed
        await asyncio.to_thread(self._configure, new_maps, per_af)
        self._applied = (want, route_maps | {block[0].split()[1] for block in new_maps})

    # --- state ---------------------------------------------------------------------------
    def _peer_states(self) -> dict[str, tuple[str, str | None]]:
        try:
            data = json.loads(self.vtysh("show bgp neighbors json", timeout=5.0) or "{}")
        except (DaemonError, json.JSONDecodeError) as exc:
            self._last_neighbors = {} if "No BGP" in str(exc) else None
            return {s.peer_address: ("unknown", f"vtysh: {exc}") for s in self.sessions}
        self._last_neighbors = data if isinstance(data, dict) else None
        out: dict[str, tuple[str, str | None]] = {}
        for peer, d in data.items():
            if not isinstance(d, dict):
                continue
            out[_norm(peer)] = (str(d.get("bgpState", "unknown")), _frr_reason(d))
        return {s.peer_address: out.get(_norm(s.peer_address), ("unknown", None))
                for s in self.sessions}


    _last_neighbors: dict[str, Any] | None = None  # `show bgp neighbors json`, last read

    def _neighbor_facts(self) -> dict[str, Any]:
        data = self._last_neighbors
        if data is None:
            return {}
        peers = {_norm(p): {"remote_asn": _int(d.get("remoteAs")),
                            "local_asn": _int(d.get("localAs"))}
                 for p, d in data.items() if isinstance(d, dict)}
        return {"neighbors": sorted(peers), "peers": peers}


def _node_run(netns: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return runtime_for(netns).run(netns, argv, timeout=10.0)
    except NodeError as exc:
        raise DaemonError(str(exc)) from None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _frr_reason(d: Mapping[str, Any]) -> str | None:
    """The most telling of FRR's 'why is this peer not Established' fields."""
    for key in ("lastNotificationReason", "lastErrorCodeSubcode"):
        if d.get(key):
            return str(d[key])
    reset = d.get("lastResetDueTo")
    if reset and d.get("connectionsEstablished", 0) + d.get("connectionsDropped", 0) > 0:
        return str(reset)
    return None


def _user_can_enter(path: Path, uid: int, gid: int) -> bool:
    """Whether uid/gid may traverse every directory down to ``path`` (plain mode bits)."""
    groups = {gid} | {g.gr_gid for g in grp.getgrall() if FRR_USER in g.gr_mem}
    for d in [path, *path.parents]:
        st = d.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            return False
    return True


KIND = RouterKind(name=FrrRouter.NAME, available=frr_available,
                  kernel_proto=FrrRouter.KERNEL_PROTO, per_link_sessions=False,
                  factory=FrrRouter.for_customer, own_config=True)
