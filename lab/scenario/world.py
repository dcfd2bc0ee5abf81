"""The lab's world as resources change through the API (pure).

A running lab starts from its scenario file; links provisioned and VPCs created through the API
extend it. Each function returns a new Scenario (the topology is rebuilt from it and the data
plane synced), never mutating its input. Names and indexes of what exists never change, so
existing nodes keep their addresses.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Mapping

from controller.core.catalog import Catalog
from controller.core.model import Link, NotFound, Vpc
from lab.scenario.model import (
    DEFAULT_ROUTER,
    AnnounceSpec,
    CustomerSpec,
    LinkSpec,
    PrivateNetworkSpec,
    Scenario,
    VpcSpec,
)

# On-prem LANs of the customer routers the lab creates for API links: one /24 and one /64 each.
API_LAN_V6_BASE = 0x20010DB8_1000_0000 << 64  # 2001:db8:1000::/36 -> 2001:db8:1nnn::/64


def api_customer_lan(index: int) -> tuple[str, str]:
    """(IPv4 /24, IPv6 /64) of the n-th lab-made customer; index 1..127."""
    v4 = ipaddress.ip_network(f"198.18.{128 + index}.0/24")
    v6 = ipaddress.IPv6Network((API_LAN_V6_BASE + (index << 64), 64))
    return str(v4), str(v6)


def slug(text: str) -> str:
    """A name part made of ``text``: lowercase letters, digits and dashes, at most 20."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:20] or "x"


def _peering(cidr: str) -> str | None:
    return str(ipaddress.ip_interface(cidr).network) if cidr else None


def with_link(scn: Scenario, link: Link, vpc_name: str | None,
              per_link: Callable[[str], bool],
              port: tuple[str, int] | None = None) -> tuple[Scenario, str, str]:
    """Add an API-created link; returns (scenario, link spec name, customer name).

    ``port``: (name, Mbps) of the port whose capacity the link shares (its dedicated
    connection), None: shaped on its own.

    The customer router is the scenario's own when one has the link's peer ASN and its kind
    holds per-link sessions (``per_link(kind)``: its config is regenerated with the new
    sessions); otherwise the lab creates one of the default kind configured from
    ``peer_bgp_config``, announcing a LAN of its own.
    """
    index = scn.next_link_index()
    name = f"{slug(link.name)}-{index}"
    customer = next((c for c in scn.customers
                     if c.asn == link.peer_bgp_config.asn and per_link(c.router)), None)
    customers = scn.customers
    if customer is None:
        used = {c.name for c in scn.customers}
        n = 1
        while f"c{n}" in used:
            n += 1
        lan_v4, lan_v6 = api_customer_lan(n)
        customer = CustomerSpec(
            name=f"c{n}", asn=link.peer_bgp_config.asn, router=DEFAULT_ROUTER, lan_v4=lan_v4,
            lan_v6=lan_v6, announce=(AnnounceSpec(lan_v4), AnnounceSpec(lan_v6)))
        customers = (*customers, customer)
    spec = LinkSpec(
        name=name, vlan=link.vlan, bandwidth_mbps=link.bandwidth_mbps,
        peering_v4=_peering(link.peer_bgp_config.ipv4),
        peering_v6=_peering(link.peer_bgp_config.ipv6),
        vpc=vpc_name, routing_policies=(), enable_route_propagation=False,
        customer=customer.name, index=index,
        partner=scn.links[0].partner if scn.links else "partner",
        md5_password=link.md5_password,
        port=slug(port[0]) if port else None, port_mbps=port[1] if port else 0)
    return (dataclasses.replace(scn, customers=customers, links=(*scn.links, spec)), name,
            customer.name)


def link_port(link: Link, catalog: Catalog | None) -> tuple[str, int] | None:
    """The port a link shares and its capacity, as the catalog says: a self-hosted link's
    dedicated connection (its ``bandwidth_mbps``). A hosted link shares its partner's port at
    the PoP, but the catalog gives no capacity for it: None (the link alone is shaped)."""
    if link.connection_id is None or catalog is None:
        return None
    try:
        conn = catalog.connection(link.connection_id)
    except NotFound:
        return None
    return conn.name, conn.bandwidth_mbps


def without_link(scn: Scenario, name: str, drop_customer: str | None) -> Scenario:
    links = tuple(lk for lk in scn.links if lk.name != name)
    customers = scn.customers
    if drop_customer and not any(lk.customer == drop_customer for lk in links):
        customers = tuple(c for c in customers if c.name != drop_customer)
    return dataclasses.replace(scn, links=links, customers=customers)


def with_vpcs(scn: Scenario, vpcs: Mapping[str, Vpc], vpc_names: Mapping[str, str],
              link_vpcs: Mapping[str, str | None]) -> tuple[Scenario, dict[str, str]]:
    """Make the scenario's VPCs match the API's, and each link's VPC its attachment.

    ``vpc_names``: VPC id -> scenario name of those already in the lab; ``link_vpcs``: link spec
    name -> attached VPC id (None keeps the link's current transit: detaching must not
    re-plumb). Returns the new scenario and the new id -> name map.
    """
    names = {vid: n for vid, n in vpc_names.items() if vid in vpcs}
    specs = {v.name: v for v in scn.vpcs}
    next_index = scn.next_vpc_index()
    out = []
    for vid, vpc in vpcs.items():
        name = names.get(vid)
        if name is None:
            name = f"{slug(vpc.name)}-{next_index}"
            names[vid] = name
            index = next_index
            next_index += 1
        else:
            index = specs[name].index if name in specs else next_index
        pn_names: list[str] = []
        for i, pn in enumerate(vpc.private_networks):
            pn_name = slug(pn.name)
            pn_names.append(pn_name if pn_name not in pn_names else f"{pn_name}-{i + 1}")
        pns = tuple(PrivateNetworkSpec(name=n, subnets=tuple(pn.subnets))
                    for n, pn in zip(pn_names, vpc.private_networks, strict=True))
        out.append(VpcSpec(name=name, private_networks=pns, index=index))
    links = []
    for lk in scn.links:
        attached = link_vpcs.get(lk.name)
        vpc_name = names.get(attached) if attached else lk.vpc
        links.append(dataclasses.replace(
            lk, vpc=vpc_name if vpc_name in names.values() else None))
    return dataclasses.replace(scn, vpcs=tuple(sorted(out, key=lambda v: v.index)),
                               links=tuple(links)), names
