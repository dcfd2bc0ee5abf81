"""containerlab topologies of a lab (pure but for ``load``): ``export`` a Topology as a
containerlab document, ``parse`` one back into the subset the lab deploys (``ClabTopology``),
``dump`` it as stable YAML, ``validate_schema`` it against containerlab's own schema. Over
400 lines: the parser gives each refused construct its own message (what the lab cannot
deploy, and why), which is most of the module.

The schema, ``clab.schema.json`` beside this module, is containerlab's topology schema of
release 0.79 (JSON Schema draft-07, no ``format`` keywords). Draft-07 ignores its
``prefixItems``, so the ``node:iface`` form of link endpoints is checked by ``parse``.

What a document holds, and what it leaves to ``interlink-lab attach`` (from the host):

- one ``kind: linux`` node per lab node, ``network-mode: none`` (no management network:
  lab traffic never touches Docker's networks; ``mgmt.skip-when-unused`` keeps containerlab
  from creating one), labelled with its role, lab, scenario and node key;
- one brief link per veth pair of the topology;
- ``exec``: addresses of the plain interfaces and static routes (``ip`` commands);
- no ``binds``: the node's programs get their configuration from the lab's state directory,
  which the node runtime binds at the same path;
- not the VLAN sub-interfaces, the partner's switch, nor the sysctls (forwarding,
  accept_dad, rp_filter): this machine's kernel has no 802.1Q module and the lab emulates
  VLANs with tc-BPF programs, which attach loads from the host with the rest.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import yaml

from lab.scenario.model import LAB_NAME_RE
from lab.scenario.topology import Topology

SCHEMA_PATH = Path(__file__).resolve().parent / "clab.schema.json"
SCHEMA_ORIGIN = "containerlab release 0.79"

LABEL_ROLE = "interlink-lab.role"
LABEL_LAB = "interlink-lab.lab"
LABEL_SCENARIO = "interlink-lab.scenario"
LABEL_KEY = "interlink-lab.key"

KIND = "linux"
NETWORK_MODE = "none"
PREFIX = "clab"  # containers are clab-<lab>-<node>, as the docker runtime names them

NODE_KEYS = ("kind", "image", "labels", "binds", "exec", "network-mode")
LINK_KEYS = ("endpoints", "mtu")
TOP_KEYS = ("name", "prefix", "mgmt", "topology")
TOPOLOGY_KEYS = ("nodes", "links")
NODE_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
IFNAME_RE = re.compile(r"^[^\s:/]{1,15}$")  # the kernel's IFNAMSIZ, no ':' or '/'


class ClabError(ValueError):
    """A containerlab document the lab cannot deploy; the message says where and why."""


@dataclass(frozen=True)
class Bind:
    source: str  # host path (absolute once resolved against the file's directory)
    target: str  # path in the node
    mode: str = ""  # "ro", "rw", ... as written after the second ':'


@dataclass(frozen=True)
class ClabNode:
    name: str
    kind: str
    image: str | None
    network_mode: str
    labels: tuple[tuple[str, str], ...]  # sorted
    binds: tuple[Bind, ...]
    exec: tuple[str, ...]  # as written (containerlab shlex-splits them, no shell)

    @property
    def role(self) -> str:
        return dict(self.labels).get(LABEL_ROLE, "")

    def exec_argv(self) -> list[list[str]]:
        return [shlex.split(c) for c in self.exec]


@dataclass(frozen=True)
class ClabEndpoint:
    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


@dataclass(frozen=True)
class ClabLink:
    a: ClabEndpoint
    b: ClabEndpoint
    mtu: int | None = None


@dataclass(frozen=True)
class ClabTopology:
    name: str  # the lab
    nodes: tuple[ClabNode, ...]
    links: tuple[ClabLink, ...]

    def node(self, name: str) -> ClabNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def scenario(self) -> str | None:
        """The scenario the file was exported from (its nodes' label), if it says."""
        refs = {dict(n.labels).get(LABEL_SCENARIO) for n in self.nodes} - {None}
        return refs.pop() if len(refs) == 1 else None


# --------------------------------------------------------------------------- export


def export(topology: Topology, scenario_ref: str, image: str) -> dict[str, Any]:
    """The containerlab document of ``topology``; ``scenario_ref`` (a shipped scenario's
    name or a file's path) is recorded on every node for a later attach."""
    vlan_ifaces = {(v.node, v.ifname) for v in topology.vlans}
    nodes: dict[str, Any] = {}
    for n in topology.nodes:
        plain = [a for a in topology.addresses
                 if a.node == n.name and (a.node, a.ifname) not in vlan_ifaces]
        cmds = [shlex.join(["ip", "addr", "replace", a.cidr, "dev", a.ifname]
                           + (["nodad"] if ":" in a.cidr else [])) for a in plain]
        nets = [ipaddress.ip_interface(a.cidr).network for a in plain]
        # A route whose next hop is only reachable over a VLAN sub-interface waits for
        # attach, like that sub-interface.
        cmds += [shlex.join(["ip", "route", "replace", r.prefix, "via", r.via])
                 for r in topology.routes if r.node == n.name
                 and any(ipaddress.ip_address(r.via) in net for net in nets)]
        node: dict[str, Any] = {
            "kind": KIND,
            "image": image,
            "network-mode": NETWORK_MODE,
            "labels": {LABEL_ROLE: n.role, LABEL_LAB: topology.lab,
                       LABEL_SCENARIO: scenario_ref, LABEL_KEY: n.key or n.name},
        }
        if cmds:
            node["exec"] = cmds
        nodes[n.name] = node
    links = [{"endpoints": [f"{v.a.node}:{v.a.ifname}", f"{v.b.node}:{v.b.ifname}"]}
             for v in topology.veths]
    doc: dict[str, Any] = {
        "name": topology.lab,
        "mgmt": {"skip-when-unused": True},
        "topology": {"nodes": nodes},
    }
    if links:
        doc["topology"]["links"] = links
    return doc


# --------------------------------------------------------------------------- schema


# Two of its patterns use RE2's Unicode classes, which Python's `re` lacks: "a letter or a
# digit" is `[^\W_]` there (the file itself stays containerlab's, byte for byte).
_RE2_CLASSES = {r"[\p{N}\p{L}]": r"[^\W_]"}


def _python_patterns(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _python_patterns(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_python_patterns(x) for x in v]
    if isinstance(v, str):
        for re2, py in _RE2_CLASSES.items():
            v = v.replace(re2, py)
    return v


@cache
def schema() -> dict[str, Any]:
    """containerlab's schema, its patterns readable by Python's `re`."""
    loaded: dict[str, Any] = _python_patterns(json.loads(SCHEMA_PATH.read_text()))
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    s = schema()
    cls = jsonschema.validators.validator_for(s)  # Draft7Validator: the schema's $schema
    cls.check_schema(s)
    return cls(s)


def validate_schema(doc: Any) -> list[str]:
    """containerlab's schema errors of ``doc``, as "path: message" lines (none: valid)."""
    out = []
    for err in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path))):
        where = "/".join(map(str, err.absolute_path)) or "top level"
        out.append(f"{where}: {err.message}")
    return out


