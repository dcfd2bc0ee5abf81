"""The cuts and their modes, read back from `iptables -S` (pure)."""

from __future__ import annotations

from lab.dataplane.faults import _cut_rules, parse_cuts


def listed(rules: list[str]) -> list[str]:
    """What `iptables -S` prints for rules `-I`nserted (the comment quoted, as nft does)."""
    return [r.replace("-I ", "-A ", 1).replace("--comment ", '--comment "').replace(
        " -j DROP", '" -j DROP') for r in rules]


def test_mode_comes_from_the_rules() -> None:
    bgp = listed(_cut_rules("169.254.0.17", "ilab-cut:169.254.0.17"))
    link = listed(_cut_rules("2001:db8:fc60::1", "ilab-cut:2001:db8:fc60::1", "pe0.2451"))
    other = ["-P INPUT ACCEPT", "-A INPUT -p tcp -j ACCEPT"]
    assert parse_cuts(other + bgp + link) == {"169.254.0.17": "bgp",
                                              "2001:db8:fc60::1": "link"}
    assert parse_cuts(other) == {}
