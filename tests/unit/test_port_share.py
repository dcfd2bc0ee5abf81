"""Shared ports (pure): a scenario link's `port:`, the API's dedicated connection as a port,
and the partner switch's HTB trees that share a port's capacity among its links."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import yaml

from controller.core.catalog import load as load_catalog
from controller.core.model import BgpConfig, Link
from lab.dataplane import shaping
from lab.scenario import world
from lab.scenario.addressing import build_topology
from lab.scenario.dump import scenario_to_dict
from lab.scenario.model import ScenarioError
from lab.scenario.parse import parse_scenario
from lab.scenario.schema import SCHEMA_PATH

BASE = """
name: shr
customer: {asn: 64512, lan: {ipv4: 198.51.100.0/24}}
links:
  - {name: a, vlan: 2451, bandwidth_mbps: 50, peering: {ipv4: 169.254.0.16/31},
     port: {name: p, bandwidth_mbps: 60}}
  - {name: b, vlan: 2452, bandwidth_mbps: 50, peering: {ipv4: 169.254.0.18/31},
     port: {name: p, bandwidth_mbps: 60}}
  - {name: c, vlan: 2453, bandwidth_mbps: 100, peering: {ipv4: 169.254.0.20/31}}
"""


def scenario(text: str = BASE) -> Any:
    return parse_scenario(yaml.safe_load(text), "test")


def test_port_parsed_dumped_and_in_the_topology() -> None:
    s = scenario()
    assert [(lk.port, lk.port_mbps) for lk in s.links] == [("p", 60), ("p", 60), (None, 0)]
    assert parse_scenario(scenario_to_dict(s), "stored") == s
    topo = build_topology(s, "shr")
    [port] = shaping.ports(topo)
    assert (port.netns, port.name, port.mbps) == ("shr-partner", "p", 60)
    assert port.links == (shaping.PortLink("scw0", 2451, 50), shaping.PortLink("scw1", 2452, 50))
    assert "port" in SCHEMA_PATH.read_text()


def test_port_errors() -> None:
    bad_capacity = BASE.replace("port: {name: p, bandwidth_mbps: 60}}\n  - {name: c",
                                "port: {name: p, bandwidth_mbps: 70}}\n  - {name: c")
    with pytest.raises(ScenarioError, match=r"port 'p' is 60 Mbps through partner"):
        scenario(bad_capacity)
    over = BASE.replace("bandwidth_mbps: 50, peering: {ipv4: 169.254.0.16/31}",
                        "bandwidth_mbps: 100, peering: {ipv4: 169.254.0.16/31}")
    with pytest.raises(ScenarioError, match=r"100 Mbps is more than its port 'p' has \(60\)"):
        scenario(over)


def test_port_lines_share_the_capacity() -> None:
    [port] = shaping.ports(build_topology(scenario(), "shr"))
    lines = shaping.port_lines(port)
    up, down = port.ifbs
    assert re.fullmatch(r"pu[0-9a-f]{8}", up) and down == "pd" + up[2:]
    for ifb in (up, down):
        assert f"qdisc add dev {ifb} root handle 1: htb" in lines
        assert (f"class replace dev {ifb} parent 1: classid 1:1 htb rate 60000kbit "
                f"ceil 60000kbit burst 65536 cburst 65536 quantum 60000") in lines
        # Each link: its share of the port guaranteed (30 of 60), its own 50 at most.
        assert any(line.startswith(f"class replace dev {ifb} parent 1:1 classid 1:1993 htb "
                                   "rate 30000kbit ceil 50000kbit") for line in lines)
        assert any(f"dev {ifb} parent 1: prio 1 handle 2451 " in line
                   and "21 0 1 2451," in line and line.endswith("classid 1:1993")
                   for line in lines)
    for dev in ("scw0", "scw1"):
        assert any(line.startswith(f"filter replace dev {dev} egress prio 2 ")
                   and line.endswith(f"redirect dev {up}") for line in lines)
        assert any(line.startswith(f"filter replace dev {dev} ingress prio 2 ")
                   and line.endswith(f"redirect dev {down}") for line in lines)
    assert not any("qdisc" in line for line in shaping.port_lines(port, fresh=()))


def test_not_oversubscribed_links_keep_their_rate() -> None:
    s = scenario(BASE.replace("bandwidth_mbps: 60", "bandwidth_mbps: 100"))
    [port] = shaping.ports(build_topology(s, "shr"))
    assert sum("rate 50000kbit ceil 50000kbit" in line for line in shaping.port_lines(port)) == 4


def test_parse_classes() -> None:
    text = ("class htb 1:1993 parent 1:1 prio 0 rate 30Mbit ceil 50Mbit burst 64Kb cburst 64Kb \n"
            "class htb 1:1 root rate 10Gbit ceil 10Gbit burst 64Kb cburst 64Kb \n")
    assert shaping.parse_classes(text) == [("1:1993", "1:1", 50.0), ("1:1", None, 10000.0)]


def test_api_links_port_is_their_dedicated_connection() -> None:
    catalog = load_catalog()
    conn = next(c for c in catalog.connections.values() if c.status == "active")
    link = Link(id="l1", name="x", pop_id=conn.pop_id, bandwidth_mbps=100, vlan=3000,
                scw_bgp_config=BgpConfig(asn=12876, ipv4="169.254.0.30/31", ipv6=""),
                peer_bgp_config=BgpConfig(asn=64999, ipv4="169.254.0.31/31", ipv6=""),
                connection_id=conn.id)
    assert world.link_port(link, catalog) == (conn.name, conn.bandwidth_mbps)
    assert world.link_port(dataclasses.replace(link, connection_id=None), catalog) is None
    s, name, _ = world.with_link(scenario(), link, None, lambda kind: True,
                                 world.link_port(link, catalog))
    assert (s.link(name).port, s.link(name).port_mbps) == (conn.name, conn.bandwidth_mbps)
