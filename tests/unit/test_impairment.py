"""Impairments, pure: values and ranges, the kernel rules' tag, nfnetlink_queue messages."""

from __future__ import annotations

import random
import struct

import pytest

from lab.dataplane import impair, shaping
from lab.scenario import impairment
from lab.scenario.addressing import build_topology
from lab.scenario.impairment import Impairment, ImpairmentError
from lab.scenario.parse import load_scenario, parse_scenario


def test_values_and_units() -> None:
    imp = impairment.parse({"delay": "1s", "jitter": "500us", "loss": "1%", "corrupt": 0.1,
                            "duplicate": "2", "rate": "1gbit"})
    assert imp == Impairment(1000.0, 0.5, 1.0, 0.1, 2.0, 1000.0)
    assert impairment.parse({"delay": 20}).delay_ms == 20.0
    assert impairment.parse({"rate": "500kbit"}).rate_mbit == 0.5
    assert impairment.from_tag(imp.tag()) == imp


@pytest.mark.parametrize(("values", "message"), [
    ({"loss": "150%"}, "loss: 150% is out of range (0..100)"),
    ({"delay": "20 parsecs"}, "delay: '20 parsecs' is not a value (e.g. 20ms)"),
    ({"delay": "11s"}, "delay: 11s is out of range (0..10000)"),
    ({"delay": "5ms", "jitter": "6ms"}, "jitter: 6ms is larger than the delay (5ms): a packet "
                                        "cannot leave early"),
    ({"rate": "0"}, "rate: 0 is out of range (0.01..400000)"),
    ({"lag": "1ms"}, "unknown impairment 'lag' (known: delay, jitter, loss, corrupt, "
                     "duplicate, rate)"),
    ({}, "no impairment given: set at least one of --delay, --jitter, --loss, --corrupt, "
         "--duplicate, --rate"),
])
def test_errors_are_one_line(values: dict[str, object], message: str) -> None:
    with pytest.raises(ImpairmentError) as e:
        impairment.parse(values)
    assert str(e.value) == message


def test_scenario_key_and_its_errors() -> None:
    basic = load_scenario("basic")
    from lab.scenario.dump import scenario_to_dict
    d = scenario_to_dict(basic)
    d["links"][0]["impairments"] = {"delay": "20ms", "loss": "1%", "direction": "to-vpc"}
    s = parse_scenario(d)
    assert s.links[0].impairment == Impairment(delay_ms=20.0, loss_pct=1.0)
    assert s.links[0].impair_direction == "to-vpc"
    assert parse_scenario(scenario_to_dict(s)) == s
    d["links"][0]["impairments"] = {"loss": "101%"}
    with pytest.raises(ValueError, match=r"links\[0\]\.impairments: loss: 101% is out of range"):
        parse_scenario(d)


def test_rules_and_shapers_of_a_link() -> None:
    topo = build_topology(load_scenario("basic"), "wire")
    w = topo.links[0]
    assert [(s.ifname, s.side) for s in shaping.shapers(topo, w)] == [
        ("pe0q2451", "to-vpc"), ("pe0.2451", "to-customer")]
    assert w.bandwidth_mbps == 1000
    imp = Impairment(delay_ms=20.0, loss_pct=1.0, duplicate_pct=2.0)
    tag = "ilab-impair:to-vpc:delay=20ms,loss=1%,duplicate=2%"
    assert impair.rule_lines(w, "to-vpc", imp, 4) == [
        f"-A PREROUTING -i pe0.2451 -m statistic --mode random --probability 0.010000 "
        f"-m comment --comment {tag} -j DROP",
        f"-A FORWARD -i pe0.2451 -m statistic --mode random --probability 0.020000 "
        f"-m comment --comment {tag} -j TEE --gateway 198.18.0.1",
        f"-A PREROUTING -i pe0.2451 -m comment --comment {tag} -j NFQUEUE --queue-num 2 "
        "--queue-bypass"]
    back = [line.replace(tag, f'"{tag}"') for line in impair.rule_lines(w, "to-vpc", imp, 6)]
    assert impair.parse_rules(back) == {"to-vpc": imp}
    assert impair.rule_lines(w, "to-customer", Impairment(rate_mbit=5.0), 4) == [
        "-A POSTROUTING -o pe0.2451 -m comment --comment ilab-impair:to-customer:rate=5mbit"]
    assert shaping.class_lines("pe0.2451", 50, True) == [
        "qdisc replace dev pe0.2451 root handle 1: htb default 1",
        "class replace dev pe0.2451 parent 1: classid 1:1 htb rate 50000kbit ceil 50000kbit "
        "burst 65536 cburst 65536 quantum 60000"]


def test_queue_messages_and_corruption() -> None:
    # A packet message as the kernel sends it: nlmsghdr, nfgenmsg, PACKET_HDR, PAYLOAD.
    body = (struct.pack("!BBH", 2, 0, 3) + impair.nl.attr(1, struct.pack("!IHB", 7, 0x800, 4))
            + impair.nl.attr(10, b"\x45" + b"\0" * 27))
    msg = impair.nl.message((3 << 8) | 0, 0, 0, body)
    assert impair.parse_packets(msg) == [(7, b"\x45" + b"\0" * 27)]
    verdict = impair.verdict_msg(3, 7, 1)
    assert struct.unpack_from("!II", verdict, 16 + 4 + 4) == (1, 7)
    packet = b"\x45" + b"\0" * 27
    bad = impair.corrupt(packet, random.Random(1))
    diff = [i for i, (a, b) in enumerate(zip(packet, bad, strict=True)) if a != b]
    assert len(diff) == 1 and diff[0] >= 20  # past the IPv4 header
    assert bin(packet[diff[0]] ^ bad[diff[0]]).count("1") == 1