# --------------------------------------------------------------------------- parse


def parse(doc: Any, source: str = "<containerlab>", base: Path | None = None) -> ClabTopology:
    """The deployable subset of a containerlab document; ClabError naming the place and
    the reason for anything else. ``base``: the topology file's directory, against which
    relative bind sources are resolved (containerlab's rule)."""
    return _Parser(source, base).topology(doc)


class _Parser:
    def __init__(self, source: str, base: Path | None) -> None:
        self.source = source
        self.base = base

    def err(self, where: str, msg: str) -> ClabError:
        return ClabError(f"{self.source}: {where}: {msg}")

    def mapping(self, v: Any, where: str, keys: tuple[str, ...], why: str = "") -> \
            Mapping[str, Any]:
        if not isinstance(v, Mapping):
            raise self.err(where, f"must be a mapping, not {type(v).__name__}")
        extra = sorted(str(k) for k in v if k not in keys)
        if extra:
            raise self.err(where, f"{', '.join(map(repr, extra))} not supported by "
                                  f"interlink-lab (supported: {', '.join(keys)}){why}")
        return v

    def string(self, v: Any, where: str) -> str:
        if not isinstance(v, str) or not v:
            raise self.err(where, "must be a non-empty string")
        return v

    def strings(self, v: Any, where: str) -> list[str]:
        if not isinstance(v, list) or not v:
            raise self.err(where, "must be a non-empty list of strings")
        return [self.string(s, f"{where}[{i}]") for i, s in enumerate(v)]

    def topology(self, doc: Any) -> ClabTopology:
        d = self.mapping(doc, "top level", TOP_KEYS)
        if "name" not in d:
            raise self.err("name", "missing (the lab's name)")
        name = self.string(d["name"], "name")
        if not LAB_NAME_RE.match(name):
            raise self.err("name", f"{name!r} is not a lab name: 1-12 lowercase letters/"
                                   "digits, starting with a letter")
        prefix = d.get("prefix", PREFIX)
        if prefix != PREFIX:
            raise self.err("prefix", f"must be {PREFIX!r} (or absent): nodes are "
                                     f"{PREFIX}-<lab>-<node>, not {prefix!r}")
        if "mgmt" in d:
            self.mapping(d["mgmt"], "mgmt", ("skip-when-unused",),
                         ": the lab's nodes have no management network")
        if "topology" not in d:
            raise self.err("topology", "missing")
        t = self.mapping(d["topology"], "topology", TOPOLOGY_KEYS,
                         ": write settings on each node")
        raw_nodes = t.get("nodes")
        if not isinstance(raw_nodes, Mapping) or not raw_nodes:
            raise self.err("topology.nodes", "must be a non-empty mapping of nodes")
        nodes = tuple(self.node(str(k), v) for k, v in sorted(raw_nodes.items()))
        raw_links = t.get("links", [])
        if not isinstance(raw_links, list):
            raise self.err("topology.links", "must be a list")
        names = {n.name for n in nodes}
        links = tuple(self.link(v, f"topology.links[{i}]", names)
                      for i, v in enumerate(raw_links))
        seen: dict[ClabEndpoint, int] = {}
        for i, lk in enumerate(links):
            for e in (lk.a, lk.b):
                if e in seen:
                    raise self.err(f"topology.links[{i}]",
                                   f"endpoint {e} already used by topology.links[{seen[e]}]")
                seen[e] = i
        # Last: anything the subset let through must still be containerlab's.
        problems = validate_schema(doc)
        if problems:
            raise self.err("schema", "; ".join(problems))
        return ClabTopology(name=name, nodes=nodes, links=links)

    def node(self, name: str, v: Any) -> ClabNode:
        where = f"topology.nodes.{name}"
        if not NODE_NAME_RE.match(name) or len(name) > 40:
            raise self.err(where, "node names are letters, digits, '.', '_', '-' (at most 40)")
        d = self.mapping(v if v is not None else {}, where, NODE_KEYS)
        kind = d.get("kind")
        if kind != KIND:
            raise self.err(f"{where}.kind", f"must be {KIND!r}, not {kind!r}: interlink-lab "
                                            "deploys linux containers only")
        mode = d.get("network-mode")
        if mode != NETWORK_MODE:
            raise self.err(f"{where}.network-mode",
                           f"must be {NETWORK_MODE!r}, not {mode!r}: the lab wires every "
                           "interface itself and never touches the host's or Docker's "
                           "networks")
        image = self.string(d["image"], f"{where}.image") if "image" in d else None
        labels: dict[str, str] = {}
        if "labels" in d:
            raw = d["labels"]
            if not isinstance(raw, Mapping):
                raise self.err(f"{where}.labels", "must be a mapping")
            for k, val in raw.items():
                if not isinstance(val, str | int | float) or isinstance(val, bool) \
                        or val == "":
                    raise self.err(f"{where}.labels.{k}", "must be a non-empty string or "
                                                          "a number")
                labels[str(k)] = str(val)
        binds = tuple(self.bind(b, f"{where}.binds[{i}]") for i, b in
                      enumerate(self.strings(d["binds"], f"{where}.binds"))) \
            if "binds" in d else ()
        execs = tuple(self.strings(d["exec"], f"{where}.exec")) if "exec" in d else ()
        for i, c in enumerate(execs):
            try:
                argv = shlex.split(c)
            except ValueError as e:
                raise self.err(f"{where}.exec[{i}]", f"cannot be split: {e}") from None
            if not argv:
                raise self.err(f"{where}.exec[{i}]", "is empty")
        return ClabNode(name=name, kind=kind, image=image, network_mode=mode,
                        labels=tuple(sorted(labels.items())), binds=binds, exec=execs)

    def bind(self, s: str, where: str) -> Bind:
        parts = s.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise self.err(where, f"{s!r} is not HOST:NODE[:MODE]")
        source, target = parts[0], parts[1]
        if not PurePosixPath(target).is_absolute():
            raise self.err(where, f"the node's path {target!r} must be absolute")
        if source.startswith("~"):
            raise self.err(where, f"{source!r}: write the host path in full (no '~')")
        if not PurePosixPath(source).is_absolute():
            if self.base is None:
                raise self.err(where, f"relative host path {source!r} and no file to "
                                      "resolve it against")
            source = str(self.base / source)
        return Bind(source=source, target=target, mode=parts[2] if len(parts) == 3 else "")

    def link(self, v: Any, where: str, names: set[str]) -> ClabLink:
        if isinstance(v, Mapping) and ("type" in v or any(isinstance(e, Mapping)
                                                          for e in v.get("endpoints") or [])):
            raise self.err(where, "only brief veth links (endpoints: [\"a:eth1\", "
                                  "\"b:eth1\"]) are supported")
        d = self.mapping(v, where, LINK_KEYS)
        eps = d.get("endpoints")
        if not isinstance(eps, list) or len(eps) != 2:
            raise self.err(f"{where}.endpoints", "must be two \"node:iface\" strings")
        ends = [self.endpoint(e, f"{where}.endpoints[{i}]", names) for i, e in enumerate(eps)]
        if ends[0] == ends[1]:
            raise self.err(f"{where}.endpoints", "both ends are the same interface")
        mtu = d.get("mtu")
        if mtu is not None and (not isinstance(mtu, int) or isinstance(mtu, bool)
                                or not 68 <= mtu <= 65535):
            raise self.err(f"{where}.mtu", "must be an integer 68..65535")
        return ClabLink(a=ends[0], b=ends[1], mtu=mtu)

    def endpoint(self, v: Any, where: str, names: set[str]) -> ClabEndpoint:
        s = self.string(v, where)
        node, sep, iface = s.partition(":")
        if not sep or not node or not IFNAME_RE.match(iface):
            raise self.err(where, f"{s!r} is not \"node:iface\" (an interface name of at "
                                  "most 15 characters)")
        if node in ("host", "mgmt-net", "macvlan") and node not in names:
            raise self.err(where, f"{s!r}: links to the host or its networks are not "
                                  "deployable (the lab never touches the root namespace)")
        if node not in names:
            raise self.err(where, f"{s!r}: no node {node!r} in topology.nodes")
        return ClabEndpoint(node=node, iface=iface)


