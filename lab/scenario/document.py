"""Scenario files as people write them: YAML with positions, so that every error carries
``FILE:LINE:COL`` (duplicate keys included: PyYAML would silently keep the last one)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.scenario.parse import resolve_scenario_path
from lab.scenario.topology import Topology

DEFAULT_WAITS: dict[str, float] = {"session": 15.0, "convergence": 10.0, "failover": 30.0}
# Keys only the runner reads: stripped before lab.scenario.parse sees the file.
RUNNER_KEYS = ("waits", "steps", "checks", "ready")
# Descriptive only: not needed to build the topology.
METADATA_KEYS = ("description",)
STEP_KINDS = ("api", "propagation", "policy", "attach_policy", "detach_policy", "set_policy",
              "attach_vpc", "detach_vpc", "announce", "withdraw", "fault", "capture",
              "impair", "wait",
              "check")
CHECK_KINDS = ("link", "route", "traffic", "stats")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]+):([^{}]*)\}")
PLACEHOLDER_KINDS = ("link", "policy", "vpc")

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


