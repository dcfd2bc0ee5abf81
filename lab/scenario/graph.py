"""The lab as a picture (pure): a Topology plus the links' status -> a graph model (nodes with
their ASN and addresses, the wires between them, each InterLink and each BGP session), and its
text forms, Mermaid and Graphviz dot.

`interlink-lab graph` and the controller's live page (lab.daemon.graph_api) draw this model;
the page gets it as JSON (``to_json``) and keeps it current from the event stream. Statuses
come from the controller's link JSON (``status``, ``bgp_v4_status``, ``bgp_v6_status``); a
graph of a scenario file has none (``unknown``, grey).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core.model import SCW_ASN
from lab.scenario.topology import LinkWiring, Topology

Json = dict[str, Any]
UNKNOWN = "unknown"
GREY = "#9e9e9e"
# An InterLink by its status: anything else (configuring, requested, refused...) is grey.
LINK_COLOURS = {"active": "#2e7d32", "limited_connectivity": "#ef6c00", "all_down": "#c62828"}
# A BGP session by its state (disabled: no policy of its family attached).
BGP_COLOURS = {"up": "#2e7d32", "down": "#c62828"}
FAMILIES = (("ipv4", "bgp_v4_status", "IPv4"), ("ipv6", "bgp_v6_status", "IPv6"))
SIDES = {"onprem-host": "customer", "customer-router": "customer", "partner": "partner",
         "scw-interlink": "scaleway", "vpc-router": "scaleway", "vpc-instance": "scaleway"}
SIDE_LABELS = {"customer": "Customer premises", "partner": "Partner (PoP)",
               "scaleway": "Scaleway"}
SIDE_ORDER = tuple(SIDE_LABELS)
ROLE_FILLS = {"onprem-host": "#eceff1", "customer-router": "#e3f2fd", "partner": "#fff8e1",
              "scw-interlink": "#ede7f6", "vpc-router": "#ede7f6", "vpc-instance": "#eceff1"}
FORMATS = ("mermaid", "dot", "svg", "html")


def colour(kind: str, status: str | None) -> str:
    table = LINK_COLOURS if kind == "interlink" else BGP_COLOURS if kind == "bgp" else {}
    return table.get(status or "", GREY)


@dataclass(frozen=True)
class GraphNode:
    id: str  # the node's name
    role: str
    side: str  # a key of SIDE_LABELS
    asn: int | None = None
    addresses: tuple[str, ...] = ()  # "il0.2451 169.254.0.17/31"
    notes: tuple[str, ...] = ()  # "VPC vpc-lab", "router exabgp"

    @property
    def lines(self) -> tuple[str, ...]:
        """What a box shows, top to bottom."""
        head = (self.id, *([f"AS {self.asn}"] if self.asn is not None else []))
        return (*head, *self.notes, *self.addresses)


@dataclass(frozen=True)
class GraphEdge:
    id: str
    kind: str  # "wire" | "interlink" | "bgp"
    source: str
    target: str
    label: str
    status: str | None = None  # interlink: link status; bgp: session state; wire: None
    link: str | None = None  # the topology's link name
    link_id: str | None = None  # the API's id (running lab)
    family: str | None = None  # bgp: ipv4 | ipv6
    vlans: tuple[int, ...] = ()

    @property
    def colour(self) -> str:
        return colour(self.kind, self.status)

    @property
    def text(self) -> str:
        """The label with the status, as drawn."""
        return f"{self.label} · {self.status}" if self.status is not None else self.label


@dataclass(frozen=True)
class Graph:
    lab: str
    scenario: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    live: bool = False  # statuses from a running controller
    sides: tuple[str, ...] = field(default=())  # the sides present, in drawing order

    def edge(self, edge_id: str) -> GraphEdge:
        for e in self.edges:
            if e.id == edge_id:
                return e
        raise KeyError(edge_id)


def _addresses(topo: Topology, node: str) -> tuple[str, ...]:
    return tuple(f"{a.ifname} {a.cidr}" for a in topo.addresses if a.node == node)


def _notes(topo: Topology, node: str, role: str) -> tuple[str, ...]:
    out: list[str] = []
    for c in topo.customers:
        if c.node == node:
            out.append(f"router {c.router}" + (" (own config)" if c.config else ""))
    for v in topo.vpcs:
        if v.router_node == node:
            out += [f"VPC {v.name}", *(f"subnet {s}" for s in v.subnets)]
        for i in v.instances:
            if i.node == node:
                out.append(f"PN {i.private_network}")
    if role == "partner":
        vids = sorted({vid for b in topo.bridges if b.node == node for p in b.ports
                       for vid in p.tagged_vids})
        if vids:
            out.append("VLAN " + ", ".join(str(v) for v in vids))
    return tuple(out)


def _asn(topo: Topology, node: str, role: str) -> int | None:
    if role == "scw-interlink":
        return SCW_ASN
    return next((c.asn for c in topo.customers if c.node == node), None)


def _wires(topo: Topology) -> list[GraphEdge]:
    tagged = {(b.node, p.ifname): p.tagged_vids for b in topo.bridges for p in b.ports}
    side = {n.name: SIDE_ORDER.index(SIDES.get(n.role, "scaleway")) for n in topo.nodes}
    out = []
    for v in topo.veths:
        a, b = v.a, v.b
        if side.get(b.node, 0) < side.get(a.node, 0):
            a, b = b, a  # customer side first: layouts rank the nodes along the wires
        vlans = tagged.get((a.node, a.ifname)) or tagged.get((b.node, b.ifname)) or ()
        label = f"{a.ifname} — {b.ifname}"
        if vlans:
            label += " · 802.1Q " + ", ".join(str(x) for x in vlans)
        out.append(GraphEdge(id=f"wire:{a.node}:{a.ifname}:{b.node}:{b.ifname}",
                             kind="wire", source=a.node, target=b.node, label=label,
                             vlans=tuple(vlans)))
    return out


def _short(address: str) -> str:
    return str(ipaddress.ip_address(address))


def _link_edges(w: LinkWiring, state: Mapping[str, Any] | None) -> list[GraphEdge]:
    known = state is not None  # a running lab: a link it does not report is unknown
    state = state or {}
    link_id = str(state["id"]) if state.get("id") else None
    label = f"{state.get('name') or w.name} · VLAN {w.vlan}"
    if state.get("bandwidth_mbps"):
        label += f" · {state['bandwidth_mbps']} Mbps"
    status = str(state.get("status") or UNKNOWN) if known else None
    out = [GraphEdge(id=f"link:{w.name}", kind="interlink", source=w.customer_node,
                     target=w.scw_node, label=label, status=status, link=w.name,
                     link_id=link_id, vlans=(w.vlan,))]
    for family, key, title in FAMILIES:
        peer, scw = (w.peer_v4, w.scw_v4) if family == "ipv4" else (w.peer_v6, w.scw_v6)
        if not (peer and scw):
            continue
        out.append(GraphEdge(
            id=f"bgp:{w.name}:{family}", kind="bgp", source=w.customer_node,
            target=w.scw_node, label=f"BGP {title} {_short(peer)} ↔ {_short(scw)}",
            status=str(state.get(key) or UNKNOWN) if known else None, link=w.name,
            link_id=link_id, family=family))
    return out


def build_graph(topo: Topology, status: Mapping[str, Mapping[str, Any]] | None = None
                ) -> Graph:
    """The picture of ``topo``; ``status`` maps a topology link name to the controller's JSON
    of that link (None: no lab, no statuses; a link missing from it is ``unknown``)."""
    nodes = tuple(GraphNode(id=n.name, role=n.role, side=SIDES.get(n.role, "scaleway"),
                            asn=_asn(topo, n.name, n.role),
                            addresses=_addresses(topo, n.name),
                            notes=_notes(topo, n.name, n.role)) for n in topo.nodes)
    edges = _wires(topo)
    for w in topo.links:
        state = None if status is None else status.get(w.name, {})
        edges += _link_edges(w, state)
    present = {n.side for n in nodes}
    return Graph(lab=topo.lab, scenario=topo.scenario, nodes=nodes, edges=tuple(edges),
                 live=status is not None,
                 sides=tuple(s for s in SIDE_LABELS if s in present))


# --- JSON (the live page's model) -------------------------------------------------------------
def to_json(graph: Graph) -> Json:
    return {
        "lab": graph.lab, "scenario": graph.scenario, "live": graph.live,
        "sides": [{"id": s, "label": SIDE_LABELS[s]} for s in graph.sides],
        "nodes": [{"id": n.id, "role": n.role, "side": n.side, "asn": n.asn,
                   "addresses": list(n.addresses), "notes": list(n.notes),
                   "label": "\n".join(n.lines), "fill": ROLE_FILLS.get(n.role, "#ffffff")}
                  for n in graph.nodes],
        "edges": [{"id": e.id, "kind": e.kind, "source": e.source, "target": e.target,
                   "label": e.label, "status": e.status, "link": e.link, "link_id": e.link_id,
                   "family": e.family, "vlans": list(e.vlans), "colour": e.colour}
                  for e in graph.edges],
        "colours": {"interlink": LINK_COLOURS, "bgp": BGP_COLOURS, "other": GREY},
    }


def from_json(data: Mapping[str, Any]) -> Graph:
    nodes = tuple(GraphNode(id=n["id"], role=n["role"], side=n["side"], asn=n.get("asn"),
                            addresses=tuple(n.get("addresses") or ()),
                            notes=tuple(n.get("notes") or ())) for n in data["nodes"])
    edges = tuple(GraphEdge(id=e["id"], kind=e["kind"], source=e["source"], target=e["target"],
                            label=e["label"], status=e.get("status"), link=e.get("link"),
                            link_id=e.get("link_id"), family=e.get("family"),
                            vlans=tuple(e.get("vlans") or ())) for e in data["edges"])
    return Graph(lab=data["lab"], scenario=data["scenario"], nodes=nodes, edges=edges,
                 live=bool(data.get("live")), sides=tuple(s["id"] for s in data["sides"]))


# --- Mermaid ---------------------------------------------------------------------------------
def _mid(name: str) -> str:
    """A Mermaid node id: letters, digits and underscores only (a '-' would read as an arrow)."""
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _mtext(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


# Mermaid flowchart edges: wires plain, InterLinks thick, BGP sessions dotted.
_M_ARROWS = {"wire": "---", "interlink": "===", "bgp": "-.-"}


def mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for side in graph.sides:
        lines.append(f'  subgraph {side}["{SIDE_LABELS[side]}"]')
        for n in graph.nodes:
            if n.side == side:
                text = "<br/>".join(_mtext(x) for x in n.lines)
                lines.append(f'    {_mid(n.id)}["{text}"]:::{_mid(n.role)}')
        lines.append("  end")
    for e in graph.edges:
        lines.append(f'  {_mid(e.source)} {_M_ARROWS[e.kind]}|"{_mtext(e.text)}"| '
                     f"{_mid(e.target)}")
    for i, e in enumerate(graph.edges):
        width = {"wire": 1, "interlink": 4, "bgp": 2}[e.kind]
        lines.append(f"  linkStyle {i} stroke:{e.colour},stroke-width:{width}px")
    for role, fill in ROLE_FILLS.items():
        lines.append(f"  classDef {_mid(role)} fill:{fill},stroke:#546e7a")
    return "\n".join(lines) + "\n"


# --- Graphviz dot ----------------------------------------------------------------------------
def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def dot(graph: Graph) -> str:
    title = f"lab {graph.lab} ({graph.scenario})" + ("" if graph.live else ", no status")
    lines = [f"graph {_q(graph.lab)} {{",
             f"  graph [rankdir=LR, fontname=Helvetica, fontsize=12, labelloc=t, "
             f"label={_q(title)}, nodesep=0.5, ranksep=0.7];",
             "  node [shape=box, style=\"rounded,filled\", fontname=Helvetica, fontsize=10, "
             "color=\"#546e7a\"];",
             "  edge [fontname=Helvetica, fontsize=9];"]
    for side in graph.sides:
        lines.append(f"  subgraph cluster_{side} {{")
        lines.append(f"    label={_q(SIDE_LABELS[side])}; style=dashed; color=\"#b0bec5\";")
        for n in graph.nodes:
            if n.side == side:
                fill = ROLE_FILLS.get(n.role, "#ffffff")
                lines.append(f"    {_q(n.id)} [id={_q('node:' + n.id)}, "
                             f"label={_q(chr(10).join(n.lines))}, fillcolor={_q(fill)}];")
        lines.append("  }")
    for e in graph.edges:
        attrs = [f"id={_q(e.id)}", f"label={_q(e.text)}", f"color={_q(e.colour)}",
                 f"fontcolor={_q(e.colour if e.kind != 'wire' else '#455a64')}"]
        if e.kind == "interlink":
            attrs += ["penwidth=4", "constraint=false"]  # the wires place the nodes
        elif e.kind == "bgp":
            attrs += ["penwidth=2", "style=dashed", "constraint=false"]
        lines.append(f"  {_q(e.source)} -- {_q(e.target)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
