"""iproute2 at work in the lab's namespaces (I/O): batches, and reading live state with
``ip -j`` (addresses, veths, bridge ports, routes). Every command names its namespace with
``ip -n``, so nothing here ever runs in, or looks at, the root namespace."""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.drivers.nsenter import NETNS_DIR
from lab.dataplane.routes import RouteEntry, parse_ip_routes

Job = tuple[list[str], str | None]  # argv, stdin


class IprouteError(RuntimeError):
    """An ip command failed; the message says what it was doing and ip's complaint."""


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)


def complaint(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip() or proc.stdout.strip()


def parallel(jobs: dict[str, Job]) -> dict[str, tuple[int, str, str]]:
    """Run one command per key concurrently: key -> (returncode, stdout, stderr)."""
    procs = {k: (subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else
                                  subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True), stdin)
             for k, (cmd, stdin) in jobs.items()}
    out = {}
    for k, (p, stdin) in procs.items():
        o, e = p.communicate(stdin)
        out[k] = (p.returncode, o, e)
    return out


def batches(scripts: dict[str, list[str]], what: str, force: bool = False) -> None:
    """`ip -n NS -batch -` for every namespace with lines, all namespaces in parallel; with
    ``force`` errors are ignored (ip carries on with the next line)."""
    jobs: dict[str, Job] = {
        n: (["ip", *(["-force"] if force else []), "-n", n, "-batch", "-"],
            "\n".join(lines) + "\n") for n, lines in scripts.items() if lines}
    errors = [f"{what} {n}: {(err or out).strip()}"
              for n, (rc, out, err) in parallel(jobs).items() if rc and not force]
    if errors:
        raise IprouteError("; ".join(errors))


def ip_json(netns: str, *args: str, what: str | None = None) -> list[dict[str, Any]]:
    """``ip -n NETNS -j ARGS...``, decoded."""
    cp = run(["ip", "-n", netns, "-j", *args])
    if cp.returncode:
        raise IprouteError(f"reading {what or ' '.join(args)} in {netns}: {complaint(cp)}")
    data: list[dict[str, Any]] = json.loads(cp.stdout or "[]")
    return data


@functools.lru_cache(maxsize=65536)  # a sync re-reads every address of the shared namespaces
def norm_cidr(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr))


@dataclass
class LiveState:
    """What exists in a namespace now: interface names and (ifname, cidr) addresses."""

    ifaces: set[str]
    addrs: set[tuple[str, str]]


def live_state(names: Iterable[str]) -> dict[str, LiveState]:
    """The interfaces and addresses of each namespace (read in parallel)."""
    jobs: dict[str, Job] = {n: (["ip", "-n", n, "-j", "addr", "show"], None) for n in names}
    live: dict[str, LiveState] = {}
    for n, (rc, out, err) in parallel(jobs).items():
        if rc:
            raise IprouteError(f"reading {n}: {err.strip()}")
        st = LiveState(set(), set())
        for link in json.loads(out or "[]"):
            st.ifaces.add(link["ifname"])
            for a in link.get("addr_info", []):
                if a.get("family") in ("inet", "inet6") and "local" in a:
                    st.addrs.add((link["ifname"], norm_cidr(f"{a['local']}/{a['prefixlen']}")))
        live[n] = st
    return live


def link_exists(netns: str, ifname: str) -> bool:
    """``ifname`` exists in ``netns`` (False too when the namespace is gone)."""
    return os.path.exists(f"{NETNS_DIR}/{netns}") and run(
        ["ip", "-n", netns, "link", "show", "dev", ifname]).returncode == 0


def veths_leaving(netns: str) -> list[str]:
    """The veths of ``netns`` whose peer lives in another namespace."""
    return [link["ifname"] for link in ip_json(netns, "link", "show", "type", "veth",
                                               what="veths")
            if "link_netnsid" in link]


def forwarding_ports(netns: str, bridge: str) -> set[str]:
    """The ports of ``bridge`` in STP state forwarding."""
    return {link["ifname"] for link in ip_json(netns, "-d", "link", "show", "master", bridge,
                                               what=f"{bridge} ports")
            if link.get("linkinfo", {}).get("info_slave_data", {}).get("state") == "forwarding"}


def routes(netns: str, proto: str | None = None) -> list[RouteEntry]:
    """The main table of ``netns``, IPv4 then IPv6, optionally one protocol's routes only."""
    out: list[RouteEntry] = []
    for family in (4, 6):
        cmd = ["ip", "-n", netns, "-j", f"-{family}", "route", "show"]
        if proto:
            cmd += ["proto", proto]
        cp = run(cmd)
        if cp.returncode:
            raise IprouteError(f"reading routes in {netns}: {complaint(cp)}")
        out += parse_ip_routes(cp.stdout, family)
    return out
