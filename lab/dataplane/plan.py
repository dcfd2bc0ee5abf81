"""What to change in the lab's namespaces, as `ip -batch` lines and sysctl values (pure).

``sync`` reads what exists (``iproute.live_state``), asks this module for the lines that turn
it into the wanted topology, and runs them. Every function is idempotent with respect to the
live state it is given: what already exists produces no line.
"""

from __future__ import annotations

import dataclasses

from lab.dataplane.bpf import hidden_peer
from lab.dataplane.iproute import LiveState, norm_cidr
from lab.scenario.topology import Address, Bridge, Route, Topology, VethPair, VlanInterface


def sysctls(topology: Topology, netns: str) -> dict[str, str]:
    """/proc/sys keys (relative) and values for namespace `netns`; rewriting them is
    harmless, so they are set on every sync."""
    node = next(n for n in topology.nodes if n.netns == netns)
    s = {
        # Before any interface exists: a tentative address makes ExaBGP fail to bind.
        "net/ipv6/conf/all/accept_dad": "0",
        "net/ipv6/conf/default/accept_dad": "0",
        # Routes move between links as sessions flap; strict rp_filter would drop those.
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/default/rp_filter": "0",
    }
    if node.forwarding:
        s |= {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
              "net/ipv6/conf/default/forwarding": "1"}
    if node.role == "partner":
        # A pure L2 node: no link-local chatter of its own on the ports.
        s |= {"net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"}
    return s


def _veth_key(v: VethPair) -> frozenset[tuple[str, str]]:
    return frozenset(((v.a.netns, v.a.ifname), (v.b.netns, v.b.ifname)))


def veth_lines(topology: Topology, live: dict[str, LiveState]) -> tuple[
        dict[str, list[str]], list[str]]:
    """The veth pairs `live` lacks: (per namespace, lone ends to delete first; `ip -batch`
    lines creating the pairs, each end directly in its namespace). A lone end (its peer's
    namespace went, e.g. a stopped container) is forgotten from `live` with its addresses,
    so that they are added again on the new end."""
    lone: dict[str, list[str]] = {}
    lines: list[str] = []
    for v in topology.veths:
        have = [e for e in (v.a, v.b) if e.ifname in live[e.netns].ifaces]
        if len(have) == 2:
            continue
        for end in have:
            lone.setdefault(end.netns, []).append(f"link del {end.ifname}")
            st = live[end.netns]
            st.ifaces.discard(end.ifname)
            st.addrs -= {a for a in st.addrs if a[0] == end.ifname}
        lines.append(f"link add {v.a.ifname} netns {v.a.netns} type veth "
                     f"peer name {v.b.ifname} netns {v.b.netns}")
    return lone, lines


def create_lines(topology: Topology, netns: str, live: LiveState) -> list[str]:
    """ip batch lines creating what `topology` wants in `netns` and `live` lacks (veth pairs
    excepted: they are created beforehand, across namespaces)."""
    lines = ["link set lo up"]
    ifaces: list[str] = []
    for v in topology.veths:
        ifaces += [e.ifname for e in (v.a, v.b) if e.netns == netns]
    for vl in topology.vlans:
        if vl.netns != netns:
            continue
        if vl.ifname not in live.ifaces:
            lines.append(f"link add {vl.ifname} type veth peer name {hidden_peer(vl)}")
            # The hidden end only relays frames: no link-local address, no IPv6 chatter.
            lines.append(f"link set dev {hidden_peer(vl)} addrgenmode none")
        ifaces += [vl.ifname, hidden_peer(vl)]
    for br in topology.bridges:
        if br.netns != netns:
            continue
        if br.ifname not in live.ifaces:
            lines.append(f"link add {br.ifname} type bridge stp_state 0")
        # Idempotent: the kernel ignores enslaving a port to the bridge it is already in.
        lines += [f"link set dev {p.ifname} master {br.ifname}" for p in br.ports]
        ifaces.append(br.ifname)
    # Links up before addresses: the other order costs ~1 s on the first IPv6 packet.
    lines += [f"link set dev {i} up" for i in ifaces]
    for a in topology.addresses:
        if a.netns == netns and (a.ifname, norm_cidr(a.cidr)) not in live.addrs:
            lines.append(f"addr add {a.cidr} dev {a.ifname}" + (" nodad" if ":" in a.cidr else ""))
    # `replace`: re-asserting an existing static route changes nothing.
    lines += [f"route replace {r.prefix} via {r.via}" for r in topology.routes
              if r.netns == netns]
    return lines


