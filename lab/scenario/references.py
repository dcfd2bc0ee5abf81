"""Scenario files' meaning: references from the topology and from steps and checks to links,
policies, VPCs, customers, nodes and named waits; prefixes; then the parser and topology
builder themselves (the exact rules ``up`` applies)."""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lab.scenario import impairment
from lab.scenario.addressing import build_topology
from lab.scenario.document import (
    CHECK_KINDS,
    DEFAULT_WAITS,
    METADATA_KEYS,
    PLACEHOLDER_KINDS,
    PLACEHOLDER_RE,
    STEP_KINDS,
    Issue,
    Path_,
    ScenarioFile,
)
from lab.scenario.model import ROLES, ScenarioError, host_conflict
from lab.scenario.parse import parse_scenario, resolve_config_path

# Node names when the topology cannot be built (its error is reported): role + suffix.
_LOOSE_NODE_RE = re.compile(rf"^({'|'.join(ROLES)})(-[A-Za-z0-9_.]+)*$")


def _names(items: Any) -> list[str]:
    return [str(it["name"]) for it in items or [] if isinstance(it, Mapping) and "name" in it]


class References:
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
            why = host_conflict(net, routed=True)
            if why is not None:
                self.err(path, why)
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
            self.config_file(c.get("config"), (*base, "config"))
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

    def config_file(self, value: Any, path: Path_) -> None:
        """A customer's own router configuration must be a readable file (relative paths
        are read from the scenario file's folder, as `up` does)."""
        if not isinstance(value, str) or not value.strip():
            return  # the schema says why
        p = Path(resolve_config_path(value, self.sf.path.resolve().parent))
        if not p.is_file():
            self.err(path, f"config file {value!r} not found ({p})")
        elif not os.access(p, os.R_OK):
            self.err(path, f"config file {value!r} is not readable ({p})")

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
        if kind == "capture":
            self.node_ref(v.get("node"), (*p, "node"))
            return
        if kind == "fault" and v.get("action") == "kill":
            self.node_ref(v.get("node"), (*p, "node"))
        elif kind == "fault" and v.get("action") == "restore" and v.get("link") is None:
            pass  # every link
        elif kind in ("propagation", "attach_policy", "detach_policy", "set_policy",
                      "attach_vpc", "detach_vpc", "fault", "impair"):
            self.link_ref(v.get("link"), p)
        if kind == "impair":
            try:
                impairment.parse({k: x for k, x in v.items() if k not in ("link", "direction")})
            except impairment.ImpairmentError as e:
                self.err(p, str(e))
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
        sf.topology = build_topology(parse_scenario(copy.deepcopy(data), source,
                                                    base_dir=sf.path.resolve().parent))
    except ScenarioError as e:
        path, msg = _topology_where(str(e), source)
        return [sf.issue(path, msg)]
    return []


