"""Scenario -> Topology: node names, interfaces and addresses for every customer, link,
partner and VPC (pure). Stable indexes keep existing nodes' addresses when the lab grows, and
names given before (``given``) keep their names: a node is never renamed."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from lab.scenario.model import (
    FORWARDING_ROLES,
    LAB_NAME_RE,
    ROUTER_OFFSET,
    TRANSIT_V4,
    TRANSIT_V6,
    IPNetwork,
    Scenario,
    ScenarioError,
    host_offset,
    node_handle,
)
from lab.scenario.topology import (
    Address,
    Bridge,
    BridgePort,
    CustomerSession,
    CustomerWiring,
    Endpoint,
    InstanceWiring,
    LinkWiring,
    Node,
    Route,
    Topology,
    VethPair,
    VlanInterface,
    VpcWiring,
)


def _nth(net: IPNetwork, n: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return net.network_address + n


def _cidr(net: IPNetwork, n: int) -> str:
    return f"{_nth(net, n)}/{net.prefixlen}"


def _default(version: int) -> str:
    return "0.0.0.0/0" if version == 4 else "::/0"


def transit_networks(index: int) -> tuple[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    """The transit /31 and /127 of link `index` (1 -> 198.18.0.0/31, 2001:db8:ffff::/127)."""
    t4 = ipaddress.IPv4Network((int(TRANSIT_V4.network_address) + 2 * (index - 1), 31))
    t6 = ipaddress.IPv6Network((int(TRANSIT_V6.network_address) + 2 * (index - 1), 127))
    return t4, t6


def partner_port(index: int) -> str:
    """The partner switch's port toward link `index`'s Scaleway router."""
    return f"scw{index - 1}"


@dataclass
class _Names:
    """Node naming: a node already named (``given``, by node key) keeps its name; a new one is
    short when it is the only one of its kind, suffixed when there are several. A suffixed
    name already taken by another node (a position reused) gets one more suffix."""

    multi_customer: bool
    multi_link: bool
    multi_partner: bool
    multi_vpc: bool
    multi_instance: bool
    given: Mapping[str, str] = field(default_factory=dict)
    chosen: dict[str, str] = field(default_factory=dict)  # key -> name, as handed out

    def _name(self, key: str, fresh: str) -> str:
        if key in self.chosen:
            return self.chosen[key]
        name = self.given.get(key)
        if name is None:
            taken = set(self.given.values()) | set(self.chosen.values())
            name, n = fresh, 2
            while name in taken:
                name, n = f"{fresh}-{n}", n + 1
        self.chosen[key] = name
        return name

    def customer_router(self, c: str) -> str:
        return self._name(f"customer-router:{c}",
                          f"customer-router-{c}" if self.multi_customer else "customer-router")

    def onprem_host(self, c: str) -> str:
        return self._name(f"onprem-host:{c}",
                          f"onprem-host-{c}" if self.multi_customer else "onprem-host")

    def partner(self, p: str) -> str:
        return self._name(f"partner:{p}", f"partner-{p}" if self.multi_partner else "partner")

    def scw(self, index: int) -> str:
        return self._name(f"scw-interlink:{index}",
                          f"scw-interlink-{index}" if self.multi_link else "scw-interlink")

    def vpc_router(self, index: int) -> str:
        return self._name(f"vpc-router:{index}",
                          f"vpc-router-{index}" if self.multi_vpc else "vpc-router")

    def instance(self, vpc_index: int, pn: str, pn_position: int) -> str:
        return self._name(f"vpc-instance:{vpc_index}:{pn}",
                          f"vpc-instance-{vpc_index}-{pn_position}" if self.multi_instance
                          else "vpc-instance")


def build_topology(scenario: Scenario, lab: str = "ilab",
                   given: Mapping[str, str] | None = None) -> Topology:
    """``given``: node key -> name of the nodes built before (``Topology.node_names``); they
    keep those names, whatever the lab has grown or shrunk to."""
    if not LAB_NAME_RE.match(lab):
        raise ScenarioError(f"invalid lab name {lab!r}: 1-12 lowercase letters/digits, "
                            "starting with a letter")
    names = _Names(
        multi_customer=len(scenario.customers) > 1,
        multi_link=len(scenario.links) > 1,
        multi_partner=len(scenario.partners) > 1,
        multi_vpc=len(scenario.vpcs) > 1,
        multi_instance=len(scenario.vpcs) > 1
        or sum(len(v.private_networks) for v in scenario.vpcs) > 1,
        given=dict(given or {}))

    def ns(node: str) -> str:
        return node_handle(scenario.runtime, lab, node)

    nodes: list[Node] = []
    veths: list[VethPair] = []
    vlans: list[VlanInterface] = []
    addresses: list[Address] = []
    routes: list[Route] = []
    wirings: list[LinkWiring] = []

    def add_node(name: str, role: str, key: str) -> None:
        nodes.append(Node(name=name, role=role, netns=ns(name),
                          forwarding=role in FORWARDING_ROLES, key=f"{role}:{key}"))

    def veth(a: str, a_if: str, b: str, b_if: str) -> None:
        veths.append(VethPair(Endpoint(a, ns(a), a_if), Endpoint(b, ns(b), b_if)))

    def addr(node: str, ifname: str, cidr: str) -> None:
        addresses.append(Address(node=node, netns=ns(node), ifname=ifname, cidr=cidr))

    def route(node: str, prefix: str, via: str) -> None:
        routes.append(Route(node=node, netns=ns(node), prefix=prefix, via=via))

    # Customers: an on-prem host behind each customer router.
    for c in scenario.customers:
        host, router = names.onprem_host(c.name), names.customer_router(c.name)
        add_node(host, "onprem-host", c.name)
        add_node(router, "customer-router", c.name)
        veth(host, "eth0", router, "lan0")
        for lan in (c.lan_v4, c.lan_v6):
            if lan:
                net = ipaddress.ip_network(lan)
                addr(host, "eth0", _cidr(net, host_offset(net.version)))
                addr(router, "lan0", _cidr(net, ROUTER_OFFSET))
                route(host, _default(net.version), str(_nth(net, ROUTER_OFFSET)))

    for p in scenario.partners:
        add_node(names.partner(p), "partner", p)
    for lk in scenario.links:
        add_node(names.scw(lk.index), "scw-interlink", str(lk.index))
    for v in scenario.vpcs:
        add_node(names.vpc_router(v.index), "vpc-router", str(v.index))

    # Cross-connects: one trunk per (customer, partner) pair, il0, il1, ... in the order the
    # customer's links first use each partner; on the partner it is port cust<customer pos>.
    cust_pos = {c.name: i for i, c in enumerate(scenario.customers)}
    trunks: dict[tuple[str, str], str] = {}
    for lk in scenario.links:
        key = (lk.customer, lk.partner)
        if key not in trunks:
            k = sum(1 for (c, _) in trunks if c == lk.customer)
            trunks[key] = f"il{k}"
            veth(names.customer_router(lk.customer), trunks[key], names.partner(lk.partner),
                 f"cust{cust_pos[lk.customer]}")
    ports: dict[str, list[BridgePort]] = {p: [] for p in scenario.partners}
    for cname, pname in trunks:
        vids = tuple(lk.vlan for lk in scenario.links
                     if (lk.customer, lk.partner) == (cname, pname))
        ports[pname].append(BridgePort(f"cust{cust_pos[cname]}", vids))

    sessions: dict[str, list[CustomerSession]] = {c.name: [] for c in scenario.customers}
    for lk in scenario.links:
        scw, router = names.scw(lk.index), names.customer_router(lk.customer)
        partner = names.partner(lk.partner)
        port = partner_port(lk.index)
        veth(scw, "pe0", partner, port)
        ports[lk.partner].append(BridgePort(port, (lk.vlan,)))
        trunk = trunks[(lk.customer, lk.partner)]
        vlans.append(VlanInterface(node=router, netns=ns(router), parent=trunk, vid=lk.vlan))
        vlans.append(VlanInterface(node=scw, netns=ns(scw), parent="pe0", vid=lk.vlan))
        cust_if, scw_if = f"{trunk}.{lk.vlan}", f"pe0.{lk.vlan}"
        peer: dict[int, tuple[str, str, str, str]] = {}
        for peering in (lk.peering_v4, lk.peering_v6):
            if peering:
                net = ipaddress.ip_network(peering)
                scw_c, peer_c = _cidr(net, 0), _cidr(net, 1)
                addr(scw, scw_if, scw_c)
                addr(router, cust_if, peer_c)
                peer[net.version] = (str(_nth(net, 0)), str(_nth(net, 1)), scw_c, peer_c)
                sessions[lk.customer].append(CustomerSession(
                    link=lk.name, family=f"ipv{net.version}", local_address=str(_nth(net, 1)),
                    peer_address=str(_nth(net, 0)), vlan=lk.vlan, ifname=cust_if))

        # Transit to the VPC's router, addressed by link index (stable across additions).
        transit: tuple[str, str, str, str] | None = None
        vpc_router: str | None = None
        if lk.vpc is not None:
            vpc = scenario.vpc(lk.vpc)
            vpc_router = names.vpc_router(vpc.index)
            t4, t6 = transit_networks(lk.index)
            vr_if = f"il{lk.index - 1}"
            veth(scw, "vpc0", vpc_router, vr_if)
            for t in (t4, t6):
                addr(scw, "vpc0", _cidr(t, 0))
                addr(vpc_router, vr_if, _cidr(t, 1))
            for s in vpc.subnets:
                net = ipaddress.ip_network(s)
                route(scw, s, str(_nth(t4 if net.version == 4 else t6, 1)))
            transit = (str(_nth(t4, 0)), str(_nth(t6, 0)), str(_nth(t4, 1)), str(_nth(t6, 1)))

        n4, n6 = peer.get(4), peer.get(6)
        wirings.append(LinkWiring(
            name=lk.name, vlan=lk.vlan, vpc=lk.vpc,
            vpc_subnets=scenario.vpc(lk.vpc).subnets if lk.vpc else (),
            scw_node=scw, scw_netns=ns(scw), scw_ifname=scw_if,
            customer_netns=ns(router), customer_ifname=cust_if,
            vpc_router_netns=ns(vpc_router) if vpc_router else None,
            scw_v4=n4[0] if n4 else None, peer_v4=n4[1] if n4 else None,
            scw_v4_cidr=n4[2] if n4 else None, peer_v4_cidr=n4[3] if n4 else None,
            scw_v6=n6[0] if n6 else None, peer_v6=n6[1] if n6 else None,
            scw_v6_cidr=n6[2] if n6 else None, peer_v6_cidr=n6[3] if n6 else None,
            scw_transit_v4=transit[0] if transit else None,
            scw_transit_v6=transit[1] if transit else None,
            vpc_router_transit_v4=transit[2] if transit else None,
            vpc_router_transit_v6=transit[3] if transit else None,
            customer=lk.customer, index=lk.index, partner_netns=ns(partner),
            partner=lk.partner, pop=lk.pop, md5_password=lk.md5_password,
            customer_node=router, vpc_router_node=vpc_router,
            bandwidth_mbps=lk.bandwidth_mbps, impairment=lk.impairment,
            impair_direction=lk.impair_direction, port=lk.port, port_mbps=lk.port_mbps,
        ))

    # VPC side: one vpc-router interface and one instance per private network.
    vpc_wirings: list[VpcWiring] = []
    for v in scenario.vpcs:
        vr = names.vpc_router(v.index)
        instances: list[InstanceWiring] = []
        for i, pn in enumerate(v.private_networks):
            inst = names.instance(v.index, pn.name, i + 1)
            add_node(inst, "vpc-instance", f"{v.index}:{pn.name}")
            pn_if = f"pn{i}"
            veth(vr, pn_if, inst, "eth0")
            inst_addrs = []
            for s in pn.subnets:
                net = ipaddress.ip_network(s)
                addr(vr, pn_if, _cidr(net, ROUTER_OFFSET))
                addr(inst, "eth0", _cidr(net, host_offset(net.version)))
                route(inst, _default(net.version), str(_nth(net, ROUTER_OFFSET)))
                inst_addrs.append(str(_nth(net, host_offset(net.version))))
            instances.append(InstanceWiring(private_network=pn.name, node=inst, netns=ns(inst),
                                            subnets=pn.subnets, addresses=tuple(inst_addrs)))
        vpc_wirings.append(VpcWiring(name=v.name, index=v.index, router_node=vr,
                                     router_netns=ns(vr), subnets=v.subnets,
                                     instances=tuple(instances)))

    bridges = tuple(Bridge(node=names.partner(p), netns=ns(names.partner(p)), ifname="br0",
                           ports=tuple(ports[p])) for p in scenario.partners)
    customers = tuple(CustomerWiring(
        name=c.name, router=c.router, asn=c.asn, netns=ns(names.customer_router(c.name)),
        lan_host_netns=ns(names.onprem_host(c.name)), lan_v4=c.lan_v4, lan_v6=c.lan_v6,
        announce=c.announce, md5_password=c.md5_password, sessions=tuple(sessions[c.name]),
        node=names.customer_router(c.name), lan_host=names.onprem_host(c.name),
        config=c.config, image=c.image,
    ) for c in scenario.customers)
    return Topology(lab=lab, scenario=scenario.name, nodes=tuple(nodes), veths=tuple(veths),
                    vlans=tuple(vlans), bridges=bridges, addresses=tuple(addresses),
                    routes=tuple(routes), links=tuple(wirings),
                    lan_hosts=tuple(c.lan_host for c in customers), customers=customers,
                    vpcs=tuple(vpc_wirings), runtime=scenario.runtime, image=scenario.image,
                    images=tuple(sorted(
                        (c.node, img) for c, spec in zip(customers, scenario.customers,
                                                           strict=True)
                        if (img := spec.image) is not None)))
