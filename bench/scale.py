"""Scale: many InterLinks through Scaleway's own SDK, and bulk customer routes.

- links: N links created, approved by the partner, attached to a VPC and two policies,
  propagation on, as a user's script would; time to all `active`, the lab's RSS (controller,
  speakers, bridges, customer routers), the latency of a light API call made while the links
  are being wired (p50/p99), then `down`.
- routes: one customer router announces P prefixes; time until all are in the VPC's route
  table, and until all are gone after the withdrawal; propagation off/on with them all.

    python -m bench.scale links --links 100 [--json F]
    python -m bench.scale routes --prefixes 100000 [--router frr] [--json F]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.control import lifecycle
from lab.control.client import Client as LabClient
from lab.control.labdir import api_info, lab_dir

PROJECT = "11111111-1111-4111-8111-111111111111"
TH2 = "95b2e92f-b7ae-4298-a581-b6c14cdae035"
FREEPRO = "bc5163ff-cce9-498e-8401-0d8bfe81fd33"


def sdk(lab: str) -> Any:
    from scaleway import Client

    info = api_info(lab)
    return Client(access_key="SCWXXXXXXXXXXXXXXXXX", secret_key=info.token,
                  default_project_id=PROJECT, default_region="fr-par", api_url=info.url)


def lab_rss_mib(lab: str) -> float:
    """Resident memory of every process in the lab's namespaces plus its controller and
    forkserver (MiB)."""
    return _lab_memory_mib(lab, "/proc/{pid}/status", "VmRSS:")


def lab_pss_mib(lab: str) -> float:
    """The same processes' proportional set size (MiB): what they really take, each page
    shared by n of them counted 1/n (the RSS sum counts the interpreter's shared pages of
    ~200 Python processes once per process)."""
    return _lab_memory_mib(lab, "/proc/{pid}/smaps_rollup", "Pss:")


def _lab_memory_mib(lab: str, path: str, field: str) -> float:
    from lab.dataplane.nodes import runtime

    rt = runtime("netns")
    pids: set[int] = set()
    for pids_of in rt.pids(rt.lab_nodes(lab)).values():
        pids.update(pids_of)
    # and the processes of the root namespace it runs: its controller, the speakers' forkserver
    for pid_file in (lab_dir(lab) / "controller.pid", lab_dir(lab) / "speakers" / "forkserver.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(pid_file.read_text()))
    total = 0
    for pid in pids:
        try:
            for line in Path(path.format(pid=pid)).read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def poll(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05,
         describe: Callable[[], str] | None = None) -> float:
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > timeout:
            seen = f": {describe()}" if describe else ""
            raise SystemExit(f"bench: timed out after {timeout}s waiting for {what}{seen}")
        time.sleep(step)
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def mem_available_mib() -> float:
    """The kernel's estimate of memory available for new work (MiB): its drop across a run
    is what the lab took from the machine, shared pages counted once."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_probe(lab: str, path: str) -> subprocess.Popen[str]:
    """bench.api_probe in its own session: a dashboard is its own program."""
    return subprocess.Popen([sys.executable, "-m", "bench.api_probe", "--lab", lab,
                             "--path", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, start_new_session=True,
                            cwd=Path(__file__).resolve().parents[1])


def stop_probe(prober: subprocess.Popen[str] | None) -> tuple[list[float], list[str]]:
    if prober is None:
        return [], []
    try:
        out, _ = prober.communicate(timeout=30)  # closing its stdin ends its loop
    except subprocess.TimeoutExpired:
        prober.kill()
        out, _ = prober.communicate()
    got = json.loads(out or "{}")
    return got.get("latencies", []), got.get("errors", []) or (
        [] if prober.returncode == 0 else [f"the probe exited {prober.returncode}"])


def run_links(n: int, lab: str = "scale", progress: bool = True) -> dict[str, Any]:
    lifecycle.down(lab)
    before = mem_available_mib()
    lifecycle.up("basic", lab=lab)
    try:
        res = provision(n, lab, progress)
        res["host_used_mib"] = before - mem_available_mib()
    finally:
        t1 = time.perf_counter()
        lifecycle.down(lab)
    return {**res, "down_s": time.perf_counter() - t1}


def provision(n: int, lab: str, progress: bool = True, timeout: float = 600) -> dict[str, Any]:
    """N links on a running lab, through the SDK; returns the figures (the lab stays up)."""
    from scaleway.interlink.v1beta1 import InterlinkV1Beta1API
    from scaleway.vpc.v2 import VpcV2API

    client = sdk(lab)
    api, vpcs, labc = InterlinkV1Beta1API(client), VpcV2API(client), LabClient.for_lab(lab)
    vpc = vpcs.create_vpc(enable_routing=True, enable_transitivity=False, name="scale")
    vpcs.create_private_network(vpc_id=vpc.id, name="apps",
                                default_route_propagation_enabled=False)
    p4 = api.create_routing_policy(name="scale-v4", is_ipv6=False,
                                   prefix_filter_in=["100.64.0.0/10"],
                                   prefix_filter_out=["0.0.0.0/0"])
    p6 = api.create_routing_policy(name="scale-v6", is_ipv6=True,
                                   prefix_filter_in=["2001:db8::/32"],
                                   prefix_filter_out=["::/0"])
    ids: list[str] = []
    prober: subprocess.Popen[str] | None = None

    def all_active() -> bool:
        links = {lk.id: lk.status for lk in api.list_links_all()}
        return all(links.get(i) == "active" for i in ids)

    def not_active() -> str:  # which links, their sessions and why, for the failure message
        out = []
        for lk in api.list_links_all():
            if lk.id not in ids or lk.status == "active":
                continue
            stats = labc.get(f"/interlink/v1beta1/regions/fr-par/links/{lk.id}/stats")
            why = {f: stats[f].get("reason", "") for f in ("ipv4", "ipv6")}
            out.append(f"{lk.name} {lk.status} v4={lk.bgp_v4_status} ({why['ipv4']}) "
                       f"v6={lk.bgp_v6_status} ({why['ipv6']})")
        log = lab_dir(lab) / "controller.log"
        tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
        return "; ".join(out) + "\ncontroller log:\n" + "\n".join(tail)

    t0 = time.perf_counter()
    try:
        for i in range(n):
            link = api.create_link(name=f"scale-{i:03d}", pop_id=TH2, bandwidth_mbps=50,
                                   partner_id=FREEPRO)
            ids.append(link.id)
            if prober is None:
                prober = start_probe(lab, f"/interlink/v1beta1/regions/fr-par/links/{link.id}")
            labc.post("/lab/v1/partner/approve", {"pairing_key": link.partner.pairing_key})
            api.attach_vpc(link_id=link.id, vpc_id=vpc.id)
            api.attach_routing_policy(link_id=link.id, routing_policy_id=p4.id)
            api.attach_routing_policy(link_id=link.id, routing_policy_id=p6.id)
            api.enable_route_propagation(link_id=link.id)
            if progress:
                print(f"  link {i + 1}/{n} configured at {time.perf_counter() - t0:.1f}s",
                      file=sys.stderr)
        api_s = time.perf_counter() - t0
        poll(all_active, timeout, f"{n} links active", step=0.2, describe=not_active)
        active_s = time.perf_counter() - t0
    finally:  # the prober never outlives the measure (nor calls a lab being torn down)
        latencies, errors = stop_probe(prober)
    rss, pss = lab_rss_mib(lab), lab_pss_mib(lab)
    return {"links": n, "api_calls_s": api_s, "all_active_s": active_s, "rss_mib": rss,
            "pss_mib": pss,
            "api_p50_ms": 1000 * pct(latencies, 0.5), "api_p99_ms": 1000 * pct(latencies, 0.99),
            "api_max_ms": 1000 * max(latencies, default=0.0), "api_samples": len(latencies),
            "api_errors": errors}


def ipv4_prefixes(netns: str) -> int:
    """The prefixes in a namespace's IPv4 main table, from the kernel's own count
    (fib_triestat): a poll that costs ~0.1 ms, not a 100k-route dump that competes for
    the CPU with what it measures."""
    from controller.drivers.nsenter import run_in_netns

    def read() -> int:
        with open("/proc/thread-self/net/fib_triestat") as f:
            main = f.read().split("Main:", 1)[1]
        return int(main.split("Prefixes:", 1)[1].split()[0])

    return run_in_netns(netns, read)


def run_routes(count: int, router: str = "exabgp", lab: str = "scaleroutes",
               chunk: int = 20_000) -> dict[str, Any]:
    """`count` /30s of 100.64.0.0/10 from the customer router to the VPC table and back."""
    import ipaddress

    from controller.drivers.kernel import RouteTable
    from lab.scenario.addressing import build_topology
    from lab.scenario.parse import load_scenario

    lifecycle.down(lab)
    lifecycle.up("basic", lab=lab, router=router)
    try:
        client = LabClient.for_lab(lab)
        p = "/interlink/v1beta1/regions/fr-par"
        pol = next(x for x in client.get(f"{p}/routing-policies")["routing_policies"]
                   if not x["is_ipv6"])
        client.patch(f"{p}/routing-policies/{pol['id']}",
                     {"prefix_filter_in": [*pol["prefix_filter_in"], "100.64.0.0/10"]})
        link = client.get(f"{p}/links")["links"][0]
        nets = ipaddress.ip_network("100.64.0.0/10").subnets(new_prefix=30)
        prefixes = [str(next(nets)) for _ in range(count)]
        vpc = build_topology(load_scenario("basic"), lab).netns("vpc-router")
        base = ipv4_prefixes(vpc)
        with RouteTable(vpc) as table:  # the scenario's own customer routes, propagated too
            ours = sum(1 for prefix in table.list() if ":" not in prefix)
        rss0 = lab_rss_mib(lab)
        t0 = time.perf_counter()
        for i in range(0, count, chunk):
            client.post("/lab/v1/customer/announce", {"prefixes": prefixes[i:i + chunk]})
        api_s = time.perf_counter() - t0
        poll(lambda: ipv4_prefixes(vpc) >= base + count, 300,
             f"{count} routes in the VPC table", step=0.005)
        in_s = time.perf_counter() - t0
        rss1 = lab_rss_mib(lab)
        t0 = time.perf_counter()
        client.post(f"{p}/links/{link['id']}/disable-route-propagation", {})
        poll(lambda: ipv4_prefixes(vpc) <= base - ours, 60, "the VPC table emptied",
             step=0.002)
        off_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        client.post(f"{p}/links/{link['id']}/enable-route-propagation", {})
        poll(lambda: ipv4_prefixes(vpc) >= base + count, 60, "the VPC table refilled",
             step=0.002)
        on_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(0, count, chunk):
            client.post("/lab/v1/customer/withdraw", {"prefixes": prefixes[i:i + chunk]})
        poll(lambda: ipv4_prefixes(vpc) <= base, 300, f"{count} routes withdrawn", step=0.005)
        out_s = time.perf_counter() - t0
    finally:
        lifecycle.down(lab)
    return {"prefixes": count, "router": router, "announce_api_s": api_s,
            "announce_to_vpc_s": in_s, "announce_rate_per_s": count / in_s,
            "withdraw_to_vpc_s": out_s, "withdraw_rate_per_s": count / out_s,
            "propagation_off_s": off_s, "propagation_on_s": on_s,
            "rss_before_mib": rss0, "rss_with_routes_mib": rss1}


def cli_startup(runs: int = 5) -> list[float]:
    """Wall time of `interlink-lab --help` (a fresh interpreter each time)."""
    import subprocess

    exe = str(Path(sys.executable).with_name("interlink-lab"))
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([exe, "--help"], capture_output=True, check=True)
        out.append(time.perf_counter() - t0)
    return out


def run_all(links: int, prefixes: int, routers: tuple[str, ...] = ("bird", "exabgp"),
            log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> dict[str, Any]:
    out: dict[str, Any] = {"cli_startup_s": cli_startup()}
    for router in routers:
        log(f"scale: {prefixes} prefixes from a {router} customer...")
        out[f"routes_{router}"] = run_routes(prefixes, router)
    log(f"scale: {links} links through the SDK...")
    out["links"] = run_links(links)
    return out


def rows(res: dict[str, Any]) -> list[tuple[str, float, str, str]]:
    """The issue's table: (measure, value, target, notes)."""
    import statistics

    if not res:
        return []
    out: list[tuple[str, float, str, str]] = []
    for key, r in res.items():
        if not key.startswith("routes_"):
            continue
        n, router = r["prefixes"], r["router"]
        out += [
            (f"{n} prefixes ({router} customer) -> all in VPC table", r["announce_to_vpc_s"],
             "<= 10 s", f"{r['announce_rate_per_s']:.0f}/s"),
            (f"{n} prefixes ({router}) withdrawn -> gone", r["withdraw_to_vpc_s"], "<= 10 s",
             f"{r['withdraw_rate_per_s']:.0f}/s"),
            (f"propagation off with {n} routes ({router})", r["propagation_off_s"], "<= 0.3 s",
             ""),
            (f"propagation on with {n} routes ({router})", r["propagation_on_s"], "<= 0.3 s",
             f"RSS {r['rss_before_mib']:.0f} -> {r['rss_with_routes_mib']:.0f} MiB"),
        ]
    lk = res.get("links")
    if lk:
        out += [
            (f"{lk['links']} links created ... propagation on -> all active", lk["all_active_s"],
             "<= 60 s", f"API calls {lk['api_calls_s']:.1f} s, RSS {lk['rss_mib']:.0f} MiB "
             f"(<= 4096), PSS {lk.get('pss_mib', 0):.0f} MiB, taken from the host "
             f"{lk.get('host_used_mib', 0):.0f} MiB"),
            ("API call while links are wired, p99", lk["api_p99_ms"] / 1000, "<= 0.05 s",
             f"p50 {lk['api_p50_ms']:.0f} ms, max {lk['api_max_ms']:.0f} ms, "
             f"{lk['api_samples']} calls"),
            (f"down with {lk['links']} links", lk["down_s"], "<= 3 s", ""),
        ]
    if res.get("cli_startup_s"):
        t = res["cli_startup_s"]
        out.append(("CLI start-up (interlink-lab --help), median", statistics.median(t),
                    "<= 0.15 s", f"max {max(t):.3f}"))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench.scale")
    sub = ap.add_subparsers(dest="what", required=True)
    lk = sub.add_parser("links")
    lk.add_argument("--links", type=int, default=100)
    lk.add_argument("--lab", default="scale")
    lk.add_argument("--json")
    rt = sub.add_parser("routes")
    rt.add_argument("--prefixes", type=int, default=100_000)
    rt.add_argument("--router", default="exabgp")
    rt.add_argument("--lab", default="scaleroutes")
    rt.add_argument("--json")
    args = ap.parse_args(argv)
    if args.what == "links":
        res = run_links(args.links, args.lab)
    else:
        res = run_routes(args.prefixes, args.router, args.lab)
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
