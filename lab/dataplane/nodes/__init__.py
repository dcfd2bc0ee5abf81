"""Node runtimes: what a lab node is (a bare network namespace, later a container) behind one
interface, ``lab.dataplane.nodes.base.NodeRuntime``.

``runtime(name)`` returns the runtime registered under ``name`` (one instance per process);
a runtime is registered by its line in ``RUNTIMES`` ("module:class", imported on first use,
so a runtime's dependencies cost nothing to labs that do not use it). ``runtime_for(handle)``
returns the runtime a node handle belongs to (``NodeRuntime.owns``), for code that holds a
handle and not a lab.
"""

from __future__ import annotations

import importlib
import threading

from lab.dataplane.nodes.base import NodeRuntime

DEFAULT = "netns"
RUNTIMES: dict[str, str] = {
    "netns": "lab.dataplane.nodes.netns:NetnsRuntime",
    "docker": "lab.dataplane.nodes.docker:DockerRuntime",
}

# Which runtime a handle is of, by its naming, without importing the runtime ("clab-..." is
# containerlab's, hence the docker runtime's; everything else is a bare netns).
HANDLE_PREFIXES: dict[str, str] = {"clab-": "docker"}

_instances: dict[str, NodeRuntime] = {}
_lock = threading.Lock()


def runtime(name: str = DEFAULT) -> NodeRuntime:
    """The node runtime registered as ``name``; ValueError for an unknown one."""
    with _lock:
        return _instances.get(name) or _load(name)


def runtime_for(handle: str) -> NodeRuntime:
    """The runtime whose naming ``handle`` follows."""
    for prefix, name in HANDLE_PREFIXES.items():
        if handle.startswith(prefix):
            return runtime(name)
    return runtime(DEFAULT)


def _load(name: str) -> NodeRuntime:
    try:
        module, _, cls_name = RUNTIMES[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown node runtime {name!r} (one of "
                         f"{', '.join(sorted(RUNTIMES))})") from None
    cls = getattr(importlib.import_module(module), cls_name)
    if not (isinstance(cls, type) and issubclass(cls, NodeRuntime) and cls.name == name):
        raise TypeError(f"{RUNTIMES[name]} is not the NodeRuntime named {name!r}")
    inst: NodeRuntime = cls()
    _instances[name] = inst
    return inst
