"""Steps of a scenario file: API calls, policy and propagation changes, announcements, faults."""

from __future__ import annotations

import re
from typing import Any

from lab.control.client import ApiError, Client
from lab.control.handle import REGION_PATH, RunningLab
from lab.runner.checks import Check, CheckFailed, Evaluator
from lab.scenario import document


class StepRunner:
    def __init__(self, lab: RunningLab, sf: document.ScenarioFile, ev: Evaluator):
        self.lab, self.sf, self.ev = lab, sf, ev
        self.client: Client = lab.client

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


