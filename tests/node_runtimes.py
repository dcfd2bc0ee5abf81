"""The node runtimes tests run over: bare namespaces always, Docker containers where an
engine can be had (the user's, or a private one the lab starts: needs dockerd installed)."""

from __future__ import annotations

import functools
import shutil
from typing import Any

import pytest

from lab.dataplane.docker import engine
from lab.dataplane.state import state_root


@functools.cache
def docker_unavailable() -> str | None:
    """Why the docker runtime cannot run here, or None."""
    if engine.running(state_root()):
        return None
    if shutil.which("dockerd") is None:
        return "no Docker engine and no dockerd to start one (`make setup` installs docker.io)"
    return None


def params() -> list[Any]:
    reason = docker_unavailable()
    return [pytest.param("netns", id="netns"),
            pytest.param("docker", id="docker",
                         marks=[pytest.mark.docker, pytest.mark.matrix,
                                pytest.mark.skipif(reason is not None, reason=reason or "")])]
