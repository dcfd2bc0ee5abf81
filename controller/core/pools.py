"""What links and private networks get from the pools, and the rules of given values (pure).

Links: a VLAN unique per port, and a peering /31 + /127 pair. Private networks: the subnets
asked for must be private or documentation ranges, of a usable length, overlapping neither
the VPC's other subnets nor a reserved prefix; without any, one /24 and one /64 are
allocated. Reserved: the peering pools and link-local, plus what the data plane says it uses
(``reserved``, given by the lab: its host's and its transit networks).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from controller.core.model import SCW_ASN, ArgumentError, BgpConfig, Link, PreconditionFailed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PEERING_V4 = ipaddress.IPv4Network("169.254.0.0/16")  # one /31 per link
PEERING_V6 = ipaddress.IPv6Network("2001:db8:fc60::/48")  # one /127 per link, at a /64 start
# Always reserved: the peering pools and link-local.
OWN_RESERVED: tuple[Network, ...] = (PEERING_V4, ipaddress.IPv6Network("fe80::/10"), PEERING_V6)
# Subnets allocated to a private network created without any.
AUTO_PN_V4 = ipaddress.IPv4Network("198.18.0.0/15")
AUTO_PN_V6 = ipaddress.IPv6Network("2001:db8:300::/40")
# What a private network subnet must be inside: private and documentation ranges.
ALLOWED_SUBNETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.18.0.0/15", "192.0.2.0/24",
    "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10", "fc00::/7", "2001:db8::/32"))
PN_V4_LENGTHS, PN_V6_LENGTHS = range(8, 30), range(48, 65)


@functools.lru_cache(maxsize=16384)
def _network(text: str) -> Network | None:
    # Cached: each allocation reads every link's four peering addresses (networks are
    # immutable, so sharing them is safe).
    try:
        return ipaddress.ip_interface(text).network
    except ValueError:
        return None


def _overlapping(net: Network, among: Iterable[Network]) -> Network | None:
    return next((n for n in among if n.version == net.version and n.overlaps(net)), None)


# --- links -----------------------------------------------------------------------------------
def vlan_taken(links: Iterable[Link], vlan: int, partner_id: str | None,
               connection_id: str | None) -> bool:
    # A VLAN is unique per port: per partner (hosted) or per connection (self-hosted).
    # Links with neither (the scenario's own) are on every port of the lab.
    for lk in links:
        if lk.vlan != vlan:
            continue
        lk_partner = lk.partner.partner_id if lk.partner else None
        if lk_partner is None and lk.connection_id is None:
            return True
        if (partner_id is not None and lk_partner == partner_id) or (
                connection_id is not None and lk.connection_id == connection_id):
            return True
    return False


def allocate_vlan(links: Sequence[Link], lo: int, hi: int, partner_id: str | None,
                  connection_id: str | None) -> int:
    # Lowest VLAN free across every link, not just this port: the lab carries all of its
    # links over one emulated partner switch, where a VLAN must be unique.
    used = {lk.vlan for lk in links}
    for vlan in range(lo, hi + 1):
        if vlan not in used and not vlan_taken(links, vlan, partner_id, connection_id):
            return vlan
    raise PreconditionFailed("no_vlan_available", f"no free VLAN left in {lo}..{hi}")


def allocate_peering(links: Iterable[Link], peer_asn: int) -> tuple[BgpConfig, BgpConfig]:
    """(scw, peer) with fresh /31 + /127 pairs; pairs used by any link are skipped."""
    used: list[Network] = []
    for lk in links:
        for cfg in (lk.scw_bgp_config, lk.peer_bgp_config):
            for text in (cfg.ipv4, cfg.ipv6):
                net = _network(text)
                if net is not None:
                    used.append(net)

    v4 = _first_free(PEERING_V4, 31, used)
    # Scaleway ::0 / peer ::1 of a /64 each: the first /127 of the first free /64.
    v6_64 = _first_free(PEERING_V6, 64, used)
    v6 = (ipaddress.ip_network((v6_64.network_address, 127)) if v6_64 is not None
          else None)
    if v4 is None or v6 is None:
        raise PreconditionFailed("no_peering_address", "the peering pools are exhausted")
    scw4, peer4 = v4[0], v4[1]
    scw6, peer6 = v6[0], v6[1]
    return (BgpConfig(SCW_ASN, f"{scw4}/31", f"{scw6}/127"),
            BgpConfig(peer_asn, f"{peer4}/31", f"{peer6}/127"))


def _first_free(pool: Network, new_prefix: int, used: Iterable[Network]) -> Network | None:
    """The first /new_prefix of ``pool`` overlapping nothing in ``used``: by index, so that
    allocating the 100th link's pair does not compare 100 candidates with 200 networks
    (nor a /64 of a /40 pool with every subnet of every VPC)."""
    shift = pool.max_prefixlen - new_prefix
    base = int(pool.network_address) >> shift
    count = 1 << (new_prefix - pool.prefixlen)
    taken: set[int] = set()
    for net in used:
        if net.version != pool.version or not net.overlaps(pool):
            continue
        lo = max(int(net.network_address) >> shift, base) - base
        hi = min(int(net.broadcast_address) >> shift, base + count - 1) - base
        taken.update(range(lo, hi + 1))
    index = next((i for i in range(count) if i not in taken), None)
    if index is None:
        return None
    return ipaddress.ip_network(((base + index) << shift, new_prefix))


# --- private networks ------------------------------------------------------------------------
def check_subnets(value: Any, taken: Sequence[Network],
                  reserved: Sequence[Network]) -> list[str]:
    """The subnets asked for a private network, each checked; ``taken``: the VPC's own."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArgumentError.one("subnets", "format", "must be a list of CIDR prefixes")
    out: list[Network] = []
    details = []
    for i, text in enumerate(value):
        why = None
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            net, why = None, f"{text!r} is not a valid CIDR prefix ({exc})"
        if net is not None:
            lengths = PN_V4_LENGTHS if net.version == 4 else PN_V6_LENGTHS
            clash = _overlapping(net, [*taken, *out])
            own = _overlapping(net, OWN_RESERVED)
            blocked = _overlapping(net, reserved)
            if net.prefixlen not in lengths:
                why = f"prefix length must be /{lengths[0]}../{lengths[-1]}"
            elif own is not None:  # before the range rule: it is the real reason
                why = f"overlaps {own}, reserved for link peering and link-local addresses"
            elif blocked is not None:
                why = (f"overlaps {blocked}, reserved by the lab: its host's own network "
                       "(eth0) or its data plane's transit networks use it")
            elif not any(net.subnet_of(a) for a in ALLOWED_SUBNETS  # type: ignore[arg-type]
                         if a.version == net.version):
                why = "must be in a private or documentation range"
            elif clash is not None:
                why = f"overlaps {clash} of this VPC"
            else:
                out.append(net)
        if why:
            details.append({"argument_name": f"subnets.{i}", "reason": "constraint",
                            "help_message": why})
    if details:
        raise ArgumentError(details)
    return [str(n) for n in out]


def auto_subnets(used: Sequence[Network], reserved: Sequence[Network]) -> list[str]:
    """The first free IPv4 /24 and IPv6 /64 of the automatic pools; ``used``: the subnets
    of every VPC (the lab routes all VPCs through shared namespaces)."""
    blocked = [*used, *OWN_RESERVED, *reserved]
    v4, v6 = _first_free(AUTO_PN_V4, 24, blocked), _first_free(AUTO_PN_V6, 64, blocked)
    if v4 is None or v6 is None:
        raise PreconditionFailed("no_subnet_available", "the automatic subnet pools are full")
    return [str(v4), str(v6)]
