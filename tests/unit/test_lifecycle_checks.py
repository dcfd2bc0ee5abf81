"""Clear errors before anything is touched: not root, missing programs, bad names, bad
hold times, scenario errors with their FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lab.control import lifecycle
from lab.control.labdir import LabError, check_lab_name
from lab.routers import registry
from lab.scenario.file import validate
from lab.scenario.model import SCENARIO_DIR, ScenarioError, valid_hold_time
from lab.scenario.parse import parse_scenario


def test_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        lifecycle.up("basic", lab="tnotroot")


def test_missing_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lifecycle.shutil, "which",
                        lambda name: None if name == "iptables" else f"/usr/bin/{name}")
    with pytest.raises(LabError, match="missing programs: iptables; run `make setup`"):
        lifecycle.preflight()


@pytest.mark.parametrize("name", ["", "Ilab", "1lab", "lab-1", "a" * 13])
def test_bad_lab_names(name: str) -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        check_lab_name(name)


BASIC = (SCENARIO_DIR / "basic.yaml").read_text()
HOLD_LINE = "  hold_time: 9            # seconds, both speakers"


class _Preflight(Exception):
    """Raised instead of the preflight: `up` got past its input checks."""


@pytest.fixture
def no_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    def stop() -> None:
        raise _Preflight
    monkeypatch.setattr(lifecycle, "preflight", stop)


@pytest.mark.parametrize("hold", [-1, 0, 1, 2, 3, 9, 65535, 65536])
def test_hold_time_is_one_rule(hold: int, tmp_path: Path, no_preflight: None) -> None:
    """`up --hold-time`, the schema and the parser accept the same values: 0 or 3..65535."""
    ok = valid_hold_time(hold)
    assert ok == (hold == 0 or 3 <= hold <= 65535)
    if ok:
        with pytest.raises(_Preflight):
            lifecycle.up("basic", lab="thold", hold_time=hold)
    else:
        with pytest.raises(LabError, match=r"--hold-time must be 0 \(no keepalives\) or "
                                           rf"3..65535 seconds, not {hold}"):
            lifecycle.up("basic", lab="thold", hold_time=hold)
    f = tmp_path / "s.yaml"
    assert HOLD_LINE in BASIC
    f.write_text(BASIC.replace(HOLD_LINE, f"  hold_time: {hold}"))
    errors = [str(i) for i in validate(f, registry.names()) if i.severity == "error"]
    if ok:
        assert errors == []
        assert parse_scenario(yaml.safe_load(f.read_text())).hold_time == hold
    else:
        assert errors == [f"{f}:8:14: timers.hold_time: must be 0 (no keepalives) or "
                          f"3..65535 seconds, not {hold}"]
        with pytest.raises(ScenarioError,
                           match=rf"must be 0 \(no keepalives\) or 3..65535 seconds, not {hold}"):
            parse_scenario(yaml.safe_load(f.read_text()))


def test_up_reports_scenario_errors_with_positions(tmp_path: Path, no_preflight: None) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BASIC.replace("vlan: 2451", "vlan: 12"))
    with pytest.raises(LabError) as exc:
        lifecycle.up(str(f), lab="tbad")
    (issue,) = [i for i in validate(f, registry.names()) if i.severity == "error"]
    assert str(exc.value) == f"invalid scenario:\n  {issue}"
    assert str(issue).startswith(f"{f}:") and "vlan" in str(issue)


def test_a_gated_controller_whose_up_failed_exits_without_touching_the_lab(
        tmp_path: Path) -> None:
    """`up` starts the controller while it builds the nodes, gated on a pipe: closed unwritten
    (the build failed, `up` was killed), the controller exits after its imports, having read
    no lab (this one does not exist) and written nothing."""
    import os
    import subprocess
    import sys

    gate, go = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "lab.daemon.main", "--lab", "tnolabgate",
                             "--gate", str(gate)], pass_fds=(gate,), cwd=tmp_path,
                            env={**os.environ, "ILAB_STATE_DIR": str(tmp_path / "state")},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(gate)
    os.close(go)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert not (tmp_path / "state").exists()
