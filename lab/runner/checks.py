"""Checks of a scenario file (link, route, traffic, stats), polled against a running lab.

``traffic`` is decided by scapy echoes (lab.dataplane.probes.ping): pass = every echo answered,
block = no reply. iputils ping polls first (cheap) so that scapy runs only for the verdict.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.control.client import ApiError
from lab.control.handle import RunningLab
from lab.control.labdir import LabError
from lab.control.polling import WaitTimeout, wait_for
from lab.dataplane.probes import ProbeError, ping, ping_fast
from lab.routers import registry
from lab.scenario import document

POLL_INTERVAL = 0.1
PROBE_COUNT = 3


class CheckFailed(Exception):
    def __init__(self, message: str, expected: str | None = None, seen: str | None = None):
        super().__init__(message)
        self.expected, self.seen = expected, seen


@dataclass
class Check:
    """One check of a file, ready to evaluate against a running lab."""

    kind: str
    spec: dict[str, Any]
    name: str | None
    timeout: float

    @classmethod
    def parse(cls, raw: dict[str, Any], sf: document.ScenarioFile) -> Check:
        kind = next(k for k in document.CHECK_KINDS if k in raw)
        return cls(kind=kind, spec=dict(raw[kind]), name=raw.get("name"),
                   timeout=sf.timeout(raw.get("timeout")))

    @property
    def negative(self) -> bool:
        return ((self.kind == "route" and self.spec.get("present", True) is False)
                or (self.kind == "traffic" and self.spec.get("expect", "pass") == "block"))

    def summary(self) -> str:
        s = self.spec
        if self.kind == "link":
            rest = ", ".join(f"{k}={v}" for k, v in s.items() if k != "name")
            return f"link {s.get('name', '')} {rest}".replace("  ", " ")
        if self.kind == "route":
            where = "absent from" if s.get("present", True) is False else "in"
            via = f" via {s['via']}" if s.get("via") else ""
            return f"route {s['prefix']} {where} {s['node']}{via}"
        if self.kind == "traffic":
            return (f"traffic {s['from']} -> {s['to']} {s.get('family', 'both')} "
                    f"{s.get('expect', 'pass')}")
        return f"stats {s.get('link', '')} {s['family']}".replace("  ", " ")

    def expected(self) -> str:
        s = self.spec
        if self.kind == "link":
            return ", ".join(f"{k} {v}" for k, v in s.items() if k != "name")
        if self.kind == "route":
            if s.get("present", True) is False:
                return f"{s['prefix']} absent"
            return f"{s['prefix']} present" + (f" via {s['via']}" if s.get("via") else "")
        if self.kind == "traffic":
            return (f"{'every echo answered' if s.get('expect', 'pass') == 'pass' else 'no reply'}"
                    f" ({s.get('family', 'both')})")
        parts = [f"accepted {s['accepted']}"] if "accepted" in s else []
        parts += [f"rejected {r} >= {n}" for r, n in (s.get("rejected_min") or {}).items()]
        return ", ".join(parts) or "readable"


def _families(family: str) -> list[int]:
    return [4, 6] if family == "both" else [int(family[-1])]


class Evaluator:
    """Evaluates checks against a running lab: (ok, what was seen)."""

    def __init__(self, lab: RunningLab, sf: document.ScenarioFile):
        self.lab, self.sf = lab, sf

    def evaluate(self, c: Check) -> tuple[bool, str]:
        fn: Callable[[dict[str, Any]], tuple[bool, str]] = getattr(self, f"_{c.kind}")
        return fn(c.spec)

    def poll(self, c: Check, timeout: float | None = None) -> float:
        """Poll until the check passes; its duration, or CheckFailed after the timeout."""
        timeout = c.timeout if timeout is None else timeout
        t0 = time.monotonic()
        seen = ["nothing yet"]

        def passes() -> bool:
            try:
                ok, seen[0] = self.evaluate(c)
            except (ApiError, LabError, ProbeError, OSError, KeyError, ValueError) as exc:
                ok, seen[0] = False, f"error: {exc}"
            return ok

        try:
            wait_for(passes, c.summary(), timeout, interval=POLL_INTERVAL)
        except WaitTimeout:
            why = self.explain(c)
            if why:
                seen[0] += f"; why: {why}"
            raise CheckFailed(f"not true after {timeout:g}s: expected {c.expected()}; "
                              f"last seen {seen[0]}", c.expected(), seen[0]) from None
        return time.monotonic() - t0

    def explain(self, c: Check) -> str | None:
        """Why a failed link check's sessions are down, as the customer router sees it
        (lab.routers.diagnose), asked once the check has failed."""
        if c.kind != "link":
            return None
        wanted = [f"ipv{k[-1]}" for k in ("bgp_v4", "bgp_v6") if c.spec.get(k) == "up"]
        if c.spec.get("status") == "active":
            wanted = ["ipv4", "ipv6"]
        try:
            name = self.lab.link(c.spec.get("name"))["name"]
            data = self.lab.client.get("/lab/v1/customer/diagnosis")
        except (ApiError, LabError, OSError, KeyError):
            return None
        whys = [f"{s['family']} {s['why']}" for cust in data.get("customers") or []
                for s in cust.get("sessions") or []
                if s.get("link") == name and s.get("family") in wanted
                and s.get("state") != "up" and s.get("why")]
        return "; ".join(whys) or None

    # --- kinds --------------------------------------------------------------------------------
    def _link(self, s: dict[str, Any]) -> tuple[bool, str]:
        lk = self.lab.link(s.get("name"))
        got = {"status": lk.get("status"), "bgp_v4": lk.get("bgp_v4_status"),
               "bgp_v6": lk.get("bgp_v6_status"),
               "propagation": bool(lk.get("enable_route_propagation"))}
        wanted = {k: v for k, v in s.items() if k != "name"}
        seen = ", ".join(f"{k} {got[k]}" for k in wanted) or f"status {got['status']}"
        return all(got[k] == v for k, v in wanted.items()), seen

    def routes(self, node: str) -> dict[str, str | None]:
        # BGP routes as the controller (`proto bgp`) and any customer router kind install them
        # (`up --router` can swap kinds).
        routes = self.lab.routes(node)
        for proto in registry.kernel_protos():
            if proto != "bgp":
                routes.update(self.lab.routes(node, proto))
        return routes

    def _via_addresses(self, via: str) -> set[str]:
        if via in {lk.name for lk in self.lab.topo.links}:
            w = self.lab.topo.link(via)
            return {a for a in (w.scw_v4, w.peer_v4, w.scw_v6, w.peer_v6, w.scw_transit_v4,
                                w.scw_transit_v6) if a}
        return {str(ipaddress.ip_address(via))}

    def _route(self, s: dict[str, Any]) -> tuple[bool, str]:
        prefix = str(ipaddress.ip_network(s["prefix"]))
        routes = self.routes(s["node"])
        present = prefix in routes
        gw = routes.get(prefix)
        seen = (f"{prefix} present via {gw or 'several next hops'}" if present
                else f"{prefix} absent (BGP routes: {', '.join(sorted(routes)) or 'none'})")
        if s.get("present", True) is False:
            return not present, seen
        if not present:
            return False, seen
        if s.get("via"):
            return gw in self._via_addresses(s["via"]), seen
        return True, seen

    def _traffic(self, s: dict[str, Any]) -> tuple[bool, str]:
        block = s.get("expect", "pass") == "block"
        src = self.lab.netns(s["from"])
        seen = []
        for fam in _families(s.get("family", "both")):
            dst = self.lab.address(s["to"], fam)
            # Cheap iputils pre-check; scapy (slow to start) only gives the verdict.
            if ping_fast(src, dst, timeout=0.3 if block else 0.5) == block:
                return False, f"IPv{fam} {dst}: {'a reply' if block else 'no reply'} (ping)"
            r = ping(src, dst, count=PROBE_COUNT, timeout=1.0)
            seen.append(f"IPv{fam} {dst}: {r.received}/{r.sent} replies")
            if (r.received != 0) if block else (r.received != r.sent):
                return False, "; ".join(seen)
        return True, "; ".join(seen)

    def _stats(self, s: dict[str, Any]) -> tuple[bool, str]:
        st = self.lab.stats(s.get("link"))[s["family"]]
        reasons = st.get("rejected_reasons") or {}
        ok = "accepted" not in s or st.get("accepted") == s["accepted"]
        ok = ok and all(reasons.get(r, 0) >= n for r, n in (s.get("rejected_min") or {}).items())
        seen = (f"accepted {st.get('accepted')}, rejected "
                f"{ {k: v for k, v in sorted(reasons.items())} or 'none'}")
        return ok, seen


