"""BIRD 2 as the customer's router: one ``bird`` process inside the customer netns, no systemd.

Layout under ``workdir/bird/``: ``bird.conf``, ``announce.conf`` (included: one static
protocol per family holding the announced prefixes, communities set per route), ``bird.ctl``
(control socket), ``bird.pid``, ``bird.log``. Two kernel protocols export BGP routes into the
netns main table (``proto bird``). Run-time changes rewrite ``announce.conf`` and run
``birdc configure``: only the static protocols change, the BGP sessions stay up.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from controller.core.model import SCW_ASN
from controller.core.secrets import check_md5_password
from controller.drivers.procs import stop_process
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


class BirdRouter(DaemonRouter):
    NAME = "bird"
    KERNEL_PROTO = "bird"
    MAIN_DAEMON = "bird"

    _pushed: str | None = None  # announce.conf the running bird has loaded

    # --- files (under self.dir = workdir/bird) ---------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self.dir / "bird.conf"

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
        for family in ("ipv4", "ipv6"):
            lines += [f"protocol static {static_protocol(family)} {{", f"    {family};"]
            for prefix, comms in sorted(self.by_family(desired, family).items(),
                                        key=lambda kv: ipaddress.ip_network(kv[0])):
                if comms:
                    adds = " ".join(f"bgp_community.add({_community(c)});" for c in comms)
                    lines.append(f"    route {prefix} unreachable {{ {adds} }};")
                else:
                    lines.append(f"    route {prefix} unreachable;")
            lines.append("}")
        return "\n".join(lines) + "\n"

    # --- processes -------------------------------------------------------------------------
    def pid(self) -> int | None:
        return pid_from_file(self.pid_path, str(self.conf_path))

    def _running(self) -> bool:
        return self.pid() is not None

    def daemons(self) -> dict[str, int | None]:
        return {"bird": self.pid()}

    def _reconnect(self, sessions: Sequence[CustomerSession]) -> None:
        for s in sessions:
            self.birdc("restart", bgp_protocol(s.family), timeout=5.0)

    def _start_daemons(self, desired: Mapping[str, tuple[str, ...]]) -> None:
        if not bird_available():
            raise DaemonError(f"BIRD not found ({BIRD}, {BIRDC}): apt-get install bird2")
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.announce_path, self.announce_config(desired))
        _write_atomic(self.conf_path, self.bird_config())
        self.pid_path.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)
        spawn_daemon(self.netns, [BIRD, "-c", str(self.conf_path), "-s", str(self.socket_path),
                                  "-P", str(self.pid_path)],
                     log_path=self.dir / "bird-start.log")
        # bird forks into the background: its pid file may come a moment after the parent exits.
        wait_until(lambda: self.pid() is not None, 3.0,
                   f"bird to write its pid file (see {self.log_path})")
        self._pushed = self.announce_path.read_text()

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
    def _peer_states(self) -> dict[str, tuple[str, str | None]]:
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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


KIND = RouterKind(name=BirdRouter.NAME, available=bird_available,
                  kernel_proto=BirdRouter.KERNEL_PROTO, per_link_sessions=False,
                  factory=BirdRouter.for_customer)
