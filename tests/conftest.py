"""Shared by every test: the ``router_kind`` parameter and golden files.

- A test (or fixture) taking ``router_kind`` runs once per customer router kind
  (tests/router_kinds.py), module-scoped so that a module can share one lab per kind.
- A test (or fixture) taking ``node_runtime`` runs once per node runtime (bare namespaces,
  Docker containers), module-scoped too; the docker runs carry the ``docker`` and ``matrix``
  marks and are skipped where no Docker engine can be had (tests/node_runtimes.py).
- ``golden(name, text)`` compares ``text`` with tests/golden/<name> and shows a diff;
  ``pytest --update-golden`` (``make golden``) rewrites the files instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import node_runtimes
import pytest
import router_kinds

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the code instead of comparing")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "router_kind" in metafunc.fixturenames:
        metafunc.parametrize("router_kind", [router_kinds.param(k, kind=k)
                                             for k in router_kinds.KINDS], scope="module")
    if "node_runtime" in metafunc.fixturenames:
        metafunc.parametrize("node_runtime", node_runtimes.params(), scope="module")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """``golden(name, text)``: ``text`` must equal tests/golden/<name>."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.write_text(text)
            return
        if not path.exists():
            pytest.fail(f"no golden file {path}: create it with `make golden`", pytrace=False)
        expected = path.read_text()
        if text != expected:
            diff = difflib.unified_diff(expected.splitlines(keepends=True),
                                        text.splitlines(keepends=True),
                                        f"tests/golden/{name}", "built now")
            pytest.fail(f"tests/golden/{name} differs from what the code builds:\n"
                        f"{''.join(diff)}\nIf the change is intended: `make golden`, then "
                        "review and commit the diff", pytrace=False)
    return check
