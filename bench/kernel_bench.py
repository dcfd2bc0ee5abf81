"""Kernel route programming speed: controller.drivers.kernel fast path vs pyroute2 vs `ip -batch`.

Needs root. Builds its own namespaces (tkn-bench, tkn-bench-peer) and removes them.

    .venv/bin/python bench/kernel_bench.py [--json out.json] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from controller.drivers.kernel import BGP_PROTO, KernelRoute, RouteTable

NS = "tkn-bench"
PEER = "tkn-bench-peer"
GW = "198.18.0.1"


def sh(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, check=True, input=stdin, text=True, capture_output=True)


@contextmanager
def namespaces() -> Iterator[None]:
    for ns in (NS, PEER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    try:
        for ns in (NS, PEER):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", NS, "link", "add", "v0", "type", "veth", "peer", "name", "v0", "netns", PEER)
        for ns, addr in ((NS, "198.18.0.0/31"), (PEER, "198.18.0.1/31")):
            sh("ip", "-n", ns, "link", "set", "v0", "up")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", "v0")
        yield
    finally:
        for ns in (NS, PEER):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def prefixes(n: int) -> list[str]:
    # /32s under 10.0.0.0/8: up to 16M distinct prefixes
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i in range(n)]


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_fast(n: int) -> tuple[float, float]:
    pfx = prefixes(n)
    routes = [KernelRoute(p, (GW,)) for p in pfx]
    with RouteTable(NS) as rt:
        res = None

        def add() -> None:
            nonlocal res
            res = rt.apply(routes, ())

        t_add = timed(add)
        assert res is not None and res.added == n and not res.failures
        assert len(rt.list()) == n
        t_del = timed(lambda: rt.apply((), pfx))
        assert not rt.list()
    return n / t_add, n / t_del


def bench_iproute(n: int) -> tuple[float, float]:
    from pyroute2 import IPRoute

    pfx = prefixes(n)
    with IPRoute(netns=NS) as ipr:

        def add() -> None:
            for p in pfx:
                ipr.route("replace", dst=p, gateway=GW, proto=BGP_PROTO, table=254)

        def delete() -> None:
            for p in pfx:
                ipr.route("del", dst=p, proto=BGP_PROTO, table=254)

        t_add = timed(add)
        t_del = timed(delete)
    return n / t_add, n / t_del


def bench_ip_batch(n: int) -> tuple[float, float]:
    pfx = prefixes(n)
    adds = "".join(f"route replace {p} via {GW} proto bgp\n" for p in pfx)
    dels = "".join(f"route del {p} proto bgp\n" for p in pfx)
    batch = ("ip", "-n", NS, "-force", "-batch", "-")
    t_add = timed(lambda: sh(*batch, stdin=adds))
    t_del = timed(lambda: sh(*batch, stdin=dels))
    return n / t_add, n / t_del


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write results to this file")
    ap.add_argument("--runs", type=int, default=3, help="runs per case (median reported)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (creates network namespaces)", file=sys.stderr)
        return 2
    cases: list[tuple[str, int, Callable[[int], tuple[float, float]]]] = [
        ("controller.drivers.kernel (raw netlink)", 10_000, bench_fast),
        ("controller.drivers.kernel (raw netlink)", 100_000, bench_fast),
        ("ip -force -batch", 10_000, bench_ip_batch),
        ("ip -force -batch", 100_000, bench_ip_batch),
        ("pyroute2 IPRoute.route()", 2_000, bench_iproute),
    ]
    results = []
    with namespaces():
        for name, n, fn in cases:
            runs = [fn(n) for _ in range(args.runs)]
            results.append(
                {
                    "method": name,
                    "routes": n,
                    "add_per_s": round(statistics.median(r[0] for r in runs)),
                    "del_per_s": round(statistics.median(r[1] for r in runs)),
                    "runs": args.runs,
                }
            )
    print(f"{'method':<34}{'routes':>9}{'add/s':>11}{'del/s':>11}")
    for r in results:
        print(f"{r['method']:<34}{r['routes']:>9}{r['add_per_s']:>11}{r['del_per_s']:>11}")
    if args.json:
        meta = {"kernel": os.uname().release, "cpus": os.cpu_count(), "ipv4_only": True}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
