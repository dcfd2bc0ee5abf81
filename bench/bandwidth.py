"""Bandwidth that holds: iperf3 between on-prem and the VPC for every bandwidth the default
PoP offers, each way, up to what this machine can push through a lab link.

    python -m bench.bandwidth [--json F]

One lab per bandwidth (a link's bandwidth is fixed at creation, as in Scaleway's API). A
bandwidth the machine cannot reach is reported as such and ends the sweep.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from controller.core import catalog
from lab.control.handle import RunningLab
from lab.dataplane.nodes import runtime_for
from lab.testing.plugin import LabFactory

TH2 = "95b2e92f-b7ae-4298-a581-b6c14cdae035"  # the default PoP of the shipped scenarios
SCENARIO = """\
name: bw
customer:
  asn: 64512
  lan: {{ipv4: 198.51.100.0/24}}
  announce: [198.51.100.0/24]
vpcs:
  - name: vpc-a
    private_networks: [{{name: pn-a, subnets: [203.0.113.0/24]}}]
routing_policies:
  - {{name: v4, is_ipv6: false, prefix_filter_in: [198.51.100.0/24],
     prefix_filter_out: [203.0.113.0/24]}}
links:
  - name: link-bw
    vlan: 2451
    bandwidth_mbps: {mbps}
    peering: {{ipv4: 169.254.0.16/31}}
    vpc: vpc-a
    routing_policies: [v4]
    enable_route_propagation: true
"""
SERVER = "203.0.113.10"
TOLERANCE = 0.10


def offered() -> list[int]:
    return sorted(catalog.load().pop(TH2).available_link_bandwidths_mbps)


def _iperf(lab: RunningLab, reverse: bool, seconds: float = 3.0) -> float:
    srv, cli = lab.netns("vpc-instance"), lab.netns("onprem-host")
    runtime_for(srv).run_tool(srv, ["iperf3", "-s", "-1", "-D", "-B", SERVER,
                                    "--idle-timeout", "20"], timeout=10)
    p = runtime_for(cli).run_tool(cli, ["iperf3", "-c", SERVER, "-t", str(seconds), "-O",
                                        "0.5", "-J", *(["-R"] if reverse else [])],
                                  timeout=seconds + 20)
    if p.returncode:
        raise SystemExit(f"bench: iperf3 failed: {p.stderr or p.stdout}")
    return float(json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6


def run(log: Any = lambda m: print(m, file=sys.stderr)) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mbps in offered():
            path = Path(tmp) / f"bw{mbps}.yaml"
            path.write_text(SCENARIO.format(mbps=mbps))
            with LabFactory() as make:
                lab = make(str(path), name="benchbw")
                got = {d: _iperf(lab, d == "to-customer") for d in ("to-vpc", "to-customer")}
            worst = min(got.values())
            held = all(abs(v - mbps) <= TOLERANCE * mbps for v in got.values())
            out.append({"mbps": mbps, **got, "held": held})
            log(f"  {mbps} Mbit/s: to-vpc {got['to-vpc']:.1f}, to-customer "
                f"{got['to-customer']:.1f}{'' if held else '  (not held)'}")
            if not held and worst < (1 - TOLERANCE) * mbps:
                # the machine's limit: the next, bigger bandwidths cannot be reached either
                out[-1]["machine_limit"] = True
                break
    return out


def rows(res: list[dict[str, Any]]) -> list[tuple[str, float, str, str]]:
    out = []
    for r in res:
        note = "machine limit: what one lab link pushes here" if r.get("machine_limit") else (
            "held" if r["held"] else "NOT held")
        out.append((f"iperf3 on a {r['mbps']} Mbit/s link, worse direction",
                    min(r["to-vpc"], r["to-customer"]), f"{r['mbps']}±10%",
                    f"Mbit/s; to-vpc {r['to-vpc']:.1f}, to-customer {r['to-customer']:.1f}; "
                    f"{note}"))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench.bandwidth")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    res = run()
    for name, value, target, notes in rows(res):
        print(f"{name:<45} {value:9.1f}  {target:<12} {notes}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