# --------------------------------------------------------------------------- YAML


class _Flow(list[Any]):
    """A list written on one line (link endpoints)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _flowed(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: (_Flow(v) if k == "endpoints" else _flowed(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_flowed(v) for v in doc]
    return doc


def dump(doc: Mapping[str, Any], header: str = "",
         notes: Mapping[str, list[str]] | None = None) -> str:
    """Stable YAML (keys sorted, lists in their order) after ``header`` as `#` comments;
    ``notes``: comment lines written under a node's name."""
    body = yaml.dump(_flowed(dict(doc)), Dumper=_Dumper, sort_keys=True,
                     default_flow_style=False, width=1000)
    out = [f"# {line}".rstrip() for line in header.strip().splitlines()] if header else []
    for line in body.splitlines():
        out.append(line)
        node = line.strip()[:-1] if line.startswith("    ") and not line.startswith(
            "     ") and line.endswith(":") else None
        out += [f"      # {n}" for n in (notes or {}).get(node or "", [])]
    return "\n".join(out) + "\n"


def attach_notes(topology: Topology) -> dict[str, list[str]]:
    """Per node, what ``interlink-lab attach`` adds from the host (not in the file)."""
    notes: dict[str, list[str]] = {}
    for v in topology.vlans:
        cidrs = ", ".join(a.cidr for a in topology.addresses
                          if a.node == v.node and a.ifname == v.ifname)
        notes.setdefault(v.node, []).append(
            f"attach adds {v.ifname} (VLAN {v.vid} on {v.parent}, tc-BPF): {cidrs or '-'}")
    for b in topology.bridges:
        ports = ", ".join(f"{p.ifname} (VLAN {', '.join(map(str, p.tagged_vids))})"
                          for p in b.ports)
        notes.setdefault(b.node, []).append(
            f"attach adds switch {b.ifname}, passing only these VLANs, tagged: {ports}")
    return notes


