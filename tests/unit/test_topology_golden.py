"""The topology every shipped scenario builds, against tests/golden/<scenario>.json.

Any change to names, addresses, VLANs or routes shows up as a diff of those files. After an
intended change: ``make golden`` (``pytest tests/unit/test_topology_golden.py --update-golden``),
then review and commit the diff with the change.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.scenario.addressing import build_topology
from lab.scenario.model import SCENARIO_DIR
from lab.scenario.parse import load_scenario

SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


def topology_json(scenario: str) -> str:
    """The built topology as JSON: dataclasses as objects with sorted keys, tuples as lists
    (their order is the build order, which matters)."""
    topo = build_topology(load_scenario(scenario), "ilab")
    text = json.dumps(dataclasses.asdict(topo), indent=2, sort_keys=True) + "\n"
    # a customer's own config is an absolute path: the same file wherever the checkout is
    return text.replace(json.dumps(str(SCENARIO_DIR))[1:-1], "$SCENARIO_DIR")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_topology_matches_golden(scenario: str, golden: Callable[[str, str], None]) -> None:
    golden(f"{scenario}.json", topology_json(scenario))


def test_every_golden_file_has_a_scenario() -> None:
    stale = sorted(p.name for p in GOLDEN_DIR.glob("*.json") if p.stem not in SCENARIOS)
    assert not stale, f"golden files without a shipped scenario (delete them): {stale}"
