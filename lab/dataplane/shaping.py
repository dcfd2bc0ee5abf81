"""Each link's bandwidth, enforced both ways on the link's own path (I/O through ``tc``).

Both shapers live in the link's Scaleway router (the real service rate-limits each InterLink
on its side, where the customer cannot change it), one HTB class each:

* to the customer: egress of the VLAN sub-interface ``pe0.<vid>``, where everything routed
  toward the customer (VPC traffic and BGP) leaves;
* to the VPC: egress of the hidden veth end ``pe0q<vid>`` that the trunk demultiplexer
  (``lab.dataplane.bpf``) redirects the link's frames into: every frame arriving from the
  partner on that VLAN is queued there before it reaches ``pe0.<vid>``.

This kernel has HTB and TBF but no netem; impairments (``lab.dataplane.impair``) use these
classes for their ``rate`` and netfilter for the rest.

A port's capacity (a dedicated connection's, or a scenario link's ``port:``) is shared by its
links where they all meet, the partner switch: each link's switch port ``scw<k>`` redirects
what it sends toward Scaleway (egress) into the port's IFB ``pu<hash>`` and what it receives
from Scaleway (ingress) into ``pd<hash>``. Each IFB holds an HTB parent at the port's rate with
one child per link, classified by its 802.1Q tag (a classic BPF filter): a child's ceil is its
link's bandwidth, its rate the link's share of the port, so together they never pass the port.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass

from lab.dataplane.bpf import hidden_peer
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import NodeError
from lab.scenario.addressing import partner_port
from lab.scenario.topology import LinkWiring, Topology, VlanInterface

CLASS = "1:1"


class ShapingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Shaper:
    netns: str
    ifname: str
    side: str  # "to-vpc" | "to-customer"


def shapers(topology: Topology, w: LinkWiring) -> tuple[Shaper, Shaper]:
    """(to-vpc, to-customer) devices of link `w`."""
    vlan = next((v for v in topology.vlans if v.netns == w.scw_netns and v.ifname == w.scw_ifname),
                None)
    if vlan is None:  # built from the wiring alone: the same naming as addressing's
        parent, vid = w.scw_ifname.split(".")
        vlan = VlanInterface(node=w.scw_node, netns=w.scw_netns, parent=parent, vid=int(vid))
    return (Shaper(w.scw_netns, hidden_peer(vlan), "to-vpc"),
            Shaper(w.scw_netns, w.scw_ifname, "to-customer"))


def _rate(mbit: float) -> str:
    return f"{round(mbit * 1000)}kbit"


def _burst(mbit: float) -> int:
    # 2 ms worth of bytes, at least a 64 KB GSO packet: the default (one MTU) caps a fast
    # class well below its rate on a loaded two-core machine.
    return max(65536, int(mbit * 1e6 / 8 * 0.002))


def class_lines(dev: str, mbit: float, create: bool) -> list[str]:
    """`tc -batch` lines shaping `dev` to `mbit` (create: the root qdisc too)."""
    rate = _rate(mbit)
    burst = _burst(mbit)
    lines = [f"qdisc replace dev {dev} root handle 1: htb default 1"] if create else []
    lines.append(f"class replace dev {dev} parent 1: classid {CLASS} htb rate {rate} "
                 f"ceil {rate} burst {burst} cburst {burst} quantum 60000")
    return lines


def _tc(netns: str, args: list[str], stdin: str | None = None) -> str:
    nodes = runtime_for(netns)
    try:
        p = nodes.run_tool(netns, ["tc", *args], input=stdin)
    except NodeError as e:
        raise ShapingError(str(e)) from None
    if p.returncode:
        raise ShapingError(f"tc {' '.join(args)} in {netns}: {(p.stderr or p.stdout).strip()}")
    return str(p.stdout)


def current_rates(netns: str) -> dict[str, float]:
    """{device: Mbit/s} of the devices of `netns` shaped by this module (HTB class 1:1)."""
    out: dict[str, float] = {}
    for c in json.loads(_tc(netns, ["-j", "class", "show"]) or "[]"):
        if c.get("class") == "htb" and c.get("handle") == CLASS and "dev" in c:
            # `tc -j` gives rate in bytes per second.
            out[c["dev"]] = float(c.get("rate", 0)) * 8 / 1e6
    return out


def _shaped_devs(netns: str) -> set[str]:
    return {q["dev"] for q in json.loads(_tc(netns, ["-j", "qdisc", "show"]) or "[]")
            if q.get("kind") == "htb" and q.get("handle") == "1:" and q.get("root")}


def shape(topology: Topology) -> None:
    """Shape every link of `topology` to its bandwidth where it is not shaped yet: a shaped
    device keeps its class (an impairment's ``rate`` may be in force on it). Only in the
    namespaces `topology` has nodes of: a sync's part (plan.restrict) keeps every link, and
    asking each link's router would cost one `tc` per link for every link wired."""
    present = {n.netns for n in topology.nodes}
    by_ns: dict[str, list[str]] = {}
    for w in topology.links:
        if not w.bandwidth_mbps or w.scw_netns not in present:  # both ends are there
            continue
        for s in shapers(topology, w):
            by_ns.setdefault(s.netns, []).append(s.ifname)
    for netns, devs in by_ns.items():
        have = _shaped_devs(netns)
        bw = {s.ifname: w.bandwidth_mbps for w in topology.links if w.scw_netns == netns
              for s in shapers(topology, w)}
        lines = [line for d in devs if d not in have for line in class_lines(d, bw[d], True)]
        if lines:
            _tc(netns, ["-batch", "-"], "\n".join(lines) + "\n")


def set_rate(s: Shaper, mbit: float) -> None:
    """Change the class of one shaped side to `mbit` (creating it if needed)."""
    create = s.ifname not in _shaped_devs(s.netns)
    _tc(s.netns, ["-batch", "-"], "\n".join(class_lines(s.ifname, mbit, create)) + "\n")


# --------------------------------------------------------------------------- shared ports

PORT_CLASS = "1:1"
IFB_PREFIXES = ("pu", "pd")  # toward Scaleway (up), toward the customers (down)
IFB_QUEUE = 1000  # packets: an IFB's default (32) drops a TCP burst at tens of Mbit/s
_MATCH_ALL = "1,6 0 0 4294967295"  # classic BPF: return -1 (match, the filter's class)
_SKF_AD_VLAN_TAG = 0xFFFFF000 + 44  # SKF_AD_OFF + SKF_AD_VLAN_TAG: the skb's 802.1Q TCI


@dataclass(frozen=True)
class PortLink:
    device: str  # the partner switch's port toward the link's Scaleway router
    vid: int
    mbps: int


@dataclass(frozen=True)
class PortShaper:
    netns: str  # the partner node's
    name: str
    mbps: int
    links: tuple[PortLink, ...]

    @property
    def ifbs(self) -> tuple[str, str]:
        """(toward Scaleway, toward the customers): stable names whatever links come and go."""
        h = hashlib.sha1(self.name.encode()).hexdigest()[:8]
        return f"pu{h}", f"pd{h}"


def ports(topology: Topology) -> list[PortShaper]:
    """The shared ports of `topology` with a capacity, each with its links (pure)."""
    grouped: dict[tuple[str, str], list[LinkWiring]] = {}
    for w in topology.links:
        if w.port and w.port_mbps:
            grouped.setdefault((w.partner_netns, w.port), []).append(w)
    return [PortShaper(netns=netns, name=name, mbps=ws[0].port_mbps,
                       links=tuple(PortLink(partner_port(w.index), w.vlan,
                                            w.bandwidth_mbps or ws[0].port_mbps)
                                   for w in sorted(ws, key=lambda w: w.vlan)))
            for (netns, name), ws in grouped.items()]


def link_classid(vid: int) -> str:
    return f"1:{0x1000 + vid:x}"


def _vlan_is(vid: int) -> str:
    """Classic BPF bytecode (tc's form): the frame's 802.1Q VID is `vid`."""
    return f"5,32 0 0 {_SKF_AD_VLAN_TAG},84 0 0 4095,21 0 1 {vid},6 0 0 4294967295,6 0 0 0"


def port_lines(p: PortShaper, fresh: Collection[str] | None = None) -> list[str]:
    """`tc -batch` lines: both IFBs' HTB trees (the root qdiscs of those in `fresh`, default
    both: HTB cannot change one) and the redirects into them (pure)."""
    fresh = p.ifbs if fresh is None else fresh
    total = sum(lk.mbps for lk in p.links)
    lines: list[str] = []
    for ifb in p.ifbs:
        b = _burst(p.mbps)
        if ifb in fresh:
            lines.append(f"qdisc add dev {ifb} root handle 1: htb")
        lines += [f"class replace dev {ifb} parent 1: classid {PORT_CLASS} htb "
                  f"rate {_rate(p.mbps)} ceil {_rate(p.mbps)} burst {b} cburst {b} quantum 60000"]
        for lk in p.links:
            # Guaranteed: the link's share of the port (HTB lets a class under its rate send
            # whatever its parent says); ceil: its own bandwidth.
            share = lk.mbps * min(1.0, p.mbps / total)
            ceil = min(lk.mbps, p.mbps)
            cid = link_classid(lk.vid)
            lines += [f"class replace dev {ifb} parent {PORT_CLASS} classid {cid} htb "
                      f"rate {_rate(share)} ceil {_rate(ceil)} burst {_burst(ceil)} "
                      f"cburst {_burst(ceil)} quantum 60000",
                      f"filter replace dev {ifb} parent 1: prio 1 handle {lk.vid} protocol all "
                      f"bpf bytecode '{_vlan_is(lk.vid)}' classid {cid}"]
    up, down = p.ifbs
    for lk in p.links:
        # Prio 2: after the switch port's VLAN filter (prio 1, lab.dataplane.bpf), which lets
        # the frames it passes go on. An IFB sends a frame back with the classifying skipped.
        lines += [f"filter replace dev {lk.device} egress prio 2 handle 1 protocol all "
                  f"bpf bytecode '{_MATCH_ALL}' action mirred egress redirect dev {up}",
                  f"filter replace dev {lk.device} ingress prio 2 handle 1 protocol all "
                  f"bpf bytecode '{_MATCH_ALL}' action mirred egress redirect dev {down}"]
    return lines


def _ip(netns: str, args: list[str]) -> str:
    nodes = runtime_for(netns)
    try:
        p = nodes.run_tool(netns, ["ip", *args])
    except NodeError as e:
        raise ShapingError(str(e)) from None
    if p.returncode:
        raise ShapingError(f"ip {' '.join(args)} in {netns}: {(p.stderr or p.stdout).strip()}")
    return str(p.stdout)


def _ifbs(netns: str) -> set[str]:
    return {d["ifname"] for d in json.loads(_ip(netns, ["-j", "link", "show", "type", "ifb"])
                                            or "[]")}


_CLASS_LINE = re.compile(r"^class htb (\S+) (?:parent (\S+)|root)\b.*? ceil (\S+)")
_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12}


