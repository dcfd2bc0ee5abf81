"""Scenario files as people write them: load with positions, validate without running (pure).

A scenario file is the topology part that ``lab.scenario.parse`` builds plus what the runner does
with it (``waits``, ``steps``, ``checks``, ``ready``): see ``lab/scenario/schema.json`` for
the format. Validation is three passes, every error carrying ``FILE:LINE:COL``:

1. YAML syntax (duplicate keys included: PyYAML would silently keep the last one);
2. the JSON schema (structure, types, enums);
3. semantics: references from the topology and from steps/checks to links, policies, VPCs,
   customers, nodes and named waits; prefixes; then the parser and topology builder
   themselves (the exact rules ``up`` applies).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lab.scenario.addressing import build_topology
from lab.scenario.model import DEFAULT_ROUTER, FORBIDDEN_PREFIXES, ROLES, ScenarioError
from lab.scenario.parse import parse_scenario, resolve_scenario_path
from lab.scenario.topology import Topology

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.json"
DEFAULT_WAITS: dict[str, float] = {"session": 15.0, "convergence": 10.0, "failover": 30.0}
# Keys only the runner reads: stripped before lab.scenario.parse sees the file.
RUNNER_KEYS = ("waits", "steps", "checks", "ready")
# Descriptive only: not needed to build the topology.
METADATA_KEYS = ("description",)
STEP_KINDS = ("api", "propagation", "policy", "attach_policy", "detach_policy", "set_policy",
              "attach_vpc", "detach_vpc", "announce", "withdraw", "fault", "wait", "check")
CHECK_KINDS = ("link", "route", "traffic", "stats")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+):([^{}]*)\}")
PLACEHOLDER_KINDS = ("link", "policy", "vpc")
# Node names when the topology cannot be built (its error is reported): role + suffix.
_LOOSE_NODE_RE = re.compile(rf"^({'|'.join(ROLES)})(-[A-Za-z0-9_.]+)*$")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    message: str
    severity: str = "error"  # "error" | "note"

    def __str__(self) -> str:
        sev = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.file}:{self.line}:{self.col}: {sev}{self.message}"


class ScenarioFileError(Exception):
    """The file is invalid; ``issues`` lists every problem found (errors first)."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


