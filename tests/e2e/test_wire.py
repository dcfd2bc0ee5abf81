"""The wire end to end: each link's bandwidth holds both ways (iperf3), impairments have their
measured effect (RTT grows by the delay, loss within a tolerance) and `fault restore` undoes
them; a link's `impairments:` are in force from `up` on.

One lab per node runtime: two links of the default PoP's smallest bandwidths (50 and
100 Mbit/s), each to its own VPC, so on-prem -> VPC 1 crosses one and -> VPC 2 the other.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lab.cli.main import cli
from lab.control.handle import RunningLab
from lab.dataplane.nodes import runtime_for
from lab.testing.plugin import LabFactory

SCENARIO = """\
name: wire
timers: {hold_time: 3}
customer:
  asn: 64512
  lan: {ipv4: 198.51.100.0/24}
  announce: [198.51.100.0/24]
vpcs:
  - name: vpc-a
    private_networks: [{name: pn-a, subnets: [203.0.113.0/24]}]
  - name: vpc-b
    private_networks: [{name: pn-b, subnets: [100.64.20.0/24]}]
routing_policies:
  - {name: v4, is_ipv6: false, prefix_filter_in: [198.51.100.0/24],
     prefix_filter_out: [203.0.113.0/24, 100.64.20.0/24]}
links:
  - name: link-50
    vlan: 2451
    bandwidth_mbps: 50
    peering: {ipv4: 169.254.0.16/31}
    vpc: vpc-a
    routing_policies: [v4]
    enable_route_propagation: true
    impairments: {delay: 15ms, direction: to-vpc}
  - name: link-100
    vlan: 2452
    bandwidth_mbps: 100
    peering: {ipv4: 169.254.0.18/31}
    vpc: vpc-b
    routing_policies: [v4]
    enable_route_propagation: true
"""
DST = {"link-50": "203.0.113.10", "link-100": "100.64.20.10"}


@pytest.fixture(scope="module")
def lab(node_runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    path = Path(tmp_path_factory.mktemp("wire")) / "wire.yaml"
    path.write_text(SCENARIO)
    with LabFactory() as make:
        yield make(str(path), name=f"wire{node_runtime[:1]}", runtime_name=node_runtime)


def run(lab: RunningLab, node: str, argv: list[str], timeout: float = 20.0) -> str:
    netns = lab.netns(node)
    p = runtime_for(netns).run_tool(netns, argv, timeout=timeout)
    assert p.returncode == 0 or argv[0] == "ping", p.stderr or p.stdout
    return str(p.stdout)


def rtts(lab: RunningLab, dst: str, count: int = 20) -> tuple[list[float], int]:
    """(RTTs in ms, replies) of `count` fast pings on-prem -> dst."""
    out = run(lab, "onprem-host", ["ping", "-n", "-c", str(count), "-i", "0.005", "-W", "1",
                                   dst])
    times = [float(t) for t in re.findall(r"time=([0-9.]+) ms", out)]
    return times, len(times)


def cli_json(lab: RunningLab, *args: str) -> object:
    got = CliRunner().invoke(cli, ["--lab", lab.name, *args, "--json"])
    assert got.exit_code == 0, got.output
    return json.loads(got.output)


def restore(lab: RunningLab) -> None:
    lab.fault("restore", "both")


def test_scenario_impairment_from_up_then_restore(lab: RunningLab) -> None:
    faults = cli_json(lab, "fault", "list")
    assert isinstance(faults, dict)
    assert [(f["link_name"], f["direction"], f["impairment"]) for f in faults["faults"]
            if f["kind"] == "impair"] == [("link-50", "to-vpc", {"delay": "15ms"})]
    before, _ = rtts(lab, DST["link-50"])
    assert statistics.median(before) >= 15.0
    restore(lab)
    after, _ = rtts(lab, DST["link-50"])
    assert statistics.median(after) < 5.0
    assert cli_json(lab, "fault", "list") == {"faults": []}


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 not installed (make setup)")
@pytest.mark.parametrize("link", ["link-50", "link-100"])
@pytest.mark.parametrize("reverse", [False, True], ids=["to-vpc", "to-customer"])
def test_bandwidth_holds(lab: RunningLab, link: str, reverse: bool) -> None:
    """iperf3 TCP for 2 s (the first 0.5 s, TCP's ramp, left out) within 10% of the link's
    bandwidth, each way."""
    restore(lab)
    mbps = int(link.split("-")[1])
    vpc = "vpc-instance-1-1" if link == "link-50" else "vpc-instance-2-1"
    # One-off server (-1): it exits after this test's client, whatever happens to it.
    run(lab, vpc, ["iperf3", "-s", "-1", "-D", "-B", DST[link], "--idle-timeout", "15"])
    out = run(lab, "onprem-host", ["iperf3", "-c", DST[link], "-t", "2", "-O", "0.5", "-J",
                                   *(["-R"] if reverse else [])], timeout=30)
    got = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
    assert abs(got - mbps) <= 0.1 * mbps, f"{link}: {got:.1f} Mbit/s for {mbps}"


def test_delay_grows_rtt_and_restore(lab: RunningLab) -> None:
    restore(lab)
    base, _ = rtts(lab, DST["link-100"])
    lab.impair("link-100", "both", delay="20ms", jitter="2ms")
    slow, _ = rtts(lab, DST["link-100"])
    # Both ways: +40 ms on the round trip, jitter +-2 ms each way.
    assert 40 - 4 <= statistics.median(slow) - statistics.median(base) <= 40 + 10
    lab.impair("link-100", "to-customer", delay="10ms")  # one way replaced, the other kept
    mixed, _ = rtts(lab, DST["link-100"])
    assert 30 - 4 <= statistics.median(mixed) - statistics.median(base) <= 30 + 10
    restore(lab)
    back, _ = rtts(lab, DST["link-100"])
    assert statistics.median(back) < statistics.median(base) + 5


def test_loss_within_tolerance(lab: RunningLab) -> None:
    restore(lab)
    lab.impair("link-100", "to-vpc", loss="20%")
    _, replies = rtts(lab, DST["link-100"], count=300)
    assert 0.10 <= 1 - replies / 300 <= 0.30, f"{300 - replies} of 300 lost"
    restore(lab)
    _, replies = rtts(lab, DST["link-100"], count=50)
    assert replies == 50


def test_out_of_range_is_one_line_and_changes_nothing(lab: RunningLab) -> None:
    restore(lab)
    got = CliRunner().invoke(cli, ["--lab", lab.name, "fault", "impair", "link-100",
                                   "--loss", "150%"])
    assert got.exit_code == 1
    assert got.output.strip() == "interlink-lab: error: loss: 150% is out of range (0..100)"
    assert cli_json(lab, "fault", "list") == {"faults": []}