def parse_classes(text: str) -> list[tuple[str, str | None, float]]:
    """(classid, parent or None, ceil in Mbit/s) of `tc class show dev X` lines (pure): this
    tc answers classes in text even with -j."""
    out = []
    for line in text.splitlines():
        m = _CLASS_LINE.match(line.strip())
        if m:
            num = re.match(r"([0-9.]+)([a-zA-Z]*)", m.group(3))
            assert num is not None
            bits = float(num.group(1)) * _UNITS.get(num.group(2).lower(), 1)
            out.append((m.group(1), m.group(2), bits / 1e6))
    return out


def _classes(netns: str, dev: str) -> list[tuple[str, str | None, float]]:
    return parse_classes(_tc(netns, ["class", "show", "dev", dev]))


def _stale_lines(netns: str, p: PortShaper) -> list[str]:
    """Removing the classes and filters of links no longer on the port."""
    want = {link_classid(lk.vid) for lk in p.links}
    lines = []
    for ifb in p.ifbs:
        for cid, parent, _ceil in _classes(netns, ifb):
            if parent == PORT_CLASS and cid not in want:
                vid = int(str(cid).split(":")[1], 16) - 0x1000
                lines += [f"filter del dev {ifb} parent 1: prio 1 handle {vid} bpf",
                          f"class del dev {ifb} classid {cid}"]
    return lines


