"""Kernel routes as `ip -j route show` prints them, made plain (pure)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, TypedDict


class RouteEntry(TypedDict):
    prefix: str  # always with a length: "0.0.0.0/0", "10.0.0.1/32", "2001:db8::/48"
    via: str | None  # the (first) gateway; None for a connected route
    dev: str | None
    proto: str  # "bgp", "bird", "kernel", "static", ...; "" for boot (ip leaves it out)


def parse_ip_routes(output: str | bytes, family: int) -> list[RouteEntry]:
    """The routes in the output of ``ip -j -4|-6 route show ...`` (``family`` 4 or 6, which
    the output itself does not say for ``default``), in ip's order; link-local ones
    (fe80::/10, 169.254.0.0/16) are left out."""
    if family not in (4, 6):
        raise ValueError(f"family must be 4 or 6, not {family!r}")
    out: list[RouteEntry] = []
    raw: list[dict[str, Any]] = json.loads(output or "[]")
    for r in raw:
        dst = r.get("dst", "")
        if dst == "default":
            dst = "0.0.0.0/0" if family == 4 else "::/0"
        elif "/" not in dst:
            dst += "/32" if family == 4 else "/128"
        if ipaddress.ip_network(dst, strict=False).is_link_local:
            continue
        via = r.get("gateway")
        if via is None and r.get("nexthops"):  # ECMP: the first path's gateway
            via = r["nexthops"][0].get("gateway")
        out.append({"prefix": dst, "via": via, "dev": r.get("dev"),
                    "proto": r.get("protocol", "")})
    return out
