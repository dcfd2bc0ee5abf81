"""The customer router kinds that tests run over: the lab.routers registry, seen by pytest.

A run on a kind other than the scenario default carries the ``matrix`` mark (``make quick``
leaves those out); a kind whose binaries are missing is skipped. Tests take a ``router_kind``
argument (parametrised by tests/conftest.py) or build their parameters with ``param``.
"""

from __future__ import annotations

from typing import Any

import pytest

from lab.routers import registry
from lab.scenario.model import DEFAULT_ROUTER as DEFAULT

KINDS = registry.names()


def kernel_proto(kind: str) -> str:
    """The protocol (`ip route ... proto P`) of the routes ``kind``'s router installs."""
    return registry.get(kind).kernel_proto


def param(*values: Any, kind: str, id: str | None = None) -> Any:
    """``pytest.param(*values)`` of a run on ``kind``: marked ``matrix`` unless it is the
    default kind, skipped if the kind is not installed."""
    marks = [pytest.mark.skipif(not registry.get(kind).available(),
                                reason=f"{kind} is not installed")]
    if kind != DEFAULT:
        marks.append(pytest.mark.matrix)
    return pytest.param(*values, marks=marks, id=id or kind)