def shape_ports(topology: Topology) -> None:
    """Shape the shared ports in the partner nodes of `topology` (those it has nodes of) to
    their links; a partner's IFBs of ports it no longer has are removed."""
    partners = {n.netns for n in topology.nodes if n.role == "partner"}
    by_ns: dict[str, list[PortShaper]] = {ns: [] for ns in partners}
    for p in ports(topology):
        if p.netns in by_ns:
            by_ns[p.netns].append(p)
    for netns, shared in by_ns.items():
        have = _ifbs(netns)
        want = {ifb for p in shared for ifb in p.ifbs}
        for ifb in sorted(have - want):
            if ifb.startswith(IFB_PREFIXES):
                _ip(netns, ["link", "del", ifb])
        for ifb in sorted(want - have):
            _ip(netns, ["link", "add", ifb, "txqueuelen", str(IFB_QUEUE), "type", "ifb"])
            _ip(netns, ["link", "set", ifb, "up"])
        shaped = _shaped_devs(netns)
        lines = [line for p in shared
                 for line in _stale_lines(netns, p)
                 + port_lines(p, [i for i in p.ifbs if i not in shaped])]
        if lines:
            _tc(netns, ["-batch", "-"], "\n".join(lines) + "\n")


def port_rates(netns: str) -> dict[str, dict[str, float]]:
    """{IFB: {classid: ceil Mbit/s}} of the shared ports in partner node `netns`."""
    return {ifb: {cid: ceil for cid, _parent, ceil in _classes(netns, ifb)}
            for ifb in sorted(_ifbs(netns)) if ifb.startswith(IFB_PREFIXES)}
