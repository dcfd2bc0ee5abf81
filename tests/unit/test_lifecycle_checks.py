"""Clear one-line errors before anything is touched: not root, missing programs, bad names."""

from __future__ import annotations

import pytest

from lab.control import lifecycle
from lab.control.labdir import LabError, check_lab_name


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
