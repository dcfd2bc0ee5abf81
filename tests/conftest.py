"""Shared by every test: the ``router_kind`` parameter and golden files.

- A test (or fixture) taking ``router_kind`` runs once per customer router kind
  (tests/router_kinds.py), module-scoped so that a module can share one lab per kind.
- A test (or fixture) taking ``node_runtime`` runs once per node runtime (bare namespaces,
  Docker containers), module-scoped too; the docker runs carry the ``docker`` and ``matrix``
  marks and are skipped where no Docker engine can be had (tests/node_runtimes.py).
- Under pytest-xdist (``make test`` runs ``-n``), a module's tests that share a lab stay on one
  worker: one unit of work per module and (router kind, node runtime), so matrices spread out.
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


# The ids of the module-scoped parameters: a module's tests with the same ones share a lab.
_SHARED_IDS = frozenset(router_kinds.KINDS) | {"netns", "docker"}


def xdist_scope(nodeid: str) -> str:
    """The unit of work of a worker: the module and the router kind / node runtime in the
    test's id (``tests/e2e/test_lab.py::test_x[frr-docker-4]`` -> ``...test_lab.py:frr-docker``),
    so a module's matrix spreads over the workers while each lab stays on one."""
    module, _, rest = nodeid.partition("::")
    ids = rest[rest.find("[") + 1:-1].split("-") if rest.endswith("]") else []
    return module + ":" + "-".join(i for i in ids if i in _SHARED_IDS)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``-n N`` (``make test``) schedules by ``xdist_scope`` (xdist's ``loadgroup`` marks
    do not survive pytest 9's node ids)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByLab(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return ByLab(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A private Docker engine the docker runs started stops with the session (when no
    container is left on it): the suite leaves no process behind. Under xdist only the
    controlling process does it, once every worker is done (a worker's release could race
    another worker about to create containers)."""
    if hasattr(session.config, "workerinput"):
        return
    from lab.dataplane.docker import engine
    from lab.dataplane.state import state_root

    engine.release(state_root())


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
