"""Why a customer router's BGP session is not up, in one line (pure).

The FRR and BIRD routers gather an ``Observation`` per session from what the lab can see
(the daemon's process and log, what its running configuration says about the neighbor, the
session's state and last error, TCP-MD5 counters, the kernel's ARP/ND entry for Scaleway's
address and the VLAN interface's counters); ``why`` turns it into one sentence. The rules go
from the most certain cause to the least: a dead daemon, a missing or mis-set neighbor, an
OPEN refused for its AS, TCP-MD5, layer 2, then the bare BGP state.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.core.model import SCW_ASN

# Kernel neighbour states that mean "asked, nobody answered".
NO_ANSWER = ("FAILED", "INCOMPLETE")
_BAD_PEER_AS = re.compile(r"bad peer as|peer as mismatch", re.I)
_OPEN_ERROR = re.compile(r"open message error|unsupported|bad bgp identifier|hold time", re.I)
_RECEIVED = re.compile(r"^(received|notification received)\b", re.I)


@dataclass(frozen=True)
class Observation:
    """What the lab saw of one session of a customer router (None: not known)."""

    link: str
    family: str  # ipv4 | ipv6
    peer: str  # Scaleway's address
    local: str  # the customer's address
    vlan: int
    interface: str  # the customer's VLAN sub-interface
    asn: int  # the customer's ASN as the link knows it (the scenario's)
    up: bool
    bgp_state: str = "unknown"  # Idle, Connect, Active, OpenSent, ..., or "unknown"
    reason: str | None = None  # the daemon's last error for this neighbor
    daemon: str = "bgpd"
    daemon_running: bool = True
    log_tail: Sequence[str] = ()  # the daemon's last log lines (start-up output included)
    own_config: bool = False  # the router runs the user's configuration
    configured: bool | None = None  # the daemon has a neighbor for ``peer``
    neighbors: Sequence[str] = ()  # the neighbor addresses it has
    remote_asn: int | None = None  # the neighbor's AS as configured
    local_asn: int | None = None  # the AS the daemon speaks as
    md5_failures: dict[str, int] = field(default_factory=dict)  # grown since last all up
    neighbor_state: str | None = None  # kernel ARP/ND state of ``peer`` (None: no entry)
    rx_packets: int | None = None  # received on ``interface``
    config_interfaces: Sequence[str] = ()  # interfaces the user's configuration names


def _last_line(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        if line.strip():
            return " ".join(line.split())[-300:]
    return None


def _vlan_of(ifname: str) -> int | None:
    tail = ifname.rsplit(".", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def why(o: Observation) -> str | None:
    """One line saying why the session is not Established; None when it is."""
    if not o.daemon_running:
        last = _last_line(o.log_tail)
        return f"{o.daemon} is not running" + (f"; its last log line: {last}" if last else "")
    if o.up:
        return None
    fam = o.family[-1]
    placeholder = f"{{{{ link.peer_ipv{fam} }}}}"
    if o.configured is False:
        same = [n for n in o.neighbors if (":" in n) == (fam == "6")]  # of this family
        have = f"it has: {', '.join(same)}" if same else f"no IPv{fam} neighbor at all"
        if o.own_config:
            return (f"your config has no neighbor {o.peer}, Scaleway's IPv{fam} address on "
                    f"link {o.link} ({have}): use {placeholder}")
        return f"the router has no neighbor {o.peer} ({have})"
    if o.remote_asn is not None and o.remote_asn != SCW_ASN:
        return (f"neighbor {o.peer} is configured with remote AS {o.remote_asn}; Scaleway's "
                f"ASN is {SCW_ASN} ({{{{ link.scw_asn }}}})")
    if o.local_asn is not None and o.local_asn != o.asn:
        return (f"the router speaks as AS {o.local_asn} but link {o.link} expects the "
                f"customer's AS {o.asn} ({{{{ asn }}}}): Scaleway refuses the OPEN (bad peer AS)")
    reason = o.reason or ""
    if _BAD_PEER_AS.search(reason):
        if _RECEIVED.search(reason) or "received" in reason.lower():
            return (f"Scaleway refused the OPEN ({reason}): link {o.link} expects AS {o.asn}; "
                    "check the local AS of your router")
        return (f"the router refused Scaleway's OPEN ({reason}): Scaleway speaks as AS "
                f"{SCW_ASN}; check the neighbor's remote AS")
    if _OPEN_ERROR.search(reason):
        return f"BGP OPEN refused: {reason}"
    if o.md5_failures:
        what = ", ".join(f"{k} +{n}" for k, n in sorted(o.md5_failures.items()))
        return (f"TCP-MD5 authentication failures ({what}): the password differs from "
                f"the link's ({{{{ link.md5_password }}}})")
    if o.neighbor_state in NO_ANSWER or (o.neighbor_state is None and o.rx_packets == 0):
        proto = "ARP" if fam == "4" else "ND"
        others = [i for i in o.config_interfaces if i != o.interface
                  and _vlan_of(i) is not None]
        hint = (f"; your config names {', '.join(others)}, the link's VLAN is {o.vlan} "
                f"({o.interface}, {{{{ link.interface }}}})" if others else
                f"; check VLAN {o.vlan} and the address on {o.interface}")
        return f"no {proto} reply from {o.peer} on {o.interface}{hint}"
    state = o.bgp_state or "unknown"
    if reason:
        return f"BGP {state}: {reason}"
    if state.lower() in ("active", "connect"):
        return (f"BGP {state}: no TCP session with {o.peer} port 179 yet (from {o.local})")
    if state.lower() == "idle":
        return "BGP Idle: the neighbor is not trying to connect (shut down or waiting)"
    if state.lower() in ("opensent", "openconfirm"):
        return f"BGP {state}: OPEN exchanged, no KEEPALIVE from {o.peer} yet"
    return f"BGP {state}"
