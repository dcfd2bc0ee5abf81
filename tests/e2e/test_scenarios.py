"""Every shipped scenario run through the runner (real labs), plus a must-fail file via the CLI.

A scenario needing a feature not merged yet is listed in NOT_YET_RUNNABLE with the reason:
it is skipped, not silently passed. Empty the list as the features land.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.control import lifecycle
from lab.routers import registry
from lab.runner import run as runner
from lab.runner.report import FileReport
from lab.scenario.addressing import build_topology
from lab.scenario.model import DEFAULT_ROUTER, SCENARIO_DIR
from lab.scenario.parse import load_scenario
from lab.testing.plugin import unique_lab_name

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")]

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken.yaml"

NOT_YET_RUNNABLE: dict[str, str] = {}

def _combos() -> list[tuple[Path, str | None]]:
    """Every scenario with every customer router kind that can hold its customers
    (`run --router`; e.g. `redundant` needs per-link sessions); a file that names a kind
    other than the default (customer-frr, customer-bird) runs with that kind only."""
    out: list[tuple[Path, str | None]] = []
    for path in SCENARIOS:
        scenario = load_scenario(str(path))
        if {c.router for c in scenario.customers} != {DEFAULT_ROUTER}:
            out.append((path, None))
            continue
        topo = build_topology(scenario, "x")
        out += [(path, k.name) for k in registry.kinds()
                if all(k.refusal(c) is None for c in topo.customers)]
    return out


COMBOS = _combos()


def _report(r: FileReport) -> str:
    lines = [f"{r.file} (lab {r.lab}): {r.error or ''}"]
    lines += [f"  {it.line()}" for it in r.items]
    return "\n".join(lines)


@pytest.mark.parametrize(("path", "router"), COMBOS,
                         ids=[f"{p.stem}-{r or 'pinned'}" for p, r in COMBOS])
def test_scenario_passes(path: Path, router: str | None) -> None:
    if path.stem in NOT_YET_RUNNABLE:
        pytest.skip(f"not runnable yet: {NOT_YET_RUNNABLE[path.stem]}")
    lab = unique_lab_name()
    try:
        report = runner.run_file(path, lab=lab, router=router)
    finally:
        lifecycle.down(lab)  # the runner tears down too; this guards against its bugs
    assert report.ok, _report(report)
    assert report.items, "a shipped scenario must check something"
    assert not lifecycle.is_up(lab)


def test_not_yet_runnable_names_exist() -> None:
    assert set(NOT_YET_RUNNABLE) <= {p.stem for p in SCENARIOS}


def test_broken_scenario_fails_via_cli() -> None:
    lab = unique_lab_name()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from lab.cli.main import main; main()", "run",
             str(BROKEN), "--lab", lab],
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        lifecycle.down(lab)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAIL checks[1] ipv4 wrongly expected blocked" in proc.stderr, out
    assert "expected no reply (ipv4); last seen IPv4" in proc.stderr, out
    assert "PASS checks[0]" in proc.stderr, out
    assert "1/2 passed" in proc.stdout, out
    assert not lifecycle.is_up(lab)
