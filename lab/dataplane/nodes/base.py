"""What the lab does to a node, whatever the node is: the ``NodeRuntime`` interface.

A node is named by its *handle*, the name of its network namespace as ``ip netns`` lists it
(``<lab>-<node>`` for the netns runtime): every runtime exposes that namespace as a file
under /run/netns, so ``ip -n HANDLE``, ``enter``, ``socket`` and ``run_tool`` work the same
for all of them and are implemented here once. The rest is the runtime's:

- life cycle: ``create``, ``exists``, ``remove`` (kill what runs inside, then delete),
  ``lab_nodes``;
- the node's own programs: ``run`` (short, captured), ``start`` (long-running, returns its
  PID), ``spawn`` (long-running, its output held by the caller: pipes or files),
  ``start_daemon`` (self-daemonising programs such as FRR's and BIRD's, which fork and
  write a pid file), ``attach`` (interactive), ``stop``, ``pids``.

Writing another runtime means one module subclassing ``NodeRuntime`` plus its line in
``lab.dataplane.nodes.RUNTIMES``; nothing else changes. A handle tells its runtime
(``HANDLE_PREFIXES``: the docker runtime's are containerlab's ``clab-<lab>-<node>``), so code
holding a handle finds it with ``lab.dataplane.nodes.runtime_for(handle)``. What a runtime has
to provide, and how the parameters are meant:

- ``create``: e.g. a container with ``network_mode: none`` whose netns is exposed at
  ``/var/run/netns/clab-<lab>-<node>`` (``handle`` returns that name), so that the lab wires
  veths into it like into any namespace. Per-node ``NodeOptions`` (image, binds, labels) are
  read by runtimes that need them; the netns runtime ignores them.
- paths (``argv``, ``log_path``, ``cwd``) and ``env`` are read *inside the node*: the netns
  runtime shares the host's filesystem, a container runtime binds the host paths the lab
  uses (its state directory) at the same place in the container, so one path means the same
  file on both sides. ``env`` holds only what the program needs on top of the node's own
  environment (the lab process's for netns, the image's for a container).
- ``mounts``: host directories the program needs at a given place (FRR's /var/tmp crash
  logs go to the instance's directory). The netns runtime binds them in the program's
  private mount namespace (``ip netns exec`` gives it one); a container runtime binds them
  when it creates the container or refuses what it cannot bind.
- ``log_path``: the program's stdout and stderr are appended there (by the runtime, on the
  host side, e.g. from ``docker exec``'s output).
- PIDs are host PIDs (what /proc on the host shows), so ``stop`` and ``pids`` can act on
  them whatever started them; ``start`` returns the program's own PID, not a wrapper's.
- ``run`` runs the node's program (``vtysh``, ``birdc``), ``run_tool`` a host program (the
  lab's tooling: iptables, ping, scapy) with only its network namespace switched to the
  node's; for the netns runtime the two are the same thing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar, TypeVar

from controller.drivers.nsenter import netns_path, run_in_netns, socket_in_netns

T = TypeVar("T")


class NodeError(RuntimeError):
    """A node could not be created or removed, or a program in it could not be run."""


@dataclass(frozen=True)
class Mount:
    """A host directory bound at ``target`` for a program started in a node."""

    source: Path
    target: str


@dataclass(frozen=True)
class NodeOptions:
    """What a container runtime needs to create one node (the netns runtime needs none)."""

    role: str = ""  # the topology role (labels, image choice)
    image: str | None = None  # None: the runtime's default image for the role
    binds: tuple[Mount, ...] = ()  # host directories, bound at create time
    labels: tuple[tuple[str, str], ...] = ()  # extra labels (sorted pairs: hashable)


@dataclass(frozen=True)
class RemoveReport:
    removed: tuple[str, ...]  # nodes deleted
    missing: tuple[str, ...]  # asked for but already gone
    terminated: tuple[int, ...]  # PIDs that got SIGTERM
    killed: tuple[int, ...]  # PIDs that also needed SIGKILL
    seconds: float


@dataclass
class NodeProcess:
    """A program of a node started by ``spawn``: ``popen`` holds its pipes and is reaped by
    ``wait``; ``pid`` is the program's own host PID, where signals go (``popen`` may be a
    wrapper that does not pass them on, as nsenter)."""

    popen: subprocess.Popen[bytes]
    pid: int

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:  # not once reaped: the PID may be someone else's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit status (negative: a signal), None if still running after ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


class NodeRuntime(ABC):
    """How nodes of one kind are created, entered, run programs, and removed."""

    name: ClassVar[str]  # its key in lab.dataplane.nodes.RUNTIMES
    can_stop_nodes: ClassVar[bool] = False  # `fault stop-node` (a container can; a netns not)

    # -- naming -------------------------------------------------------------------------

    @abstractmethod
    def handle(self, lab: str, node: str) -> str:
        """The handle of node ``node`` of lab ``lab`` (its netns name)."""

    @abstractmethod
    def lab_nodes(self, lab: str) -> list[str]:
        """Handles of the lab's nodes that exist now, sorted."""

    def netns_path(self, handle: str) -> str:
        """The node's network namespace file, for setns() and ``ip -n``."""
        return netns_path(handle)

    # -- life cycle ---------------------------------------------------------------------

    @abstractmethod
    def exists(self, handle: str) -> bool: ...

    @abstractmethod
    def create(self, handles: Sequence[str],
               options: Mapping[str, NodeOptions] | None = None) -> None:
        """Create these nodes (none may exist), with no interface but loopback: the lab
        configures their network. NodeError naming every one that failed; the others were
        created (``exists`` tells which)."""

    @abstractmethod
    def remove(self, handles: Iterable[str], grace: float = 1.0) -> RemoveReport:
        """SIGTERM everything running in these nodes, SIGKILL what is left after ``grace``
        seconds, delete the nodes (their veths go with them). Missing ones are reported, not
        an error."""

    def stop_node(self, handle: str, timeout: float = 1.0) -> None:
        """Stop the node as a power cut would: its programs and network namespace go; a
        later ``create`` of the same handle starts it again (``can_stop_nodes``)."""
        raise NodeError(f"the {self.name} runtime cannot stop a node")

    def describe(self, handle: str) -> dict[str, object]:
        """What ``inspect`` shows of the node: its runtime, whether it runs, and the
        runtime's own identity of it (a container's id and image)."""
        return {"runtime": self.name, "running": self.exists(handle)}

    @abstractmethod
    def pids(self, handles: Iterable[str]) -> dict[str, list[int]]:
        """Host PIDs of the processes living in each existing node."""

    # -- entering (the same for every runtime: through the netns file) --------------------

    def enter(self, handle: str, fn: Callable[[], T]) -> T:
        """``fn()`` run by a thread that joined the node's network namespace (the caller
        stays where it is); what it creates (sockets, child processes) stays in the node."""
        return run_in_netns(self.netns_path(handle), fn)

    def socket(self, handle: str, family: int, kind: int, proto: int = 0) -> socket.socket:
        """A socket of the node's network namespace."""
        return socket_in_netns(self.netns_path(handle), family, kind, proto)

    def run_tool(self, handle: str, argv: Sequence[str], *, input: str | None = None,
                 timeout: float | None = 10.0) -> subprocess.CompletedProcess[str]:
        """A short host program run in the node's network namespace, output captured (text).
        Any exit code is returned; NodeError if it cannot be run or outlives ``timeout``."""
        try:
            return self.enter(handle, lambda: subprocess.run(
                list(argv), input=input, capture_output=True, text=True, check=False,
                timeout=timeout))
        except FileNotFoundError as e:
            what = argv[0] if e.filename == argv[0] else f"node {handle!r}"
            raise NodeError(f"{what} not found") from None
        except subprocess.TimeoutExpired:
            raise NodeError(f"{argv[0]} in {handle} did not finish within {timeout}s") from None
        except OSError as e:
            raise NodeError(f"{argv[0]} in {handle}: {e}") from None

    # -- the node's own programs ------------------------------------------------------------

    @abstractmethod
    def run(self, handle: str, argv: Sequence[str], *, input: str | None = None,
            timeout: float | None = 10.0) -> subprocess.CompletedProcess[str]:
        """A short program of the node, output captured (text); as ``run_tool``."""

    @abstractmethod
    def start(self, handle: str, argv: Sequence[str], *, log_path: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None,
              mounts: Sequence[Mount] = ()) -> int:
        """Start a long-running program that stays in the foreground, in its own session,
        stdin closed, output appended to ``log_path``; returns its PID at once."""

    @abstractmethod
    def spawn(self, handle: str, argv: Sequence[str], *, stdout: int | IO[bytes],
              stderr: int | IO[bytes]) -> NodeProcess:
        """Start a long-running program in its own session, stdin closed, its output going
        where the caller says (``subprocess.PIPE``, a file, a descriptor); the caller reaps it
        (``NodeProcess.wait``)."""

    @abstractmethod
    def start_daemon(self, handle: str, argv: Sequence[str], *, log_path: Path,
                     env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     mounts: Sequence[Mount] = (), timeout: float = 10.0) -> None:
        """Run a self-daemonising program and wait for its foreground part to exit (it does
        once the daemon is set up); its PID is in its own pid file. NodeError, with the end
        of the log, if it exits non-zero or takes longer than ``timeout``."""

    @abstractmethod
    def attach(self, handle: str, argv: Sequence[str]) -> int:
        """Run a program interactively (the caller's terminal); its exit status, negative
        for a signal as with subprocess."""

    @abstractmethod
    def stop(self, handle: str, pid: int, timeout: float = 1.0) -> bool:
        """SIGTERM, SIGKILL after ``timeout``; True if the process was running."""

    # -- what the node's filesystem holds -------------------------------------------------

    def python(self, handle: str) -> str:
        """The Python interpreter of the node that runs the lab's ExaBGP and its bridge
        (``-m exabgp``, ``-m controller.drivers.exabgp_bridge``)."""
        return sys.executable

    def host_pid(self, handle: str, pid: int) -> int | None:
        """The host PID of the node's process that sees itself as ``pid`` (what it writes in
        its pid file), None if there is none; the same number where nodes share the host's
        PID namespace."""
        return pid

    def user_ids(self, handle: str, user: str) -> tuple[int, int]:
        """(uid, gid) of ``user`` as the node's programs see it (FRR runs as ``frr``)."""
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise NodeError(f"no user {user!r} on this machine") from None
        return pw.pw_uid, pw.pw_gid

