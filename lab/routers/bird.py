"""BIRD 2 as the customer's router: one ``bird`` process inside the customer netns, no systemd.

Layout under ``workdir/bird/``: ``bird.conf``, ``announce.conf`` (included: one static
protocol per family holding the announced prefixes, communities set per route), ``bird.ctl``
(control socket), ``bird.pid``, ``bird.log``. Two kernel protocols export BGP routes into the
netns main table (``proto bird``). Run-time changes rewrite ``announce.conf`` and run
``birdc configure``: only the static protocols change, the BGP sessions stay up.

With the user's own configuration (scenario ``config:``): ``bird -c own.conf`` runs the rendered
file, once ``bird -p`` accepted it; its BGP protocols are found by neighbor address
(``show protocols all``); the lab announces nothing (409). The instance's directory is bound on
/run/bird for the daemon (birdc's default socket place) where the node can take it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from controller.core.model import SCW_ASN
from controller.core.prefixes import prefix_key
from controller.core.secrets import check_md5_password
from controller.drivers.procs import stop_process
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import Mount, NodeError
from lab.routers.daemon_router import (
    DaemonError,
    DaemonRouter,
    pid_from_file,
    run,
    spawn_daemon,
    wait_until,
)
from lab.routers.kind import RouterKind
from lab.scenario.topology import CustomerSession

BIRD = os.environ.get("ILAB_BIRD", "bird")
BIRDC = os.environ.get("ILAB_BIRDC", "birdc")
FAMILY_DIGIT = {"ipv4": "4", "ipv6": "6"}
CTL_DIR = "/run/bird"  # where birdc looks for bird.ctl by default


def bird_available() -> bool:
    return shutil.which(BIRD) is not None and shutil.which(BIRDC) is not None


def bgp_protocol(family: str) -> str:
    return f"ilab_bgp{FAMILY_DIGIT[family]}"


def static_protocol(family: str) -> str:
    return f"ilab_static{FAMILY_DIGIT[family]}"


def _community(c: str) -> str:
    asn, value = c.split(":")
    return f"({int(asn)},{int(value)})"


def parse_protocols(text: str) -> dict[str, tuple[str, str, str | None]]:
    """``birdc show protocols`` -> {name: (proto state, BGP state, reason)}.

    A line looks like ``ilab_bgp4  BGP  ---  start  12:00:00.000  Active  Received: Bad
    peer AS``: after the state and the time, Info is the BGP state then an optional reason.
    """
    out: dict[str, tuple[str, str, str | None]] = {}
    for line in text.splitlines():
        words = line.split(None, 5)
        if len(words) < 5 or words[1] != "BGP":
            continue
        info = words[5].strip() if len(words) > 5 else ""
        parts = re.split(r"\s{2,}", info, maxsplit=1)
        bgp_state = parts[0] if parts and parts[0] else words[3]
        reason = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
        out[words[0]] = (words[3], bgp_state, reason)
    return out


def parse_protocols_all(text: str) -> dict[str, dict[str, str]]:
    """``birdc show protocols all`` -> {name: {"state", "bgp_state", "reason", "neighbor",
    "neighbor_as", "local_as", "last_error"}} for the BGP protocols (any names: a user's
    configuration chooses them)."""
    out: dict[str, dict[str, str]] = {}
    summary = parse_protocols(text)
    current: dict[str, str] | None = None
    keys = {"BGP state": "bgp_state", "Neighbor address": "neighbor",
            "Neighbor AS": "neighbor_as", "Local AS": "local_as", "Last error": "last_error"}
    for line in text.splitlines():
        if line and not line[0].isspace():
            words = line.split()
            if len(words) >= 2 and words[1] == "BGP" and words[0] in summary:
                state, bgp_state, reason = summary[words[0]]
                current = out[words[0]] = {"state": state, "bgp_state": bgp_state,
                                           "reason": reason or ""}
            else:
                current = None
            continue
        if current is None or ":" not in line:
            continue
        key, _, value = line.strip().partition(":")
        if key in keys and keys[key] not in ("bgp_state",):
            current[keys[key]] = value.strip().split("%")[0]
    return out


class BirdRouter(DaemonRouter):
    NAME = "bird"
    KERNEL_PROTO = "bird"
    MAIN_DAEMON = "bird"

    _pushed: str | None = None  # announce.conf the running bird has loaded
    _sort_keys: Mapping[str, tuple[int, int, int]] = {}  # prefix_key of the last render's

    # --- files (under self.dir = workdir/bird) ---------------------------------------------
    @property
    def conf_path(self) -> Path:
        """What bird runs: the user's rendered file, or the generated one."""
        return self.rendered_path() if self.own_config else self.dir / "bird.conf"

    @property
    def announce_path(self) -> Path:
        return self.dir / "announce.conf"

    @property
    def socket_path(self) -> Path:
        return self.dir / "bird.ctl"

    @property
    def pid_path(self) -> Path:
        return self.dir / "bird.pid"

    @property
    def log_path(self) -> Path:
        return self.dir / "bird.log"

    # --- configuration ---------------------------------------------------------------------
    def bird_config(self) -> str:
        lines = [f'log "{self.log_path}" all;', f"router id {self.router_id};", "",
                 "protocol device { scan time 10; }"]
        for family in ("ipv4", "ipv6"):
            d = FAMILY_DIGIT[family]
            lines += [f"protocol kernel ilab_kernel{d} {{",
                      f"    {family} {{ import none; export where source = RTS_BGP; }};",
                      "}"]
        lines.append(f'include "{self.announce_path}";')
        for s in self.sessions:
            lines += [f"protocol bgp {bgp_protocol(s.family)} {{",
                      f"    local {s.local_address} as {self.asn};",
                      f"    neighbor {s.peer_address} as {SCW_ASN};",
                      f"    hold time {self.hold_time};"]
            if self.hold_time:
                lines.append(f"    keepalive time {self.keepalive()};")
            # error wait: BIRD's default (60-300 s idle after an error such as a hold timer
            # expiry) would keep a restored session down for minutes.
            lines += ["    connect retry time 2;", "    connect delay time 0;",
                      "    error wait time 1, 5;"]
            if self.md5_password:
                # no quote or backslash (check_md5_password): nothing to escape
                lines.append(f'    password "{check_md5_password(self.md5_password)}";')
            lines += [f"    {s.family} {{",
                      "        import all;",
                      f'        export where proto = "{static_protocol(s.family)}";',
                      "    };", "}"]
        return "\n".join(lines) + "\n"

    def announce_config(self, desired: Mapping[str, tuple[str, ...]]) -> str:
        lines = ["# written by interlink-lab: the customer's announcements"]
        # Sort keys kept across renders: 100k prefixes announced in 5 chunks would parse
        # 300k prefixes for sorting alone (~1 s of the event loop); only the current kept.
        keys = self._sort_keys
        self._sort_keys = {p: keys.get(p) or prefix_key(p) for p in desired}
        for family in ("ipv4", "ipv6"):
            lines += [f"protocol static {static_protocol(family)} {{", f"    {family};"]
            for prefix, comms in sorted(self.by_family(desired, family).items(),
                                        key=lambda kv: self._sort_keys[kv[0]]):
                if comms:
                    adds = " ".join(f"bgp_community.add({_community(c)});" for c in comms)
                    lines.append(f"    route {prefix} unreachable {{ {adds} }};")
                else:
                    lines.append(f"    route {prefix} unreachable;")
            lines.append("}")
        return "\n".join(lines) + "\n"

    # --- processes -------------------------------------------------------------------------
    def pid(self) -> int | None:
        return pid_from_file(self.pid_path, str(self.conf_path), self.netns)

    def _running(self) -> bool:
        return self.pid() is not None

    def daemons(self) -> dict[str, int | None]:
        return {"bird": self.pid()}

    def _reconnect(self, sessions: Sequence[CustomerSession]) -> None:
        names = self._protocol_names()
        for s in sessions:
            name = names.get(s.peer_address)
            if name is not None:
                self.birdc("restart", name, timeout=5.0)

    def _protocol_names(self) -> dict[str, str]:
        """Scaleway's address -> the BGP protocol peering with it."""
        if not self.own_config:
            return {s.peer_address: bgp_protocol(s.family) for s in self.sessions}
        protos = parse_protocols_all(self.birdc("show", "protocols", "all", timeout=5.0))
        return {_norm(p["neighbor"]): name for name, p in protos.items() if p.get("neighbor")}

    # --- the user's own configuration -----------------------------------------------------
    @staticmethod
    def interfaces_named(text: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(re.findall(r'interface\s+"([^"*]+)"', text)))

    def log_paths(self, daemon: str) -> list[Path]:
        start = self.dir / "bird-start.log"
        return [start] if self.own_config else [self.log_path, start]

    def _check_own_config(self, path: Path) -> None:
        """bird's own parser (``bird -p``): one line with its message (FILE:LINE:COL)."""
        try:
            proc = runtime_for(self.netns).run(self.netns, [BIRD, "-p", "-c", str(path)],
                                               timeout=10.0)
        except NodeError as exc:
            raise DaemonError(str(exc)) from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines()
                     if ln.strip()]
            what = lines[-1] if lines else f"exit {proc.returncode}"
            raise DaemonError(f"{what} (bird -p; rendered from {self.config})")

    def _start_daemons(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        if not bird_available():
            raise DaemonError(f"BIRD not found ({BIRD}, {BIRDC}): apt-get install bird2")
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.own_config:
            self.render_own_config(self.conf_path)
            self._check_own_config(self.conf_path)
        else:
            _write_atomic(self.announce_path, self.announce_config(desired))
            _write_atomic(self.conf_path, self.bird_config())
        self.pid_path.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)
        # birdc's default socket is the instance's (birdc in the node)
        spawn_daemon(self.netns, [BIRD, "-c", str(self.conf_path), "-s", str(self.socket_path),
                                  "-P", str(self.pid_path)],
                     log_path=self.dir / "bird-start.log",
                     mounts=[Mount(self.dir, CTL_DIR)])
        # bird forks into the background: its pid file may come a moment after the parent exits.
        wait_until(lambda: self.pid() is not None, 3.0,
                   f"bird to write its pid file (see {self.log_path})")
        self._pushed = None if self.own_config else self.announce_path.read_text()

    def _stop_daemons(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_process(pid, timeout=3.0)
        self.pid_path.unlink(missing_ok=True)
        self._pushed = None

    # --- birdc -----------------------------------------------------------------------------
    def birdc(self, *args: str, timeout: float = 30.0) -> str:
        return run(self.netns, [BIRDC, "-s", str(self.socket_path), *args], timeout=timeout)

    def _reconfigure(self, text: str) -> None:
        old = self.announce_path.read_text() if self.announce_path.exists() else None
        _write_atomic(self.announce_path, text)
        out = self.birdc("configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            if old is not None:  # keep file and daemon in step
                _write_atomic(self.announce_path, old)
            raise DaemonError(f"bird rejected the new configuration: {out.strip()[-500:]}")

    async def _apply(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        text = self.announce_config(desired)
        if text == self._pushed:
            return
        await asyncio.to_thread(self._reconfigure, text)
        self._pushed = text

    # --- state -----------------------------------------------------------------------------
    _last_protocols: dict[str, dict[str, str]] | None = None  # BYO: show protocols all

    def _peer_states(self) -> dict[str, tuple[str, str | None]]:
        if self.own_config:
            return self._own_peer_states()
        try:
            protos = parse_protocols(self.birdc("show", "protocols", timeout=5.0))
        except DaemonError as exc:
            return {s.peer_address: ("unknown", f"birdc: {exc}") for s in self.sessions}
        out: dict[str, tuple[str, str | None]] = {}
        for s in self.sessions:
            _state, bgp_state, reason = protos.get(bgp_protocol(s.family),
                                                   ("?", "unknown", None))
            out[s.peer_address] = (bgp_state, reason)
        return out

    def _own_peer_states(self) -> dict[str, tuple[str, str | None]]:
        try:
            protos = parse_protocols_all(self.birdc("show", "protocols", "all", timeout=5.0))
        except DaemonError as exc:
            self._last_protocols = None
            return {s.peer_address: ("unknown", f"birdc: {exc}") for s in self.sessions}
        self._last_protocols = protos
        by_peer = {_norm(p["neighbor"]): p for p in protos.values() if p.get("neighbor")}
        out: dict[str, tuple[str, str | None]] = {}
        for s in self.sessions:
            p = by_peer.get(_norm(s.peer_address))
            if p is None:
                out[s.peer_address] = ("unknown", None)
            else:
                out[s.peer_address] = (p["bgp_state"],
                                       p.get("reason") or p.get("last_error") or None)
        return out

    def _neighbor_facts(self) -> dict[str, Any]:
        protos = self._last_protocols
        if protos is None or not self.own_config:
            return {}
        peers = {_norm(p["neighbor"]): {"remote_asn": _int(p.get("neighbor_as")),
                                        "local_asn": _int(p.get("local_as"))}
                 for p in protos.values() if p.get("neighbor")}
        return {"neighbors": sorted(peers), "peers": peers}


def _norm(addr: str) -> str:
    try:
        return str(ipaddress.ip_address(addr))
    except ValueError:
        return addr


def _int(v: str | None) -> int | None:
    return int(v) if v is not None and v.strip().isdigit() else None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


KIND = RouterKind(name=BirdRouter.NAME, available=bird_available,
                  kernel_proto=BirdRouter.KERNEL_PROTO, per_link_sessions=False,
                  factory=BirdRouter.for_customer, own_config=True)
