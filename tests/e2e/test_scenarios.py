"""Every shipped scenario run through the runner (real labs), plus a must-fail file via the CLI.

Every scenario runs with every customer router kind (`run --router`; the non-default kinds
carry the `matrix` mark), except:
- files that pin a kind themselves (customer-frr, customer-bird) run with that kind only;
- `redundant` needs one customer router with two sessions per family and per-link
  communities, which only the ExaBGP customer router offers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import router_kinds

from lab.control import lifecycle
from lab.control.handle import unique_lab_name
from lab.routers import registry
from lab.runner import run as runner
from lab.runner.report import FileReport
from lab.scenario.addressing import build_topology
from lab.scenario.model import DEFAULT_ROUTER, SCENARIO_DIR
from lab.scenario.parse import load_scenario

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken.yaml"


def _combos() -> list[Any]:
    """Every scenario with every customer router kind that can hold its customers
    (`run --router`; e.g. `redundant` needs per-link sessions); a file that names a kind
    other than the default (customer-frr, customer-bird) runs with that kind only."""
    out: list[Any] = []
    for path in SCENARIOS:
        scenario = load_scenario(str(path))
        if {c.router for c in scenario.customers} != {DEFAULT_ROUTER}:
            out.append(pytest.param(path, None, id=f"{path.stem}-pinned"))
            continue
        topo = build_topology(scenario, "x")
        out += [router_kinds.param(path, k.name, kind=k.name, id=f"{path.stem}-{k.name}")
                for k in registry.kinds() if all(k.refusal(c) is None for c in topo.customers)]
    return out


def _report(r: FileReport) -> str:
    lines = [f"{r.file} (lab {r.lab}): {r.error or ''}"]
    lines += [f"  {it.line()}" for it in r.items]
    return "\n".join(lines)


@pytest.mark.parametrize(("path", "router"), _combos())
def test_scenario_passes(path: Path, router: str | None) -> None:
    lab = unique_lab_name()
    try:
        report = runner.run_file(path, lab=lab, router=router)
    finally:
        lifecycle.down(lab)  # the runner tears down too; this guards against its bugs
    assert report.ok, _report(report)
    assert report.items, "a shipped scenario must check something"
    assert not lifecycle.is_up(lab)


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
