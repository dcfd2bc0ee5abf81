"""Render an ExaBGP 5.0 configuration for one speaker (pure, no I/O).

One ``neighbor`` block per BGP session (IPv4 over IPv4, IPv6 over IPv6), every block both
connecting actively and listening (``listen 179``: ExaBGP 5 does not accept otherwise, and
a passive-only side would leave the other side in ExaBGP's 60 s reconnect backoff). The API
process block is identical from one render to the next for the same command, so a reload
(SIGUSR1) never restarts the bridge.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from controller.core.secrets import check_md5_password

__all__ = ["PROCESS_NAME", "SPEAKER_NICE", "NeighborConfig", "render_config", "scw_nice",
           "speaker_env"]

PROCESS_NAME = "bridge"

# Measured with 5.0.15 (two speakers, v4+v6 sessions each, 2 cores): at reactor speed 1.0
# both sides' simultaneous connects collide repeatedly (up in 0.28-0.82 s, once 2.9 s); at 0.1
# in 0.27-0.37 s. 10k prefixes announced end to end: 4.2-5.2 s at 1.0, 2.2-3.4 s at 0.1.
# Cost: ~10 % of a core per idle speaker at 0.1 (4 % at 0.5, 3 % at 1.0).
REACTOR_SPEED = "0.1"
# ExaBGP polls every speed/100 s when idle (1 ms at 0.1): ~11 % of a core per idle process,
# 4.8 % at 0.5, 3.7 % at 1.0, 1.7 % at 2.0, 0.8 % at 5.0, 0.27 % at 20 (measured, this
# machine; 20: 98 idle speakers of a 100-link lab over 10 s; 100 links active in 84-87 s at
# 20 against 109 s at 5.0, timers and socket wake-ups are unaffected). With one
# Scaleway speaker per link, 20 links at 0.1 keep both cores busy doing nothing. Scaleway's
# side mostly receives (socket I/O wakes it at once whatever the speed) and the customer
# connects first, so the default lab comes up as fast with 5.0 on Scaleway's side (1.6 s vs
# 1.5-2.1 s, 3 runs each); the first FAST_SPEAKERS links keep 0.1 all the same (the timings
# every test was written against), the speakers started beyond them run slow. A scenario's
# customer ExaBGP (announcing in bulk) runs fast; the one the lab makes for API-created
# links (a session per link, its LAN only) runs slow too.
SCW_REACTOR_SPEED_AT_SCALE = "20.0"
FAST_SPEAKERS = 4


# Beyond the first FAST_SPEAKERS links, speakers yield the CPU too. Each runs in a session
# of its own, which the kernel schedules as a group of its own: 100 links' speakers starting
# (~0.45 s of CPU each) took 100 shares of 2 cores against one for the controller and one
# for the user's client. Wiring 100 links through the SDK, measured: nice 0: the API calls
# 42-46 s, a GET's p50/p99 41-49 / 234-294 ms, all active 51-62 s; nice 10: 12 s, 11 / 131
# ms, 40 s; nice 19: 6.6 s, 5 / 57 ms, 46 s. The first links keep nice 0: under a loaded
# machine (the test suite) a niced speaker comes back from a cut later than the timings
# the tests were written against.
SPEAKER_NICE = 19


def scw_reactor_speed(links: int) -> str:
    """The reactor speed of a Scaleway speaker started while the lab has ``links`` links."""
    return REACTOR_SPEED if links <= FAST_SPEAKERS else SCW_REACTOR_SPEED_AT_SCALE


def scw_nice(links: int) -> int:
    """The nice of a Scaleway speaker of the lab's ``links``-th link."""
    return 0 if links <= FAST_SPEAKERS else SPEAKER_NICE


