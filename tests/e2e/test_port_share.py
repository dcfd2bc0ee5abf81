"""A port's capacity is shared by its links, both ways: two 50 Mbit/s links on one 60 Mbit/s
port (a scenario's `port:`), iperf3 on both at once, each within its own cap and together
within 10% of the port's. A self-hosted link created through the API shares its dedicated
connection's capacity, as the catalog says.

One lab per node runtime; each link to its own VPC, so on-prem -> VPC 1 crosses one and
-> VPC 2 the other.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.control.handle import REGION_PATH, RunningLab
from lab.control.polling import wait_for
from lab.dataplane import shaping
from lab.dataplane.nodes import runtime_for
from lab.testing.plugin import LabFactory

PORT_MBPS, LINK_MBPS = 60, 50
SCENARIO = f"""\
name: shared-port
timers: {{hold_time: 3}}
customer:
  asn: 64512
  lan: {{ipv4: 198.51.100.0/24}}
  announce: [198.51.100.0/24]
vpcs:
  - name: vpc-a
    private_networks: [{{name: pn-a, subnets: [203.0.113.0/24]}}]
  - name: vpc-b
    private_networks: [{{name: pn-b, subnets: [100.64.20.0/24]}}]
routing_policies:
  - {{name: v4, is_ipv6: false, prefix_filter_in: [198.51.100.0/24],
     prefix_filter_out: [203.0.113.0/24, 100.64.20.0/24]}}
links:
  - name: link-a
    vlan: 2451
    bandwidth_mbps: {LINK_MBPS}
    port: {{name: shared, bandwidth_mbps: {PORT_MBPS}}}
    peering: {{ipv4: 169.254.0.16/31}}
    vpc: vpc-a
    routing_policies: [v4]
    enable_route_propagation: true
  - name: link-b
    vlan: 2452
    bandwidth_mbps: {LINK_MBPS}
    port: {{name: shared, bandwidth_mbps: {PORT_MBPS}}}
    peering: {{ipv4: 169.254.0.18/31}}
    vpc: vpc-b
    routing_policies: [v4]
    enable_route_propagation: true
"""
DST = {"link-a": ("vpc-instance-1-1", "203.0.113.10"),
       "link-b": ("vpc-instance-2-1", "100.64.20.10")}
TH2_CONNECTION = "4d2cab29-9245-4282-881c-765d38d6d28e"  # lab-dedicated-th2: 10000 Mbps
TH2 = "95b2e92f-b7ae-4298-a581-b6c14cdae035"


@pytest.fixture(scope="module")
def lab(node_runtime: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    path = Path(tmp_path_factory.mktemp("shr")) / "shared-port.yaml"
    path.write_text(SCENARIO)
    with LabFactory() as make:
        yield make(str(path), name=f"shr{node_runtime[:1]}", runtime_name=node_runtime)


def run(lab: RunningLab, node: str, argv: list[str], timeout: float = 20.0) -> str:
    netns = lab.netns(node)
    p = runtime_for(netns).run_tool(netns, argv, timeout=timeout)
    assert p.returncode == 0, p.stderr or p.stdout
    return str(p.stdout)


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 not installed (make setup)")
@pytest.mark.parametrize("reverse", [False, True], ids=["to-vpc", "to-customer"])
def test_links_share_the_port(lab: RunningLab, reverse: bool) -> None:
    """Both links at once for 2 s (TCP's first 0.5 s left out): each within its 50 Mbit/s,
    together within 10% of the port's 60 (alone, each would take its 50)."""
    for vpc, dst in DST.values():
        run(lab, vpc, ["iperf3", "-s", "-1", "-D", "-B", dst, "--idle-timeout", "15"])
    got: dict[str, float] = {}

    def client(link: str) -> None:
        out = run(lab, "onprem-host", ["iperf3", "-c", DST[link][1], "-t", "2", "-O", "0.5",
                                       "-J", *(["-R"] if reverse else [])])
        got[link] = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6

    threads = [threading.Thread(target=client, args=(link,)) for link in DST]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=25)
    assert set(got) == set(DST), got
    assert all(v <= LINK_MBPS * 1.1 for v in got.values()), got
    assert abs(sum(got.values()) - PORT_MBPS) <= PORT_MBPS * 0.1, got


def test_self_hosted_link_shares_its_connection(lab: RunningLab) -> None:
    """A link on a dedicated connection gets the connection's capacity as its port's, in
    the partner switch; deleting it removes the port."""
    partner = lab.netns("partner")
    before = set(shaping.port_rates(partner))
    link = lab.client.post(f"{REGION_PATH}/links", {
        "name": "shr-dedicated", "pop_id": TH2, "connection_id": TH2_CONNECTION,
        "bandwidth_mbps": 100, "peer_asn": 64999})

    def new_port() -> dict[str, dict[str, float]]:
        return {k: v for k, v in shaping.port_rates(partner).items() if k not in before}

    def shaped() -> dict[str, dict[str, float]] | None:
        got = new_port()
        return got if len(got) == 2 and all(len(c) == 2 for c in got.values()) else None

    ifbs = wait_for(shaped, "the connection's port shaped", timeout=20)
    for classes in ifbs.values():
        assert classes[shaping.PORT_CLASS] == pytest.approx(10000)
        assert sorted(v for k, v in classes.items() if k != shaping.PORT_CLASS) == [
            pytest.approx(100)]
    lab.client.delete(f"{REGION_PATH}/links/{link['id']}")
    wait_for(lambda: not new_port(), "the port gone with its last link", timeout=20)
    assert len(shaping.port_rates(partner)) == len(before)
