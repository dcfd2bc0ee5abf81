"""Packet capture inside a node: tcpdump run through the node runtime (either runtime), its
pcap or decoded lines going where the caller says (I/O; ``tcpdump_argv`` and ``pick_iface``
are pure).

- The pcap always comes out of tcpdump's stdout (``-U -w -``), into a file or pipe the caller
  opened on the host: one path for both runtimes (a container's tcpdump cannot see host
  paths), and ``-w -`` streams to Wireshark unbuffered.
- 802.1Q tags: the lab's VLANs are tagged by tc-BPF (``lab.dataplane.bpf``) as skb metadata,
  which libpcap puts back into the frames it reads on an Ethernet interface. So a trunk (pe0,
  il0, a partner's ports) shows the tags; ``any`` (Linux cooked headers) does not. A node's
  default interface is therefore its first trunk or bridge port, else ``any``.
- ``start`` returns once tcpdump listens (its "listening on" line): packets sent after that
  are caught. ``count`` ends it by itself (tcpdump ``-c``), ``duration`` by a timer; ``stop``
  sends SIGINT (tcpdump flushes and prints its counts), then SIGKILL; tcpdump is always reaped.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from lab.dataplane.iproute import IprouteError, ip_json
from lab.dataplane.nodes.base import NodeError, NodeProcess, NodeRuntime

BGP_FILTER = "tcp port 179"
ANY = "any"


class CaptureError(RuntimeError):
    """A capture could not start (no tcpdump, unknown interface) or tcpdump failed."""


@dataclass(frozen=True)
class Iface:
    name: str
    index: int
    master: str | None = None  # its bridge, for a bridge port


def tcpdump_argv(iface: str, *, bgp: bool = False, count: int | None = None,
                 pcap: bool = True) -> list[str]:
    """tcpdump's command line: pcap on stdout (``-U``: each packet flushed at once), else
    decoded lines with link headers (``-e`` shows the 802.1Q tag). ``--immediate-mode``: no
    kernel buffering, so a packet reaches the reader (and ``-c``) when it is seen."""
    argv = ["tcpdump", "-i", iface, "-nn", "--immediate-mode"]
    argv += ["-U", "-w", "-"] if pcap else ["-l", "-e"]
    if count is not None:
        argv += ["-c", str(count)]
    if bgp:
        argv.append(BGP_FILTER)
    return argv


def interfaces(handle: str) -> list[Iface]:
    """The node's interfaces as its kernel has them, in ifindex order."""
    try:
        links = ip_json(handle, "link", "show", what=f"interfaces of {handle}")
    except IprouteError as e:
        raise CaptureError(str(e)) from None
    return sorted((Iface(str(lk["ifname"]), int(lk["ifindex"]), lk.get("master"))
                   for lk in links), key=lambda i: i.index)


def pick_iface(ifaces: Sequence[Iface], wanted: str | None, node: str) -> str:
    """``wanted`` if the node has it (or ``any``), else a CaptureError listing the node's
    interfaces; None: the first 802.1Q trunk (the parent of a ``<parent>.<vid>``) or bridge
    port, where tags are visible, else ``any``."""
    names = [i.name for i in ifaces]
    if wanted is not None:
        if wanted == ANY or wanted in names:
            return wanted
        raise CaptureError(f"no interface {wanted!r} in node {node} "
                           f"(interfaces: {', '.join([*names, ANY])})")
    parents = {n.rsplit(".", 1)[0] for n in names if "." in n}
    for i in ifaces:
        if i.name in parents or i.master:
            return i.name
    return ANY


class Capture:
    """One tcpdump in one node; ``start``, then ``wait`` or ``stop`` (both reap it)."""

    def __init__(self, nodes: NodeRuntime, handle: str, iface: str, *, out: int | IO[bytes],
                 bgp: bool = False, count: int | None = None, duration: float | None = None,
                 pcap: bool = True, on_stderr: Callable[[str], None] | None = None):
        self.nodes, self.handle, self.iface = nodes, handle, iface
        self.argv = tcpdump_argv(iface, bgp=bgp, count=count, pcap=pcap)
        self.out, self.duration = out, duration
        self.on_stderr = on_stderr
        self.stderr: list[str] = []  # what tcpdump said (its counts at the end)
        self.proc: NodeProcess | None = None
        self.returncode: int | None = None
        self.stopped = False  # ended by stop() (or the duration), not by itself
        self._listening = threading.Event()
        self._reader: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    # -- life -------------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> Capture:
        """tcpdump started and listening; CaptureError (with tcpdump's words) otherwise."""
        check_tcpdump(self.nodes, self.handle)
        try:
            self.proc = self.nodes.spawn(self.handle, self.argv, stdout=self.out,
                                         stderr=subprocess.PIPE)
        except NodeError as e:
            raise CaptureError(str(e)) from None
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"tcpdump-{self.handle}")
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.02):
            if self.proc.popen.poll() is not None or time.monotonic() > deadline:
                rc = self.stop()
                said = "; ".join(ln for ln in self.stderr if ln) or f"exit {rc}"
                raise CaptureError(f"tcpdump in {self.handle} on {self.iface}: {said}")
        if self.duration is not None:
            self._timer = threading.Timer(self.duration, self.stop)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.popen.stderr is not None
        for raw in self.proc.popen.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr.append(line)
            if "listening on" in line:  # "tcpdump: listening on" when writing a pcap
                self._listening.set()
            if self.on_stderr is not None:
                self.on_stderr(line)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Until tcpdump ends by itself (count, duration): its exit status, None if it still
        runs after ``timeout``."""
        assert self.proc is not None
        if self.proc.wait(timeout) is None:
            return None
        return self._finish()

    def stop(self, grace: float = 2.0) -> int:
        """End it now (SIGINT: it flushes and prints its counts; SIGKILL after ``grace``)."""
        with self._lock:
            if self.proc is None:
                return 0
            if self.proc.popen.poll() is None:
                self.stopped = True
                self.proc.signal(signal.SIGINT)
                if self.proc.wait(grace) is None:
                    self.proc.signal(signal.SIGKILL)
                    self.proc.wait()
            return self._finish()

    def _finish(self) -> int:
        assert self.proc is not None
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._reader is not None:
            self._reader.join(2.0)
        if self.proc.popen.stderr is not None:
            self.proc.popen.stderr.close()
        self.returncode = self.proc.popen.returncode
        return self.returncode

    @property
    def ok(self) -> bool:
        """Ended well: by itself with status 0, or by ``stop``."""
        return self.returncode == 0 or (self.stopped and self.returncode is not None)

    def summary(self) -> str:
        """tcpdump's own count ("12 packets captured"), or its last words."""
        for line in self.stderr:
            if line.endswith("packets captured") or line.endswith("packet captured"):
                return line
        return self.stderr[-1] if self.stderr else ""


def check_tcpdump(nodes: NodeRuntime, handle: str) -> None:
    """CaptureError if the node has no tcpdump (a docker node's image, the host for netns)."""
    try:
        p = nodes.run(handle, ["tcpdump", "--version"], timeout=10.0)
    except NodeError as e:
        if "not found" in str(e):
            # netns nodes run the host's programs; a container its image's (the lab's node
            # image has it, a customer's own image may not).
            fix = ("add it to the node's image" if nodes.name == "docker"
                   else "install it on this machine: `make setup`")
            raise CaptureError(f"tcpdump is not installed in node {handle} ({fix})") from None
        raise CaptureError(str(e)) from None
    if p.returncode != 0:
        raise CaptureError(f"tcpdump in {handle} does not run: "
                           f"{(p.stderr or p.stdout).strip().splitlines()[-1:]}")
