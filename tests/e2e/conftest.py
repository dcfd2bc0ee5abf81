"""Everything under tests/e2e is marked ``e2e`` and skipped, with the reason, where labs cannot
run: not root, or a program missing (the checks of ``interlink-lab up``, lifecycle.preflight).
"""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def _release_private_engine() -> Iterator[None]:
    """A private Docker engine the docker runs started stops with the session (when no
    container is left on it): the suite leaves no process behind."""
    yield
    from lab.dataplane.docker import engine
    from lab.dataplane.state import state_root

    engine.release(state_root())
