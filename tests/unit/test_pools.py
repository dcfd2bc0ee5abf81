"""Peering pairs: the first free /31 and /64 of the pools, whatever the sizes in use."""

from __future__ import annotations

import ipaddress

from controller.core import pools


def nets(*texts: str) -> list[pools.Network]:
    return [ipaddress.ip_network(t) for t in texts]


def test_first_free_skips_every_overlap() -> None:
    v4 = pools.PEERING_V4
    assert str(pools._first_free(v4, 31, [])) == "169.254.0.0/31"
    used = nets("169.254.0.0/31", "169.254.0.4/30", "2001:db8:fc60::/127", "10.0.0.0/8")
    assert str(pools._first_free(v4, 31, used)) == "169.254.0.2/31"
    assert str(pools._first_free(v4, 31, [*used, *nets("169.254.0.2/31")])) == "169.254.0.8/31"
    assert str(pools._first_free(pools.PEERING_V6, 64, used)) == "2001:db8:fc60:1::/64"
    # a network wider than the pool takes all of it
    assert pools._first_free(v4, 31, nets("169.254.0.0/15")) is None


def test_first_free_matches_the_naive_search() -> None:
    used = nets(*(f"169.254.{i // 128}.{(i % 128) * 2}/31" for i in range(0, 300, 3)),
                "169.254.0.64/28")
    naive = next(n for n in pools.PEERING_V4.subnets(new_prefix=31)
                 if not any(n.overlaps(u) for u in used))
    assert pools._first_free(pools.PEERING_V4, 31, used) == naive
