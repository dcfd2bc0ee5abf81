"""A running lab as seen from Python: bring-up, API shortcuts, data-plane helpers, polling.

Pytest-free, so that ``interlink-lab run`` (lab.runner.run) works without pytest installed;
lab.testing.plugin builds its fixtures on ``RunningLab.up``.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lab.control import lifecycle
from lab.control.client import Client
from lab.control.labdir import lab_dir
from lab.control.polling import wait_for
from lab.dataplane import iproute
from lab.dataplane.probes import ping_fast
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology

REGION_PATH = "/interlink/v1beta1/regions/fr-par"
T = TypeVar("T")


@dataclass
class RunningLab:
    name: str
    scenario: str
    topo: Topology
    client: Client
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def up(cls, scenario: str = "basic", lab: str | None = None, *,
           hold_time: int | None = None, router: str | None = None,
           **up_options: Any) -> RunningLab:
        """``lifecycle.up`` (which takes everything down again if it fails), then the handle.

        ``lab`` defaults to a fresh unique name; ``router`` puts every customer on that router
        kind, in the lab and in ``topo`` alike; ``up_options`` go to ``lifecycle.up``."""
        name = lab or unique_lab_name()
        result = lifecycle.up(scenario, lab=name, hold_time=hold_time, router=router,
                              **up_options)
        spec = lifecycle.with_runtime(lifecycle.with_router(load_scenario(scenario), router),
                                      up_options.get("runtime_name"))
        topo = build_topology(spec, name)
        return cls(name, scenario, topo, Client.for_lab(name), result.timings)

    # --- API shortcuts -------------------------------------------------------------------
    def links(self) -> list[dict[str, Any]]:
        links: list[dict[str, Any]] = self.client.get(f"{REGION_PATH}/links")["links"]
        return links

    def link(self, name: str | None = None) -> dict[str, Any]:
        links = self.links()
        if name is None:
            assert len(links) == 1, f"lab has {len(links)} links; name one"
            return links[0]
        return next(lk for lk in links if name in (lk["name"], lk["id"]))

    def link_action(self, action: str, body: dict[str, Any] | None = None,
                    link: str | None = None) -> dict[str, Any]:
        lk = self.link(link)
        out: dict[str, Any] = self.client.post(f"{REGION_PATH}/links/{lk['id']}/{action}",
                                               body or {})
        return out

    def policy(self, name: str) -> dict[str, Any]:
        pols = self.client.get(f"{REGION_PATH}/routing-policies")["routing_policies"]
        return next(p for p in pols if p["name"] == name)

    def stats(self, link: str | None = None) -> dict[str, Any]:
        lk = self.link(link)
        out: dict[str, Any] = self.client.get(f"{REGION_PATH}/links/{lk['id']}/stats")
        return out

    def announce(self, *prefixes: str, communities: tuple[str, ...] = ()) -> None:
        self.client.post("/lab/v1/customer/announce",
                         {"prefixes": list(prefixes), "communities": list(communities)})

    def withdraw(self, *prefixes: str) -> None:
        self.client.post("/lab/v1/customer/withdraw", {"prefixes": list(prefixes)})

    def fault(self, action: str, family: str, link: str | None = None,
              mode: str | None = None) -> dict[str, Any]:
        """cut (``mode`` bgp or link), reset or restore; restore without ``link`` in a lab of
        several links restores every link."""
        body: dict[str, Any] = {"family": family, **({"mode": mode} if mode else {})}
        if link is not None or action != "restore" or len(self.links()) == 1:
            body["link_id"] = self.link(link)["id"]
        out: dict[str, Any] = self.client.post(f"/lab/v1/faults/{action}", body)
        return out

    def kill(self, node: str, daemon: str | None = None) -> dict[str, Any]:
        """Kill a node's BGP daemon (default: its main one); ``fault restore`` undoes it."""
        out: dict[str, Any] = self.client.post(
            "/lab/v1/faults/kill", {"node": node, **({"daemon": daemon} if daemon else {})})
        return out

    def impair(self, link: str | None = None, direction: str = "both",
               **values: str) -> dict[str, Any]:
        """Impair the link's wire (``delay="20ms"``, ``loss="1%"``, ...) in ``direction``;
        ``fault("restore", ...)`` clears it."""
        out: dict[str, Any] = self.client.post("/lab/v1/faults/impair", {
            "link_id": self.link(link)["id"], "direction": direction, **values})
        return out

    def speaker_pid(self, speaker: str) -> int:
        """PID of the lab's ExaBGP ``speaker`` (``speaker_name(link id)``, ``customer``), from
        its pid file."""
        return int((lab_dir(self.name) / "speakers" / f"{speaker}.pid").read_text())

    # --- data plane ------------------------------------------------------------------------
    def netns(self, node: str) -> str:
        return self.topo.netns(node)

    def address(self, node: str, family: int) -> str:
        return self.topo.address(node, family)

    def routes(self, node: str, proto: str | None = "bgp") -> dict[str, str | None]:
        """prefix -> gateway of the node's main table (v4 + v6), by default BGP routes only."""
        return {r["prefix"]: r["via"] for r in iproute.routes(self.netns(node), proto)}

    def target(self, dst: str, family: int | None = None) -> str:
        """The address ``dst`` names: an address as it is (its family is its own: a
        contradicting ``family`` is an error), else node ``dst``'s address of ``family``
        (IPv4 unless given)."""
        try:
            addr = ipaddress.ip_address(dst)
        except ValueError:
            return self.address(dst, family or 4)
        if family not in (None, addr.version):
            raise ValueError(f"{dst} is an IPv{addr.version} address, not IPv{family}")
        return str(addr)

    def ping(self, src: str, dst: str, family: int | None = None,
             timeout: float = 1.0) -> bool:
        """One ICMP echo with iputils ping (fast) from node ``src`` to a node or an address
        (``target``); see ``probe`` for scapy."""
        return ping_fast(self.netns(src), self.target(dst, family), timeout=timeout)

    def probe(self, src: str, dst: str, family: int | None = None, count: int = 3) -> Any:
        """A scapy ICMP probe run inside ``src``'s namespace, to a node or an address."""
        from lab.dataplane.probes import ping

        return ping(self.netns(src), self.target(dst, family), count=count, timeout=2.0)

    # --- polling (lab.control.polling) ----------------------------------------------------
    def wait_for(self, check: Callable[[], T], what: str, timeout: float = 15.0, *,
                 detail: Callable[[], str] | None = None) -> T:
        return wait_for(check, what, timeout, detail=detail)

    def wait_status(self, status: str, timeout: float = 20.0, link: str | None = None) -> None:
        self.wait_for(lambda: self.link(link)["status"] == status,
                      f"link status {status!r}", timeout)


def unique_lab_name() -> str:
    return "t" + secrets.token_hex(3)