def remove_lines(old: Topology, new: Topology, live: dict[str, LiveState]) -> tuple[
        dict[str, list[str]], dict[str, list[str]]]:
    """ip batch lines removing what `old` had and `new` does not, per namespace: (strict
    lines, best-effort route lines). Updates `live` to what will be left."""
    strict: dict[str, list[str]] = {}
    routes: dict[str, list[str]] = {}
    new_veths = {_veth_key(v) for v in new.veths}
    for v in old.veths:
        if _veth_key(v) in new_veths:
            continue
        for end in (v.a, v.b):
            if end.netns in live and end.ifname in live[end.netns].ifaces:
                strict.setdefault(end.netns, []).append(f"link del {end.ifname}")
                break  # its peer goes with it
        for end in (v.a, v.b):
            if end.netns in live:
                live[end.netns].ifaces.discard(end.ifname)
    new_vlans = {(v.netns, v.parent, v.vid) for v in new.vlans}
    for vl in old.vlans:
        if (vl.netns, vl.parent, vl.vid) not in new_vlans and vl.netns in live \
                and vl.ifname in live[vl.netns].ifaces:
            strict.setdefault(vl.netns, []).append(f"link del {vl.ifname}")
            live[vl.netns].ifaces -= {vl.ifname, hidden_peer(vl)}
    new_addrs = {(a.netns, a.ifname, norm_cidr(a.cidr)) for a in new.addresses}
    for a in old.addresses:
        key = (a.netns, a.ifname, norm_cidr(a.cidr))
        st = live.get(a.netns)
        if key not in new_addrs and st is not None and a.ifname in st.ifaces \
                and key[1:] in st.addrs:
            strict.setdefault(a.netns, []).append(f"addr del {a.cidr} dev {a.ifname}")
            st.addrs.discard(key[1:])
    new_routes = {(r.netns, r.prefix, r.via) for r in new.routes}
    for r in old.routes:
        if (r.netns, r.prefix, r.via) not in new_routes and r.netns in live:
            # Best effort: the kernel already dropped it if its interface or address went.
            routes.setdefault(r.netns, []).append(f"route del {r.prefix} via {r.via}")
    for ns_lines in strict.values():
        # Delete sub-interfaces and veths after addresses: an address line on a deleted
        # interface would fail.
        ns_lines.sort(key=lambda line: line.startswith("link del"))
    return strict, routes


def _slices(topology: Topology) -> dict[str, tuple[object, ...]]:
    """Everything of `topology` each namespace holds (comparable): its node, the veths with
    an end in it, its sub-interfaces, bridges, addresses and routes."""
    images = dict(topology.images)
    parts: dict[str, list[object]] = {
        n.netns: [n, images.get(n.name, topology.image)] for n in topology.nodes}
    for v in topology.veths:
        for end in {v.a.netns, v.b.netns}:
            parts.setdefault(end, []).append(_veth_key(v))
    items: tuple[VlanInterface | Bridge | Address | Route, ...] = (
        *topology.vlans, *topology.bridges, *topology.addresses, *topology.routes)
    for item in items:
        parts.setdefault(item.netns, []).append(item)
    return {n: tuple(sorted(map(repr, p))) for n, p in parts.items()}


def touched(old: Topology | None, new: Topology) -> set[str]:
    """The namespaces whose part of the topology differs between `old` and `new` (all of
    `new`'s when there is no `old`): a sync only needs to look at and change those, so wiring
    one more link costs the same with 2 links or 100."""
    new_parts = _slices(new)
    if old is None:
        return set(new_parts)
    old_parts = _slices(old)
    return {n for n in new_parts.keys() | old_parts.keys()
            if new_parts.get(n) != old_parts.get(n)}


def restrict(topology: Topology, names: set[str]) -> Topology:
    """`topology` reduced to the namespaces `names`: their nodes, the veths with both ends in
    them (a veth with an end elsewhere is unchanged, so it exists already), their
    sub-interfaces, bridges, addresses and routes."""
    return dataclasses.replace(
        topology,
        nodes=tuple(n for n in topology.nodes if n.netns in names),
        veths=tuple(v for v in topology.veths if v.a.netns in names and v.b.netns in names),
        vlans=tuple(v for v in topology.vlans if v.netns in names),
        bridges=tuple(b for b in topology.bridges if b.netns in names),
        addresses=tuple(a for a in topology.addresses if a.netns in names),
        routes=tuple(r for r in topology.routes if r.netns in names))
