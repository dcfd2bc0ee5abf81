"""Scale, the short form (the long one is `make bench` / `python -m bench.scale`): 10 links
created through Scaleway's SDK as a user's script would, all active; 20,000 customer
prefixes all in the VPC table; an API call stays quick while links are wired; `down` leaves
nothing. A functional check, not a timed test: its bounds are generous deadlines."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.scale import lab_rss_mib, provision
from controller.drivers.exabgp_config import (
    FAST_SPEAKERS,
    SCW_REACTOR_SPEED_AT_SCALE,
    SPEAKER_NICE,
)
from controller.drivers.kernel import RouteTable
from controller.drivers.procs import process_alive
from lab.control import lifecycle
from lab.control.client import Client
from lab.control.labdir import lab_dir
from lab.control.polling import wait_for
from lab.dataplane.nodes import runtime
from lab.scenario.model import DEFAULT_CUSTOMER as CUSTOMER
from lab.testing.plugin import LabFactory

pytest.importorskip("scaleway")
P = "/interlink/v1beta1/regions/fr-par"
LINKS = int(os.environ.get("ILAB_SCALE_LINKS", "10"))
PREFIXES = int(os.environ.get("ILAB_SCALE_PREFIXES", "20000"))


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    with LabFactory() as make:
        # BIRD sends bulk routes ~4x faster than an ExaBGP customer (whose API deep-copies
        # each route): `python -m bench.scale routes --router exabgp` measures that one
        yield make("basic", router="bird").name


def test_many_links_through_the_sdk_all_active(lab: str) -> None:
    res = provision(LINKS, lab, progress=False, timeout=180)
    links = Client.for_lab(lab).get(f"{P}/links")["links"]
    assert len(links) == LINKS + 1
    assert {lk["status"] for lk in links} == {"active"}
    # light reads answered while links were wired (a deadline, not a benchmark)
    assert res["api_samples"] > 0 and res["api_max_ms"] < 2000 and not res["api_errors"], res
    assert lab_rss_mib(lab) > 0
    # the speakers started beyond the first links run ExaBGP's cheap idle loop
    # and yield the CPU
    speeds, nices = [], []
    for pid_file in sorted((lab_dir(lab) / "speakers").glob("scw-*.pid")):
        pid = int(pid_file.read_text())
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        speeds += [v.split(b"=", 1)[1].decode() for v in environ.split(b"\0")
                   if v.startswith(b"exabgp_reactor_speed=")]
        nices.append(os.getpriority(os.PRIO_PROCESS, pid))
    assert len(speeds) == LINKS + 1
    assert speeds.count(SCW_REACTOR_SPEED_AT_SCALE) == LINKS + 1 - FAST_SPEAKERS, speeds
    assert nices.count(SPEAKER_NICE) == LINKS + 1 - FAST_SPEAKERS, nices


def test_bulk_prefixes_reach_the_vpc_table(lab: str) -> None:
    client = Client.for_lab(lab)
    pol = next(p for p in client.get(f"{P}/routing-policies")["routing_policies"]
               if p["name"] == "allow-onprem-v4")
    client.patch(f"{P}/routing-policies/{pol['id']}",
                 {"prefix_filter_in": [*pol["prefix_filter_in"], "100.64.0.0/10"]})
    nets = ipaddress.ip_network("100.64.0.0/10").subnets(new_prefix=30)
    prefixes = [str(next(nets)) for _ in range(PREFIXES)]
    vpc_netns = next(n["netns"] for n in client.get("/lab/v1/nodes")["nodes"]
                     if n["role"] == "vpc-router" and n["name"] == "vpc-router")
    with RouteTable(vpc_netns) as table:
        base = table.count()
        for i in range(0, PREFIXES, 5000):
            client.post("/lab/v1/customer/announce", {"prefixes": prefixes[i:i + 5000],
                                                      "customer": CUSTOMER})
        wait_for(lambda: table.count() >= base + PREFIXES, timeout=120,
                 what=f"{PREFIXES} prefixes in the VPC table")
        for i in range(0, PREFIXES, 5000):
            client.post("/lab/v1/customer/withdraw", {"prefixes": prefixes[i:i + 5000],
                                                      "customer": CUSTOMER})
        wait_for(lambda: table.count() <= base, timeout=120,
                 what=f"{PREFIXES} prefixes withdrawn from the VPC table")


def test_down_leaves_nothing(lab: str) -> None:
    pids = [int(p.read_text()) for p in (lab_dir(lab) / "speakers").glob("*.pid")]
    assert len(pids) >= LINKS
    lifecycle.down(lab)
    assert runtime("netns").lab_nodes(lab) == []
    assert not [p for p in pids if process_alive(p)]  # a zombie is gone too
