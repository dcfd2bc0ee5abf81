"""Scenario files against the JSON schema (lab/scenario/schema.json), errors in the file's words."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from lab.scenario.document import Issue, Path_, ScenarioFile
from lab.scenario.model import DEFAULT_ROUTER, HOLD_TIME_RULE

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.json"


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
    if v == "anyOf" and path[-1:] == ("hold_time",):
        return path, f"{where}: {HOLD_TIME_RULE}, not {err.instance!r}", False
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


