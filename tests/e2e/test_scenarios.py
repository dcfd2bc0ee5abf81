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
from lab.runner import run as runner
from lab.scenario.model import SCENARIO_DIR

SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken.yaml"
PINNED = {"customer-frr", "customer-bird"}
EXABGP_ONLY = {"redundant"}


def _combos() -> list[Any]:
    out: list[Any] = []
    for path in SCENARIOS:
        if path.stem in PINNED:
            out.append(pytest.param(path, None, id=f"{path.stem}-pinned"))
        else:
            out += [router_kinds.param(path, k, kind=k, id=f"{path.stem}-{k}")
                    for k in router_kinds.KINDS
                    if k == router_kinds.DEFAULT or path.stem not in EXABGP_ONLY]
    return out


def _report(r: runner.FileReport) -> str:
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
