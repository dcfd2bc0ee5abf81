"""Scenario -> canonical mapping (the stored effective scenario): the inverse of the parser."""

from __future__ import annotations

from typing import Any

from lab.scenario.model import AnnounceSpec, Scenario


def _announce_to_data(a: AnnounceSpec) -> Any:
    if not a.communities and a.link is None:
        return a.prefix
    out: dict[str, Any] = {"prefix": a.prefix}
    if a.communities:
        out["communities"] = list(a.communities)
    if a.link is not None:
        out["link"] = a.link
    return out


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """The canonical mapping of a scenario: `parse_scenario(scenario_to_dict(s)) == s`.
    Indexes, customers and partners are always explicit, so that the file means the same
    thing whatever the order of its entries."""
    def lan(v4: str | None, v6: str | None) -> dict[str, str]:
        return {k: v for k, v in (("ipv4", v4), ("ipv6", v6)) if v}

    out: dict[str, Any] = {"name": s.name}
    if s.description:
        out["description"] = s.description
    out["timers"] = {"hold_time": s.hold_time}
    out["customers"] = []
    for c in s.customers:
        cd: dict[str, Any] = {"name": c.name, "asn": c.asn, "router": c.router,
                              "lan": lan(c.lan_v4, c.lan_v6),
                              "announce": [_announce_to_data(a) for a in c.announce]}
        if c.md5_password is not None:
            cd["md5_password"] = c.md5_password
        if c.config is not None:
            cd["config"] = c.config  # absolute: the stored scenario has no folder of its own
        if c.image is not None:
            cd["image"] = c.image
        out["customers"].append(cd)
    out["vpcs"] = [{"name": v.name, "index": v.index,
                    "private_networks": [{"name": pn.name, "subnets": list(pn.subnets)}
                                         for pn in v.private_networks]} for v in s.vpcs]
    out["routing_policies"] = [{"name": p.name, "is_ipv6": p.is_ipv6,
                                "prefix_filter_in": list(p.prefix_filter_in),
                                "prefix_filter_out": list(p.prefix_filter_out)}
                               for p in s.routing_policies]
    links = []
    for lk in s.links:
        ld: dict[str, Any] = {"name": lk.name, "index": lk.index, "customer": lk.customer,
                              "partner": lk.partner, "vlan": lk.vlan,
                              "bandwidth_mbps": lk.bandwidth_mbps,
                              "peering": lan(lk.peering_v4, lk.peering_v6), "vpc": lk.vpc,
                              "routing_policies": list(lk.routing_policies),
                              "enable_route_propagation": lk.enable_route_propagation}
        if lk.pop is not None:
            ld["pop"] = lk.pop
        if lk.md5_password is not None:
            ld["md5_password"] = lk.md5_password
        if lk.impairment is not None:
            ld["impairments"] = {**lk.impairment.to_api(), "direction": lk.impair_direction}
        if lk.port is not None:
            ld["port"] = {"name": lk.port, "bandwidth_mbps": lk.port_mbps}
        links.append(ld)
    out["links"] = links
    if s.steps:
        out["steps"] = list(s.steps)
    if s.checks:
        out["checks"] = list(s.checks)
    if s.waits:
        out["waits"] = dict(s.waits)
    if not s.ready:
        out["ready"] = False
    if s.runtime != "netns":
        out["runtime"] = s.runtime
    if s.image is not None:
        out["image"] = s.image
    return out