def render(topology: Topology, scenario_ref: str, image: str) -> str:
    """The exported file's text: header, document, notes."""
    return dump(export(topology, scenario_ref, image),
                header(topology.lab, scenario_ref, image), attach_notes(topology))


def header(lab: str, scenario_ref: str, image: str) -> str:
    """The header comment of an exported file: how it was made, how to deploy it."""
    return f"""\
containerlab topology of interlink-lab scenario {scenario_ref!r}, lab {lab!r}.
Generated by `interlink-lab --lab {lab} export containerlab {scenario_ref} --image {image}`:
do not edit (shipped files: `make containerlab` rewrites them).
Deploy: `containerlab deploy -t FILE`, then `interlink-lab attach --containerlab {lab}`;
without containerlab: `interlink-lab up --runtime docker FILE`.
`exec` sets the plain interfaces' addresses and static routes only. The VLAN
sub-interfaces, the partner's switch and the sysctls come with attach, from the host: this
kernel has no 802.1Q module and the lab emulates VLANs with tc-BPF programs.
No management network (network-mode: none) and no binds: the node runtime binds the
lab's state directory, where the nodes' configurations are written."""


def load(path: Path) -> ClabTopology:
    """Read and parse a containerlab file (relative binds against its directory)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ClabError(f"cannot read {path}: {e}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ClabError(f"{path}: invalid YAML: {e}") from e
    return parse(doc, source=str(path), base=path.resolve().parent)
