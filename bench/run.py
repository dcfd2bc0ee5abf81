"""`make bench`: what the issues ask to measure, as a table and JSON (`--scale`: bench/scale.py).

- up: `interlink-lab up` start -> links active and v4+v6 pings answered (target median <= 2 s)
- down: full teardown (target <= 1 s)
- propagation toggle: API call -> VPC route table changed (target <= 100 ms)
- 10k prefixes: customer announces 10,000 prefixes -> all in the VPC route table (<= 5 s)
- failover between two links (bench/failover.py): session reset and silent blackhole
- a killed Scaleway speaker or a respawned bridge (bench/heal.py): detection, flush, active again
- the docker runtime (bench/docker.py): up to active + traffic, down, the one-time image build
- bandwidth (bench/bandwidth.py): iperf3 both ways on a link of every bandwidth the default PoP
  offers, up to what the machine pushes
- chaos (bench/chaos.py): random process kills under load, per customer router kind; the lab's
  word against the wire after each round (rounds, faults per kind, worst time to truth)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import bandwidth, chaos, docker, failover, heal, scale
from controller.drivers.kernel import RouteTable
from lab.control import lifecycle
from lab.control.client import Client
from lab.routers import registry
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario

P = "/interlink/v1beta1/regions/fr-par"
BENCH_RANGE = "198.19.0.0/16"


def poll(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check`` holds (tight loop: we are measuring)."""
    return scale.poll(check, timeout, what, step=0.001)


def bench_up_down(runs: int, lab: str) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for i in range(runs):
        t0 = time.perf_counter()
        lifecycle.up("basic", lab=lab)
        ups.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        lifecycle.down(lab)
        downs.append(time.perf_counter() - t0)
        print(f"  up/down run {i + 1}/{runs}: up {ups[-1]:.3f}s down {downs[-1]:.3f}s",
              file=sys.stderr)
    return ups, downs


def bench_toggle(client: Client, vpc_table: RouteTable, runs: int) -> dict[str, list[float]]:
    link = client.get(f"{P}/links")["links"][0]
    off, on = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.post(f"{P}/links/{link['id']}/disable-route-propagation", {})
        poll(lambda: not vpc_table.list(), 5, "VPC table emptied")
        off.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        client.post(f"{P}/links/{link['id']}/enable-route-propagation", {})
        poll(lambda: vpc_table.count() == 2, 5, "VPC table refilled")
        on.append(time.perf_counter() - t0)
    return {"disable": off, "enable": on}


def bench_prefixes(client: Client, vpc_table: RouteTable, count: int) -> dict[str, float]:
    pol = next(p for p in client.get(f"{P}/routing-policies")["routing_policies"]
               if not p["is_ipv6"])
    client.patch(f"{P}/routing-policies/{pol['id']}",
                 {"prefix_filter_in": [*pol["prefix_filter_in"], BENCH_RANGE]})
    nets = list(ipaddress.ip_network(BENCH_RANGE).subnets(new_prefix=30))[:count]
    prefixes = [str(n) for n in nets]
    base = vpc_table.count()
    t0 = time.perf_counter()
    client.post("/lab/v1/customer/announce", {"prefixes": prefixes})
    t_api = time.perf_counter() - t0
    poll(lambda: vpc_table.count() >= base + count, 60, f"{count} prefixes in the VPC table")
    t_in = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.post("/lab/v1/customer/withdraw", {"prefixes": prefixes})
    poll(lambda: vpc_table.count() <= base, 60, f"{count} prefixes withdrawn")
    t_out = time.perf_counter() - t0
    return {"announce_api_s": t_api, "announce_to_vpc_table_s": t_in,
            "withdraw_to_vpc_table_s": t_out, "count": count}


