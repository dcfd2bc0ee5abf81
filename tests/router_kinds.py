"""The customer router kinds that tests run over, from one place.

``KINDS`` becomes a read of the lab.routers registry once it exists; nothing else changes. A
run on a kind other than ``DEFAULT`` carries the ``matrix`` mark (``make quick`` leaves those
out); a kind whose binaries are missing is skipped. Tests take a ``router_kind`` argument
(parametrised by tests/conftest.py) or build their parameters with ``param``.
"""

from __future__ import annotations

from typing import Any

import pytest

from lab import routers

DEFAULT = "exabgp"
# kind -> the kernel protocol (`ip route ... proto P`) of the routes its customer router installs
KINDS: dict[str, str] = {"exabgp": "bgp", "frr": "bgp", "bird": "bird"}


def available(kind: str) -> bool:
    return kind == DEFAULT or routers.available(kind)


def kernel_proto(kind: str) -> str:
    return KINDS[kind]


def param(*values: Any, kind: str, id: str | None = None) -> Any:
    """``pytest.param(*values)`` of a run on ``kind``: marked ``matrix`` unless it is the
    default kind, skipped if the kind is not installed."""
    marks = [pytest.mark.skipif(not available(kind), reason=f"{kind} is not installed")]
    if kind != DEFAULT:
        marks.append(pytest.mark.matrix)
    return pytest.param(*values, marks=marks, id=id or kind)
