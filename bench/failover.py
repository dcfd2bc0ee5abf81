"""Failover between two InterLinks: how long traffic stops when the preferred link dies.

The `redundant` scenario: one customer, link-a (community 12876:42200) and link-b
(12876:42050) to one VPC. The VPC instance pings the on-prem host every 10 ms; the outage is
the largest gap between replies around the fault. Two kinds of failure on link-a:
- reset: the session is closed with a NOTIFICATION and kept down (fault reset);
- blackhole: every packet on the link silently dropped (fault cut --mode link): detected only
  when the hold timer expires.
"""

from __future__ import annotations

import functools
import itertools
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from lab.control import lifecycle
from lab.control.client import Client
from lab.control.polling import wait_for
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario

P = "/interlink/v1beta1/regions/fr-par"
REPLY = re.compile(r"^\[(\d+\.\d+)\].*icmp_seq=(\d+)")


def _via_link_a(vpc_netns: str, prefix: str, gateway: str) -> bool:
    out = subprocess.run(["ip", "-n", vpc_netns, "route", "show", prefix],
                         capture_output=True, text=True).stdout
    return f"via {gateway} " in out


def outage(replies: list[float], t_fault: float) -> float:
    """Largest gap between consecutive replies that covers or follows the fault."""
    gaps = [b - a for a, b in itertools.pairwise(replies) if b > t_fault]
    return max(gaps, default=float("nan"))


def measure(client: Client, kind: str, link_id: str, src_netns: str, dst: str,
            window: float) -> float:
    ping = subprocess.Popen(
        ["ip", "netns", "exec", src_netns, "ping", "-D", "-n", "-i", "0.01", "-W", "0.2",
         "-w", f"{window:.0f}", dst], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    time.sleep(1.0)  # a baseline of replies before the fault
    t_fault = time.time()
    if kind == "reset":
        client.post("/lab/v1/faults/reset", {"link_id": link_id, "family": "both"})
    else:  # the whole circuit goes silent: only the hold timer can tell
        client.post("/lab/v1/faults/cut", {"link_id": link_id, "family": "both", "mode": "link"})
    stdout, _ = ping.communicate(timeout=window + 10)
    replies = [float(m.group(1)) for line in stdout.splitlines() if (m := REPLY.match(line))]
    client.post("/lab/v1/faults/restore", {"link_id": link_id, "family": "both"})
    return outage(replies, t_fault)


def run(hold_times: tuple[int, ...] = (3, 9), runs: int = 3, lab: str = "benchfo") -> dict[
        str, Any]:
    scenario = load_scenario("redundant")
    results: dict[str, Any] = {}
    for hold in hold_times:
        lifecycle.up("redundant", lab=lab, hold_time=hold)
        try:
            topo = build_topology(scenario, lab)
            client = Client.for_lab(lab)
            links = {lk["name"]: lk for lk in client.get(f"{P}/links")["links"]}
            link_a = links["link-a"]["id"]
            gw_a = topo.link("link-a").scw_transit_v4 or ""
            lan = topo.customer(scenario.links[0].customer)
            src = topo.vpc(scenario.links[0].vpc or "").instances[0].netns
            dst = topo.address(lan.lan_host, 4)
            vpc_ns = topo.vpc(scenario.links[0].vpc or "").router_netns
            prefix = lan.lan_v4 or ""
            for kind in ("reset", "blackhole"):
                if kind == "reset" and hold != hold_times[0]:
                    continue  # a reset does not depend on the hold time
                values = []
                for i in range(runs):
                    wait_for(functools.partial(_via_link_a, vpc_ns, prefix, gw_a),
                             "the VPC route back on link-a", timeout=60)
                    window = (hold + 4) if kind == "blackhole" else 4
                    values.append(measure(client, kind, link_a, src, dst, window))
                    print(f"  failover {kind} hold {hold}s run {i + 1}/{runs}: "
                          f"{values[-1]:.3f}s", file=sys.stderr)
                key = "reset" if kind == "reset" else f"blackhole_hold_{hold}s"
                results[key] = values
        finally:
            lifecycle.down(lab)
    return results


def rows(results: dict[str, Any]) -> list[tuple[str, float, str, str]]:
    out = []
    for key, values in results.items():
        what = ("failover, session reset (NOTIFICATION)" if key == "reset"
                else f"failover, silent blackhole, hold {key.split('_')[-1]}")
        out.append((f"{what} (median)", statistics.median(values), "",
                    f"runs {', '.join(f'{v:.3f}' for v in values)}"))
    return out


if __name__ == "__main__":
    res = run()
    for name, value, _target, notes in rows(res):
        print(f"{name:<50} {value:8.3f}  {notes}")
