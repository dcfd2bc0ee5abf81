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
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lab.dataplane.bpf import hidden_peer
from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import NodeError
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
    device keeps its class (an impairment's ``rate`` may be in force on it)."""
    by_ns: dict[str, list[str]] = {}
    for w in topology.links:
        if not w.bandwidth_mbps:
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