def _print_rows(rows: list[tuple[str, float, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'seconds':>8}  {'target':<9} notes")
    for name, value, target, notes in rows:
        print(f"{name:<{width}}  {value:8.3f}  {target:<9} {notes}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--json", default="bench/results.json")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prefixes", type=int, default=10_000)
    ap.add_argument("--lab", default="bench")
    ap.add_argument("--no-failover", action="store_true", help="skip the failover runs")
    ap.add_argument("--no-docker", action="store_true", help="skip the docker runtime runs")
    ap.add_argument("--chaos-rounds", type=int, default=100,
                    help="chaos rounds per customer router kind (0: skip)")
    ap.add_argument("--no-bandwidth", action="store_true", help="skip the iperf3 sweep")
    ap.add_argument("--scale", action="store_true",
                    help="also the scale runs (bench/scale.py): 100k prefixes, many links")
    ap.add_argument("--scale-only", action="store_true", help="only the scale runs")
    ap.add_argument("--scale-links", type=int, default=100)
    ap.add_argument("--scale-prefixes", type=int, default=100_000)
    args = ap.parse_args(argv)
    sc: dict[str, Any] = {}
    if args.scale_only:
        sc = scale.run_all(args.scale_links, args.scale_prefixes)
        _print_rows(scale.rows(sc))
        with open(args.json, "w") as fh:
            json.dump({"scale": sc, "summary": {r[0]: r[1] for r in scale.rows(sc)}}, fh,
                      indent=2, sort_keys=True)
        print(f"\nwritten {args.json}")
        return
    if lifecycle.is_up(args.lab):
        raise SystemExit(f"bench: lab {args.lab!r} is already up")

    print("benchmarking up/down...", file=sys.stderr)
    ups, downs = bench_up_down(args.runs, args.lab)
    lifecycle.up("basic", lab=args.lab)
    try:
        client = Client.for_lab(args.lab)
        topo = build_topology(load_scenario("basic"), args.lab)
        vpc_table = RouteTable(topo.netns("vpc-router"))
        print("benchmarking propagation toggle...", file=sys.stderr)
        toggle = bench_toggle(client, vpc_table, runs=10)
        print(f"benchmarking {args.prefixes} prefixes...", file=sys.stderr)
        pfx = bench_prefixes(client, vpc_table, args.prefixes)
        vpc_table.close()
    finally:
        lifecycle.down(args.lab)

    fo: dict[str, Any] = {}
    if not args.no_failover:
        print("benchmarking failover between two links...", file=sys.stderr)
        fo = failover.run()
    print("benchmarking a killed Scaleway speaker / a respawned bridge...", file=sys.stderr)
    healed = heal.run(args.runs)
    dk: dict[str, Any] = {}
    if not args.no_docker:
        print("benchmarking the docker runtime (image build, up, down)...", file=sys.stderr)
        dk = docker.run(args.runs, args.lab)
    bw: list[dict[str, Any]] = []
    if not args.no_bandwidth:
        print("benchmarking bandwidth (iperf3, every bandwidth of the default PoP)...",
              file=sys.stderr)
        bw = bandwidth.run()
    if args.scale:
        sc = scale.run_all(args.scale_links, args.scale_prefixes)
    chaos_reports = []
    if args.chaos_rounds:
        print(f"chaos: {args.chaos_rounds} rounds per router kind...", file=sys.stderr)
        chaos_reports = [chaos.run(args.chaos_rounds, router=k.name).summary()
                         for k in registry.kinds() if k.available()]
    rows: list[tuple[str, float, str, str]] = [
        ("up -> active + traffic (median)", statistics.median(ups), "<= 2 s",
         f"{args.runs} runs, min {min(ups):.3f} max {max(ups):.3f}"),
        ("down (median)", statistics.median(downs), "<= 1 s",
         f"max {max(downs):.3f}"),
        ("propagation disable -> VPC table empty (median)", statistics.median(toggle["disable"]),
         "<= 0.1 s", f"max {max(toggle['disable']):.3f}"),
        ("propagation enable -> VPC table filled (median)", statistics.median(toggle["enable"]),
         "<= 0.1 s", f"max {max(toggle['enable']):.3f}"),
        (f"{args.prefixes} prefixes announced -> all in VPC table",
         pfx["announce_to_vpc_table_s"], "<= 5 s", ""),
        (f"{args.prefixes} prefixes withdrawn -> gone from VPC table",
         pfx["withdraw_to_vpc_table_s"], "", ""),
        *failover.rows(fo),
        *heal.rows(healed),
        *docker.rows(dk),
        *scale.rows(sc),
    ]
    bw_rows = bandwidth.rows(bw)
    _print_rows(rows)
    if bw_rows:
        print()
        for name, value, target, notes in bw_rows:
            print(f"{name:<45} {value:9.1f}  {target:<12} {notes}")
    if chaos_reports:
        print()
        chaos.print_table(chaos_reports)
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "kernel": platform.release()},
        "up_s": ups, "down_s": downs, "toggle_s": toggle, "prefixes": pfx, "failover_s": fo,
        "chaos": chaos_reports, "heal_s": healed, "docker": dk, "scale": sc, "bandwidth": bw,
        "summary": {r[0]: r[1] for r in rows},
    }
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
