"""Steps of a scenario file: API calls, policy and propagation changes, announcements, faults,
captures (tcpdump in the background until its count, duration or ``close``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lab.control.client import ApiError, Client
from lab.control.handle import REGION_PATH, RunningLab
from lab.control.labdir import LabError
from lab.dataplane.capture import Capture, CaptureError, interfaces, pick_iface
from lab.dataplane.nodes import runtime
from lab.runner.artifacts import unique
from lab.runner.checks import Check, CheckFailed, Evaluator
from lab.scenario import document


@dataclass
class RunningCapture:
    node: str
    capture: Capture
    path: Path
    out: IO[bytes]


class StepRunner:
    def __init__(self, lab: RunningLab, sf: document.ScenarioFile, ev: Evaluator,
                 artifacts: Path | None = None):
        self.lab, self.sf, self.ev = lab, sf, ev
        self.client: Client = lab.client
        self.artifacts = artifacts or Path.cwd()  # where capture steps write their pcaps
        self.captures: list[RunningCapture] = []

    def summary(self, kind: str, v: dict[str, Any]) -> str:
        if kind in ("wait", "check"):
            return f"{kind} {Check.parse(v, self.sf).summary()}"
        if kind == "api":
            return f"{v['method']} {v['path']}"
        if kind == "propagation":
            return f"propagation {'on' if v['enabled'] else 'off'} {v.get('link', '')}".strip()
        if kind == "fault" and v["action"] == "kill":
            return f"kill {v['node']} {v.get('daemon', '')}".strip()
        if kind == "fault":
            mode = " link" if v.get("mode") == "link" else ""
            return f"{v['action']}{mode} {v.get('family', 'both')} {v.get('link', '')}".strip()
        if kind == "impair":
            vals = " ".join(f"{k} {x}" for k, x in v.items() if k not in ("link", "direction"))
            return f"impair {vals} ({v.get('direction', 'both')}) {v.get('link', '')}".strip()
        if kind in ("announce", "withdraw"):
            return f"{kind} {' '.join(v['prefixes'])}"
        if kind == "capture":
            where = f"{v['node']}:{v['iface']}" if v.get("iface") else v["node"]
            return f"capture {where}{' bgp' if v.get('bgp') else ''}"
        args = " ".join(str(x) for k, x in v.items() if isinstance(x, str))
        return f"{kind} {args}".strip()

    def run(self, kind: str, v: dict[str, Any]) -> None:
        if kind in ("wait", "check"):
            c = Check.parse(v, self.sf)
            self.ev.poll(c)
            return
        getattr(self, f"_{kind}")(v)

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            def sub(m: re.Match[str]) -> str:
                kind, name = m.groups()
                if kind == "link":
                    return str(self.lab.link(name)["id"])
                if kind == "policy":
                    return str(self.client.policy(name)["id"])
                return str(self.client.vpc(name)["id"])
            return document.PLACEHOLDER_RE.sub(sub, value)
        if isinstance(value, dict):
            return {k: self._resolve(x) for k, x in value.items()}
        if isinstance(value, list):
            return [self._resolve(x) for x in value]
        return value

    def _api(self, v: dict[str, Any]) -> None:
        path = self._resolve(v["path"])
        if not path.startswith("/"):
            path = f"{REGION_PATH}/{path}"
        want = v.get("status")
        try:
            self.client.request(v["method"], path, self._resolve(v.get("body")))
        except ApiError as e:
            if want != e.status:
                raise CheckFailed(f"{v['method']} {path}: HTTP {e.status} {e}",
                                  f"HTTP {want or '2xx'}", f"HTTP {e.status}") from None
            return
        if want is not None and want >= 400:
            raise CheckFailed(f"{v['method']} {path} succeeded, expected HTTP {want}",
                              f"HTTP {want}", "HTTP 2xx")

    def _propagation(self, v: dict[str, Any]) -> None:
        action = "enable" if v["enabled"] else "disable"
        self.lab.link_action(f"{action}-route-propagation", link=v.get("link"))

    def _policy(self, v: dict[str, Any]) -> None:
        pid = self.client.policy(v["name"])["id"]
        body = {k: v[k] for k in ("prefix_filter_in", "prefix_filter_out") if k in v}
        self.client.patch(f"{REGION_PATH}/routing-policies/{pid}", body)

    def _policy_action(self, action: str, v: dict[str, Any]) -> None:
        pid = self.client.policy(v["policy"])["id"]
        self.lab.link_action(f"{action}-routing-policy", {"routing_policy_id": pid},
                             link=v.get("link"))

    def _attach_policy(self, v: dict[str, Any]) -> None:
        self._policy_action("attach", v)

    def _detach_policy(self, v: dict[str, Any]) -> None:
        self._policy_action("detach", v)

    def _set_policy(self, v: dict[str, Any]) -> None:
        self._policy_action("set", v)

    def _attach_vpc(self, v: dict[str, Any]) -> None:
        self.lab.link_action("attach-vpc", {"vpc_id": self.client.vpc(v["vpc"])["id"]},
                             link=v.get("link"))

    def _detach_vpc(self, v: dict[str, Any]) -> None:
        self.lab.link_action("detach-vpc", link=v.get("link"))

    def _customer_body(self, v: dict[str, Any]) -> dict[str, Any]:
        # "customer" and "link" only when given: the single-customer daemon predates them.
        body: dict[str, Any] = {"prefixes": list(v["prefixes"])}
        for k in ("customer", "link"):
            if v.get(k):
                body[k] = v[k]
        return body

    def _announce(self, v: dict[str, Any]) -> None:
        body = self._customer_body(v)
        body["communities"] = [v["community"]] if v.get("community") else []
        self.client.post("/lab/v1/customer/announce", body)

    def _withdraw(self, v: dict[str, Any]) -> None:
        self.client.post("/lab/v1/customer/withdraw", self._customer_body(v))

    def _impair(self, v: dict[str, Any]) -> None:
        body = {k: x for k, x in v.items() if k != "link"}
        self.client.post("/lab/v1/faults/impair", {"link_id": self.lab.link(v.get("link"))["id"],
                                                   **body})

    def _fault(self, v: dict[str, Any]) -> None:
        if v["action"] == "kill":
            self.lab.kill(v["node"], v.get("daemon"))
        else:
            self.lab.fault(v["action"], v.get("family", "both"), link=v.get("link"),
                           mode=v.get("mode"))

    def _capture(self, v: dict[str, Any]) -> None:
        node = v["node"]
        handle = self.lab.netns(node)
        nodes = runtime(self.lab.topo.runtime)
        try:
            iface = pick_iface(interfaces(handle), v.get("iface"), node)
        except CaptureError as e:
            raise LabError(str(e)) from None
        self.artifacts.mkdir(parents=True, exist_ok=True)
        default = f"{node}-{v['iface']}.pcap" if v.get("iface") else f"{node}.pcap"
        path = unique(self.artifacts, v.get("file") or default)
        out = open(path, "wb")  # noqa: SIM115 (closed by close(), once tcpdump ended)
        cap = Capture(nodes, handle, iface, out=out, bgp=bool(v.get("bgp")),
                      count=v.get("count"), duration=v.get("duration"))
        try:
            cap.start()
        except CaptureError as e:
            out.close()
            path.unlink(missing_ok=True)
            raise LabError(str(e)) from None
        self.captures.append(RunningCapture(node, cap, path, out))

    def close(self) -> list[dict[str, str]]:
        """Stop the captures still running (the end of the run); what each one saved."""
        out = []
        for rc in self.captures:
            rc.capture.stop()
            rc.out.close()
            out.append({"node": rc.node, "iface": rc.capture.iface, "path": str(rc.path),
                        "summary": rc.capture.summary()})
        self.captures = []
        return out
