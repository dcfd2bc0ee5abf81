"""Run code inside a network namespace without moving the caller (I/O).

``setns()`` moves only the calling thread, so a throwaway thread joins the namespace, runs
the callable and ends; the caller's thread, and so the rest of the process, never leaves its
own namespace. No fork either (pyroute2's netns helpers fork, which is unwelcome in a threaded
asyncio daemon). What the callable creates there keeps the namespace it was created in: a
socket stays bound to it, a child process spawned from the thread lives in it.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

NETNS_DIR = "/run/netns"  # where `ip netns` (and containerlab) expose named namespaces
CLONE_NEWNET = 0x40000000

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str) -> str:
    """The file of a namespace given by name (``ip netns`` style) or as an absolute path."""
    return netns if netns.startswith("/") else os.path.join(NETNS_DIR, netns)


def enter_netns(netns: str) -> None:
    """Move the calling thread into namespace ``netns`` (a name or a path): for a thread that
    is thrown away after, or a process of one thread (``speaker_forkserver``'s children)."""
    path = netns_path(netns)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def run_in_netns(netns: str, fn: Callable[[], T]) -> T:
    """``fn()`` run in a fresh thread that joined namespace ``netns`` (a name or a path);
    its exception, if any, is raised here. FileNotFoundError if the namespace is missing
    (nothing is ever created)."""
    path = netns_path(netns)
    box: dict[str, object] = {}

    def target() -> None:
        try:
            enter_netns(path)
            box["result"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    th = threading.Thread(target=target, name=f"netns-{os.path.basename(path)}")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def socket_in_netns(netns: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside ``netns``: it stays there whoever uses it later."""
    return run_in_netns(netns, lambda: socket.socket(family, kind, proto))