@dataclass
class ScenarioFile:
    path: Path
    data: dict[str, Any]
    root: yaml.Node | None
    topology: Topology | None = None  # built by lab.scenario.parse (lab "ilab") when it can

    # --- parts -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.data.get("name", self.path.stem))

    @property
    def waits(self) -> dict[str, float]:
        return {**DEFAULT_WAITS, **{k: float(v) for k, v in
                                    (self.data.get("waits") or {}).items()}}

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.data.get("steps") or [])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.data.get("checks") or [])

    @property
    def ready(self) -> bool:
        return bool(self.data.get("ready", True))

    def topology_data(self) -> dict[str, Any]:
        """The file minus the runner's keys: what lab.scenario.parse / `up` read."""
        return {k: v for k, v in self.data.items() if k not in RUNNER_KEYS}

    def timeout(self, ref: Any, default: str = "convergence") -> float:
        if ref is None:
            ref = default
        if isinstance(ref, str):
            return self.waits[ref]
        return float(ref)

    # --- positions ---------------------------------------------------------------------
    def mark(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the YAML node at ``path`` (its key with ``key``), or of the
        deepest existing ancestor."""
        return locate(self.root, path, key)

    def issue(self, path: Path_, message: str, key: bool = False,
              severity: str = "error") -> Issue:
        line, col = self.mark(path, key)
        return Issue(str(self.path), line, col, message, severity)


# --------------------------------------------------------------------------- YAML


def locate(root: yaml.Node | None, path: Path_, key: bool = False) -> tuple[int, int]:
    node = root
    best = root
    best_key: yaml.Node | None = None
    for el in path:
        nxt: yaml.Node | None = None
        knode: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(el):
                    nxt, knode = v, k
        elif (isinstance(node, yaml.SequenceNode) and isinstance(el, int)
              and 0 <= el < len(node.value)):
            nxt = node.value[el]
        if nxt is None:
            break
        node, best, best_key = nxt, nxt, knode
    target = best_key if key and best_key is not None else best
    if target is None:
        return 1, 1
    return target.start_mark.line + 1, target.start_mark.column + 1


def _duplicate_keys(node: yaml.Node | None, file: str) -> Iterator[Issue]:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    first = seen[k.value].start_mark.line + 1
                    yield Issue(file, k.start_mark.line + 1, k.start_mark.column + 1,
                                f"duplicate key {k.value!r} (first on line {first})")
                seen[k.value] = k
            yield from _duplicate_keys(v, file)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from _duplicate_keys(v, file)


def parse_text(text: str, path: str | Path) -> ScenarioFile:
    """YAML text -> ScenarioFile (no validation beyond YAML). Raises ScenarioFileError."""
    file = str(path)
    try:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise ScenarioFileError([Issue(file, line, col, f"invalid YAML: {msg}")]) from None
    except yaml.YAMLError as e:
        raise ScenarioFileError([Issue(file, 1, 1, f"invalid YAML: {e}")]) from None
    dups = list(_duplicate_keys(root, file))
    if dups:
        raise ScenarioFileError(dups)
    if not isinstance(data, dict):
        raise ScenarioFileError([Issue(file, 1, 1, "a scenario is a mapping (name:, links:, "
                                                   f"...), got {type(data).__name__}")])
    return ScenarioFile(path=Path(path), data=data, root=root)


def read(path_or_name: str | Path) -> ScenarioFile:
    """Read and parse (no validation); a bare name means a shipped scenario."""
    path = resolve_scenario_path(str(path_or_name))
    try:
        text = path.read_text()
    except OSError as e:
        reason = "no such file" if isinstance(e, FileNotFoundError) else e.strerror or str(e)
        raise ScenarioFileError([Issue(str(path), 1, 1, f"cannot read: {reason}")]) from None
    return parse_text(text, path)


def load(path_or_name: str | Path, router_kinds: Iterable[str]) -> ScenarioFile:
    """Read and fully validate; raises ScenarioFileError with every error found.
    ``router_kinds``: the customer router kinds the lab knows (lab.routers.registry)."""
    sf = read(path_or_name)
    errors = [i for i in check(sf, router_kinds) if i.severity == "error"]
    if errors:
        raise ScenarioFileError(errors)
    return sf


def validate(path_or_name: str | Path, router_kinds: Iterable[str]) -> list[Issue]:
    """Every issue of a file (errors and notes), never raising for an invalid file."""
    try:
        sf = read(path_or_name)
    except ScenarioFileError as e:
        return e.issues
    return check(sf, router_kinds)


# --------------------------------------------------------------------------- schema


def schema(router_kinds: Iterable[str]) -> dict[str, Any]:
    """The scenario schema, with the known customer router kinds as the `router` enum (the
    kinds live in lab.routers, a layer above this one)."""
    return _schema(tuple(router_kinds))


@cache
def _schema(router_kinds: tuple[str, ...]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    router = loaded["$defs"]["customer"]["properties"]["router"]
    router["enum"], router["default"] = list(router_kinds), DEFAULT_ROUTER
    return loaded


def _path_str(path: Path_) -> str:
    out = ""
    for el in path:
        out += f"[{el}]" if isinstance(el, int) else (f".{el}" if out else str(el))
    return out or "top level"


def _schema_message(err: jsonschema.ValidationError, data: Any) -> tuple[Path_, str, bool]:
    """(path, message, point at the key) for one schema error, in the file's words."""
    path: Path_ = tuple(err.absolute_path)
    where = _path_str(path)
    v = err.validator
    if v == "oneOf" and isinstance(err.instance, Mapping):
        alts = [s.get("required", [None])[0] for s in err.validator_value
                if isinstance(s, Mapping)]
        if all(isinstance(a, str) for a in alts):
            found = [k for k in err.instance if k in alts]
            if not path:
                return path, "needs exactly one of `customer` (one customer) or `customers` " \
                             "(a list)", False
            what = "step" if set(alts) & {"api", "announce"} else "check"
            if not found:
                extra = sorted(set(err.instance) - {"name", "timeout"})
                hint = f"; unknown: {', '.join(extra)}" if extra else ""
                return path, (f"{where}: a {what} needs one of: {', '.join(alts)}{hint}"), False
            return path, (f"{where}: a {what} has exactly one action, got "
                          f"{', '.join(found)}"), False
    if v == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = sorted(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
        return (*path, str(extra[0])), (f"{where}: unknown key {extra[0]!r} "
                                        f"(allowed: {', '.join(allowed)})"), True
    if v == "required":
        return path, f"{where}: {err.message}", False
    if v in ("oneOf", "anyOf") and err.context:
        best = jsonschema.exceptions.best_match(err.context)
        return path, f"{where}: {best.message}", False
    if v == "pattern" and err.validator_value == "/":
        return path, f"{where}: {err.instance!r} is not a prefix (like 198.51.100.0/24)", False
    if "propertyNames" in err.schema_path:  # a bad key: point at the key itself
        return (*path, str(err.instance)), f"{where}: {err.message}", True
    return path, f"{where}: {err.message}", False


def schema_issues(sf: ScenarioFile, router_kinds: Iterable[str]) -> list[Issue]:
    validator = jsonschema.Draft202012Validator(schema(router_kinds))
    out = []
    seen: set[tuple[int, int]] = set()
    # One error per position, the most specific first: an unknown key explains the
    # "needs one of" that follows from it.
    rank = {"additionalProperties": 0, "oneOf": 2}
    errors = sorted(validator.iter_errors(sf.data),
                    key=lambda e: (list(map(str, e.path)), rank.get(str(e.validator), 1)))
    for err in errors:
        path, msg, key = _schema_message(err, sf.data)
        issue = sf.issue(path, msg, key=key)
        if (issue.line, issue.col) not in seen:
            seen.add((issue.line, issue.col))
            out.append(issue)
    return out


# --------------------------------------------------------------------------- semantics


def _names(items: Any) -> list[str]:
    return [str(it["name"]) for it in items or [] if isinstance(it, Mapping) and "name" in it]


class _Semantics:
    def __init__(self, sf: ScenarioFile):
        self.sf = sf
        d = sf.data
        self.issues: list[Issue] = []
        self.links = _names(d.get("links"))
        self.vpcs = _names(d.get("vpcs"))
        self.policies = {str(p["name"]): bool(p.get("is_ipv6", False))
                         for p in d.get("routing_policies") or [] if "name" in p}
        custs = d.get("customers") or ([d["customer"]] if d.get("customer") else [])
        self.customers = [str(c.get("name", "customer")) for c in custs]
        self.waits = set(DEFAULT_WAITS) | set(d.get("waits") or {})
        self.nodes: set[str] | None = (
            {n.name for n in sf.topology.nodes} if sf.topology is not None else None)

    def err(self, path: Path_, msg: str) -> None:
        self.issues.append(self.sf.issue(path, msg))

    def ref(self, kind: str, known: list[str], value: Any, path: Path_) -> None:
        if value is not None and value not in known:
            self.err(path, f"unknown {kind} {value!r} (known: {', '.join(known) or 'none'})")

    def link_ref(self, value: Any, path: Path_) -> None:
        if value is None:
            if len(self.links) != 1:
                self.err(path, f"name the link: the lab has {len(self.links)} links "
                               f"({', '.join(self.links)})")
            return
        self.ref("link", self.links, value, (*path, "link"))

    def node_ref(self, value: Any, path: Path_) -> None:
        if self.nodes is not None:
            if value not in self.nodes:
                self.err(path, f"unknown node {value!r} (nodes: {', '.join(sorted(self.nodes))})")
        elif not _LOOSE_NODE_RE.match(str(value)):
            self.err(path, f"unknown node {value!r} (a node is one of "
                           f"{', '.join(ROLES)}, possibly with a suffix)")

    def prefix(self, value: Any, path: Path_, announce: bool = False) -> int | None:
        try:
            net = ipaddress.ip_network(str(value), strict=True)
        except ValueError as e:
            self.err(path, f"invalid prefix {value!r}: {e}")
            return None
        if announce:
            for bad in FORBIDDEN_PREFIXES:
                # Supernets (0.0.0.0/0) are fine: only addresses inside it are off limits.
                if net.version == bad.version and net.subnet_of(bad):  # type: ignore[arg-type]
                    self.err(path, f"{net} is inside {bad}: reserved for the host's own "
                                   "network")
        return net.version

    def timeout(self, value: Any, path: Path_) -> None:
        if isinstance(value, str) and value not in self.waits:
            self.err(path, f"unknown wait {value!r} (waits: {', '.join(sorted(self.waits))})")

    # --- topology references --------------------------------------------------------------
    def topology(self) -> None:
        d = self.sf.data
        for what, names, path in (("link", self.links, "links"), ("VPC", self.vpcs, "vpcs"),
                                  ("routing policy", list(self.policies), "routing_policies"),
                                  ("customer", self.customers, "customers")):
            seen: set[str] = set()
            for i, n in enumerate(names):
                if n in seen:
                    self.err((path, i, "name"), f"duplicate {what} name {n!r}")
                seen.add(n)
        if "customers" in d:
            for i, c in enumerate(d["customers"]):
                if "name" not in c:
                    self.err(("customers", i), "each of several customers needs a name")
        for i, lk in enumerate(d.get("links") or []):
            self.ref("VPC", self.vpcs, lk.get("vpc"), ("links", i, "vpc"))
            for j, p in enumerate(lk.get("routing_policies") or []):
                self.ref("routing policy", list(self.policies), p,
                         ("links", i, "routing_policies", j))
            if "customers" in d and len(self.customers) > 1 and "customer" not in lk:
                self.err(("links", i), "name the customer of this link: the lab has several")
            self.ref("customer", self.customers, lk.get("customer"), ("links", i, "customer"))
        key = "customers" if "customers" in d else "customer"
        custs = d.get("customers") or [d.get("customer") or {}]
        for i, c in enumerate(custs):
            base: Path_ = (key, i) if key == "customers" else (key,)
            for j, a in enumerate(c.get("announce") or []):
                if isinstance(a, Mapping):
                    self.prefix(a.get("prefix"), (*base, "announce", j, "prefix"), True)
                    self.ref("link", self.links, a.get("link"), (*base, "announce", j, "link"))
                else:
                    self.prefix(a, (*base, "announce", j), True)
        for i, p in enumerate(d.get("routing_policies") or []):
            fam = 6 if p.get("is_ipv6") else 4
            for lst in ("prefix_filter_in", "prefix_filter_out"):
                for j, pfx in enumerate(p.get(lst) or []):
                    v = self.prefix(pfx, ("routing_policies", i, lst, j))
                    if v is not None and v != fam:
                        self.err(("routing_policies", i, lst, j),
                                 f"{pfx} is not IPv{fam} (is_ipv6: {fam == 6})")

    # --- steps and checks --------------------------------------------------------------------
    def step(self, s: Mapping[str, Any], path: Path_) -> None:
        kind = next(k for k in STEP_KINDS if k in s)
        v = s[kind]
        p: Path_ = (*path, kind)
        if kind in ("wait", "check"):
            self.check(v, p)
            return
        if kind == "api":
            self.placeholders(v.get("path"), (*p, "path"))
            self.placeholders(v.get("body"), (*p, "body"))
            return
        if kind in ("propagation", "attach_policy", "detach_policy", "set_policy", "attach_vpc",
                    "detach_vpc", "fault"):
            self.link_ref(v.get("link"), p)
        if kind == "policy":
            self.ref("routing policy", list(self.policies), v["name"], (*p, "name"))
            fam = 6 if self.policies.get(v["name"]) else 4
            for lst in ("prefix_filter_in", "prefix_filter_out"):
                for j, pfx in enumerate(v.get(lst) or []):
                    ver = self.prefix(pfx, (*p, lst, j))
                    if ver is not None and v["name"] in self.policies and ver != fam:
                        self.err((*p, lst, j), f"{pfx} is not IPv{fam}: policy {v['name']!r} "
                                               f"is IPv{fam}")
        if kind in ("attach_policy", "detach_policy", "set_policy"):
            self.ref("routing policy", list(self.policies), v["policy"], (*p, "policy"))
        if kind == "attach_vpc":
            self.ref("VPC", self.vpcs, v["vpc"], (*p, "vpc"))
        if kind in ("announce", "withdraw"):
            self.ref("customer", self.customers, v.get("customer"), (*p, "customer"))
            if v.get("customer") is None and len(self.customers) > 1:
                self.err(p, f"name the customer: the lab has {len(self.customers)}")
            self.ref("link", self.links, v.get("link"), (*p, "link"))
            for j, pfx in enumerate(v["prefixes"]):
                self.prefix(pfx, (*p, "prefixes", j), announce=True)

    def check(self, c: Mapping[str, Any], path: Path_) -> None:
        self.timeout(c.get("timeout"), (*path, "timeout"))
        kind = next(k for k in CHECK_KINDS if k in c)
        v = c[kind]
        p: Path_ = (*path, kind)
        if kind == "link":
            self.link_ref(v.get("name"), p) if "name" not in v else self.ref(
                "link", self.links, v["name"], (*p, "name"))
        elif kind == "stats":
            self.link_ref(v.get("link"), p)
        elif kind == "route":
            self.node_ref(v["node"], (*p, "node"))
            self.prefix(v["prefix"], (*p, "prefix"))
            via = v.get("via")
            if via is not None and via not in self.links:
                try:
                    ipaddress.ip_address(via)
                except ValueError:
                    self.err((*p, "via"), f"via {via!r} is neither an address nor a link "
                                          f"({', '.join(self.links)})")
        elif kind == "traffic":
            self.node_ref(v["from"], (*p, "from"))
            self.node_ref(v["to"], (*p, "to"))

    def placeholders(self, value: Any, path: Path_) -> None:
        if isinstance(value, str):
            for m in PLACEHOLDER_RE.finditer(value):
                kind, name = m.groups()
                known = {"link": self.links, "policy": list(self.policies),
                         "vpc": self.vpcs}.get(kind)
                if known is None:
                    self.err(path, f"unknown placeholder {m.group(0)!r} (use "
                                   f"{', '.join('{' + k + ':NAME}' for k in PLACEHOLDER_KINDS)})")
                else:
                    self.ref(kind, known, name, path)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self.placeholders(v, (*path, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.placeholders(v, (*path, i))


_WHERE_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _topology_where(message: str, source: str) -> tuple[Path_, str]:
    """lab.scenario.parse's "SOURCE: WHERE: message" -> (path, message)."""
    if message.startswith(source + ": "):
        message = message[len(source) + 2:]
    where, sep, rest = message.partition(": ")
    if not sep or where == "top level":
        return (), message
    where = re.sub(r"\s*\(.*\)$", "", where)  # "links[0] (link-lab)"
    path: list[str | int] = []
    for m in _WHERE_RE.finditer(where):
        path.append(m.group(1) if m.group(1) else int(m.group(2)))
    return tuple(path), rest


def topology_issues(sf: ScenarioFile) -> list[Issue]:
    """Build the file with lab.scenario.parse (what `up` does); sets ``sf.topology``."""
    source = str(sf.path)
    data = {k: v for k, v in sf.topology_data().items() if k not in METADATA_KEYS}
    try:
        sf.topology = build_topology(parse_scenario(copy.deepcopy(data), source))
    except ScenarioError as e:
        path, msg = _topology_where(str(e), source)
        return [sf.issue(path, msg)]
    return []


def check(sf: ScenarioFile, router_kinds: Iterable[str]) -> list[Issue]:
    """Every issue of a parsed file: schema errors stop there; else topology + references."""
    issues = schema_issues(sf, router_kinds)
    if issues:
        return issues
    issues = topology_issues(sf)
    sem = _Semantics(sf)
    sem.topology()
    if sem.issues:
        # Ours point at the exact value; lab.scenario.parse's first error is then the same one.
        issues = [i for i in issues if i.severity != "error"]
    for i, s in enumerate(sf.steps):
        sem.step(s, ("steps", i))
    for n, c in enumerate(sf.checks):
        sem.check(c, ("checks", n))
    # One position may be reported twice (lab.scenario.parse and our reference pass): keep one.
    out: list[Issue] = []
    for it in sorted(sem.issues + issues,
                     key=lambda x: (x.severity != "error", x.line, x.col)):
        if not any(o.line == it.line and o.col == it.col and o.severity == it.severity
                   for o in out):
            out.append(it)
    return out
