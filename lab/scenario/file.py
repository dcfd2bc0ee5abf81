"""Scenario files validated without running anything (pure).

A scenario file is the topology that ``lab.scenario.parse`` reads plus what the runner does
with it (``waits``, ``steps``, ``checks``, ``ready``): see ``lab/scenario/schema.json`` for
the format. Validation is three passes, every error carrying ``FILE:LINE:COL``:

1. YAML syntax (``document``);
2. the JSON schema (``schema``);
3. meaning: references, prefixes, then the parser and topology builder (``references``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lab.scenario.document import Issue, ScenarioFile, ScenarioFileError, read
from lab.scenario.references import References, topology_issues
from lab.scenario.schema import schema_issues


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




def check(sf: ScenarioFile, router_kinds: Iterable[str]) -> list[Issue]:
    """Every issue of a parsed file: schema errors stop there; else topology + references."""
    issues = schema_issues(sf, router_kinds)
    if issues:
        return issues
    issues = topology_issues(sf)
    sem = References(sf)
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
