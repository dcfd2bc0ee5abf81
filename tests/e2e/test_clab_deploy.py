"""A containerlab file deployed by lab.dataplane.clab_deploy with the netns runtime: the
exported file of the default scenario gives the topology's veths, addresses and routes in
the nodes' namespaces, nothing in the root one; failing `exec` commands are reported."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.control.polling import wait_for
from lab.dataplane.clab_deploy import ClabDeployError, deploy, destroy
from lab.dataplane.iproute import ip_json, norm_cidr
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.base import NodeRuntime
from lab.scenario import containerlab
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario

# Not "clab...": that prefix is the docker runtime's handles.
LAB = f"cx{os.getpid() % 10**6}"


@pytest.fixture
def nodes() -> Iterator[NodeRuntime]:
    rt = runtime("netns")
    destroy(LAB, rt)  # leftovers of an interrupted run
    try:
        yield rt
    finally:
        destroy(LAB, rt)
        assert rt.lab_nodes(LAB) == []


def _root_links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True)
    return {i["ifname"] for i in json.loads(out.stdout)}


def test_exported_basic_deploys(nodes: NodeRuntime, tmp_path: Path) -> None:
    topo = build_topology(load_scenario("basic"), LAB)
    path = tmp_path / "basic.clab.yml"
    path.write_text(containerlab.render(topo, "basic", "interlink-lab/node:latest"))
    clab = containerlab.load(path)
    root_before = _root_links()

    report = deploy(clab, nodes)

    assert report.ok, [str(f) for f in report.failures]
    assert report.links == len(topo.veths) == 5
    assert sorted(report.handles) == nodes.lab_nodes(LAB) == sorted(topo.netns_names)
    vlan_ifaces = {(v.netns, v.ifname) for v in topo.vlans}
    for v in topo.veths:
        for end in (v.a, v.b):
            (link,) = ip_json(end.netns, "link", "show", "dev", end.ifname)
            assert link["operstate"] == "UP", link  # both ends up
            assert link.get("link_netnsid") is not None  # its peer is in another namespace
    for a in topo.addresses:
        have = {(i["ifname"], norm_cidr(f"{x['local']}/{x['prefixlen']}"))
                for i in ip_json(a.netns, "addr") for x in i["addr_info"]}
        if (a.netns, a.ifname) in vlan_ifaces:
            assert all(ifname != a.ifname for ifname, _ in have)  # attach's, not the file's
        else:
            assert (a.ifname, norm_cidr(a.cidr)) in have, (a, have)
    for r in topo.routes:
        flag = ["-6"] if ":" in r.prefix else []
        got = [(e["dst"], e.get("gateway")) for e in ip_json(r.netns, *flag, "route")]
        dst = "default" if r.prefix in ("0.0.0.0/0", "::/0") else r.prefix
        assert (dst, r.via) in got, (r, got)
    assert _root_links() == root_before  # nothing in the root namespace

    # The plain links carry traffic: the on-prem host reaches its router.
    host = nodes.handle(LAB, "onprem-host")
    wait_for(lambda: nodes.run_tool(host, ["ping", "-c1", "-W1", "198.51.100.1"]
                                    ).returncode == 0, timeout=5, what="ping 198.51.100.1")

    with pytest.raises(ClabDeployError, match="already exist"):
        deploy(clab, nodes)

    gone = destroy(LAB, nodes)
    assert sorted(gone.removed) == sorted(topo.netns_names)
    assert nodes.lab_nodes(LAB) == []


def test_failing_exec_is_reported(nodes: NodeRuntime) -> None:
    doc = {
        "name": LAB,
        "topology": {
            "nodes": {
                "a": {"kind": "linux", "network-mode": "none",
                      "exec": ["ip addr replace 198.51.100.1/24 dev eth1",
                               "ip addr replace 198.51.100.2/24 dev nope0",
                               "ip route replace 203.0.113.0/24 via 198.51.100.3"]},
                "b": {"kind": "linux", "network-mode": "none"},
            },
            "links": [{"endpoints": ["a:eth1", "b:eth1"], "mtu": 9000}],
        },
    }
    report = deploy(containerlab.parse(doc), nodes)
    (fail,) = report.failures
    assert fail.node == "a" and "nope0" in fail.command and fail.returncode != 0
    assert "nope0" in str(fail) and fail.stderr  # ip's own complaint
    (link,) = ip_json(nodes.handle(LAB, "b"), "link", "show", "dev", "eth1")
    assert link["mtu"] == 9000
    routes = ip_json(nodes.handle(LAB, "a"), "route")
    assert any(r["dst"] == "203.0.113.0/24" for r in routes)  # the next lines still ran


def test_failed_links_remove_the_nodes(nodes: NodeRuntime) -> None:
    doc = {"name": LAB, "topology": {
        "nodes": {"a": {"kind": "linux", "network-mode": "none"},
                  "b": {"kind": "linux", "network-mode": "none"}},
        # A valid name for the file, taken in the node (its loopback): creation fails.
        "links": [{"endpoints": ["a:lo", "b:eth1"]}]}}
    with pytest.raises(ClabDeployError, match="creating veth pairs"):
        deploy(containerlab.parse(doc), nodes)
    assert nodes.lab_nodes(LAB) == []
