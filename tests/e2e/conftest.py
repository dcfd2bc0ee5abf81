"""Everything under tests/e2e is marked ``e2e`` and skipped, with the reason, where labs cannot
run: not root, or a program missing (the checks of ``interlink-lab up``, lifecycle.preflight).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.control import lifecycle
from lab.control.labdir import LabError

HERE = Path(__file__).resolve().parent


def _cannot_run() -> str | None:
    try:
        lifecycle.preflight()
    except LabError as exc:
        return f"end-to-end: {exc}"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with the whole session's items, not only this directory's.
    ours = [item for item in items if item.path.is_relative_to(HERE)]
    reason = _cannot_run() if ours else None
    for item in ours:
        item.add_marker(pytest.mark.e2e)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