@dataclass(frozen=True)
class NeighborConfig:
    peer_address: str
    local_address: str
    router_id: str
    local_as: int
    peer_as: int
    family: str  # "ipv4" | "ipv6"
    hold_time: int = 9
    md5_password: str | None = None

    def validate(self) -> None:
        if self.family not in ("ipv4", "ipv6"):
            raise ValueError(f"family must be ipv4 or ipv6, not {self.family!r}")
        version = 4 if self.family == "ipv4" else 6
        for name in ("peer_address", "local_address"):
            addr = ipaddress.ip_address(getattr(self, name))
            if addr.version != version:
                raise ValueError(f"{name} {addr} is not an {self.family} address")
        if ipaddress.ip_address(self.router_id).version != 4:
            raise ValueError(f"router_id {self.router_id} must be an IPv4 address")
        for name in ("local_as", "peer_as"):
            asn = getattr(self, name)
            if not 1 <= asn <= 4294967295:
                raise ValueError(f"{name} {asn} out of range")
        # RFC 4271: 0 or >= 3; ExaBGP enforces the same
        if self.hold_time != 0 and not 3 <= self.hold_time <= 65535:
            raise ValueError(f"hold_time {self.hold_time} must be 0 or 3..65535")


def _quote(value: str, what: str) -> str:
    """Quote a token for ExaBGP's tokeniser, which knows no escapes inside quotes."""
    if any(c in value for c in "\n\r\0"):
        raise ValueError(f"{what} contains a control character")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise ValueError(f"{what} cannot contain both quote characters")


def _word(value: str, what: str) -> str:
    # bare tokens end at whitespace and at ExaBGP's syntax characters
    if not value or any(c.isspace() or c in ";{}[],#\"'" for c in value):
        return _quote(value, what)
    return value


def render_config(neighbors: Sequence[NeighborConfig], api_command: Sequence[str]) -> str:
    """ExaBGP 5.0 configuration text: one API process, one neighbor block per session."""
    if not api_command:
        raise ValueError("api_command is empty")
    if not api_command[0].startswith("/"):
        # ExaBGP searches relative programs in /etc/exabgp and PATH: be explicit
        raise ValueError("api_command[0] must be an absolute path")
    seen: set[str] = set()
    run = " ".join(_word(arg, "api_command argument") for arg in api_command)
    lines = [
        f"process {PROCESS_NAME} {{",
        f"    run {run};",
        "    encoder json;",
        "}",
    ]
    for n in neighbors:
        n.validate()
        if n.peer_address in seen:
            raise ValueError(f"duplicate neighbor {n.peer_address}")
        seen.add(n.peer_address)
        lines += [
            "",
            f"neighbor {n.peer_address} {{",
            f"    router-id {n.router_id};",
            f"    local-address {n.local_address};",
            f"    local-as {n.local_as};",
            f"    peer-as {n.peer_as};",
            f"    hold-time {n.hold_time};",
            "    listen 179;",
        ]
        if n.md5_password is not None:
            # the shared rule (no quote, backslash, whitespace) makes plain quoting exact
            lines.append(f'    md5-password "{check_md5_password(n.md5_password)}";')
        lines += [
            f"    family {{ {n.family} unicast; }}",
            "    api {",
            f"        processes [ {PROCESS_NAME} ];",
            "        neighbor-changes;",
            "        receive { parsed; update; }",
            "    }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def speaker_env(reactor_speed: str = REACTOR_SPEED) -> dict[str, str]:
    """Environment variables for an ExaBGP 5.0 process (merge over os.environ)."""
    return {
        # stay root: as nobody the API process cannot start when Python lives under /root
        "exabgp_daemon_user": "root",
        "exabgp_daemon_drop": "false",
        "exabgp_daemon_daemonize": "false",
        # no named pipes for the CLI helper (saves ~28 MiB per speaker)
        "exabgp_api_cli": "false",
        "exabgp_log_destination": "stdout",
        # ExaBGP logs (and formats) every API route change at INFO in category "processes":
        # ~13 % of its CPU when announcing 10k prefixes. Session changes are still logged.
        "exabgp_log_processes": "false",
        # acks on: the bridge relays done/error so command errors are visible
        "exabgp_api_ack": "true",
        # the bridge replays its snapshot to the controller; ExaBGP restarting it is fine
        "exabgp_api_respawn": "true",
        "exabgp_reactor_speed": reactor_speed,
    }
