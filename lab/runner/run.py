"""Run scenario files: up, steps in order, checks, down; a PASS/FAIL line per item (I/O).

Semantics (the format is in lab/scenario.schema.json):

- Steps run in order; the first failing step ends the file (the rest is SKIP).
- A check is polled until it passes or its timeout expires (``timeout:``, default the
  ``convergence`` wait); a failure names it (``name:`` or ``checks[3]``) and shows what was
  expected and what was last seen.
- In the ``checks:`` section the negative checks (route ``present: false``, traffic
  ``expect: block``) run after the positive ones have passed: a route that is absent because
  it has not arrived yet proves nothing, one still absent once its siblings are installed does.
- ``traffic`` is decided by scapy echoes (lab.dataplane.probes.ping): pass = every echo answered,
  block = no reply. iputils ping polls first (cheap) so that scapy runs only for the verdict.

Public API: ``run_file``, ``run_files``, ``FileReport``, ``ItemResult``.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab.control import lifecycle
from lab.control.client import ApiError, Client
from lab.control.handle import REGION_PATH, RunningLab
from lab.control.labdir import LabError
from lab.dataplane.addressing import build_topology
from lab.dataplane.probes import ProbeError, ping, ping_fast
from lab.routers import registry
from lab.scenario import file as sfile
from lab.scenario.model import ScenarioError
from lab.scenario.parse import load_scenario

Progress = Callable[[str], None]
POLL_INTERVAL = 0.1
PROBE_COUNT = 3


def _quiet(_msg: str) -> None:
    pass


def new_lab_name() -> str:
    return "r" + secrets.token_hex(3)


@dataclass
class ItemResult:
    section: str  # "steps" | "checks"
    index: int
    kind: str  # step or check kind ("propagation", "route", ...)
    label: str  # the item's name, else a short summary
    status: str  # "PASS" | "FAIL" | "SKIP"
    duration: float = 0.0
    message: str = ""
    expected: str | None = None
    seen: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.section}[{self.index}]"

    def line(self) -> str:
        out = f"{self.status} {self.ref} {self.label} ({self.duration:.2f}s)"
        if self.status == "FAIL":
            out += f": {self.message}"
        return out


@dataclass
class FileReport:
    file: str
    scenario: str
    lab: str
    items: list[ItemResult] = field(default_factory=list)
    error: str | None = None  # the lab could not be brought up / torn down
    up_seconds: float = 0.0
    duration: float = 0.0
    kept: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and all(i.status == "PASS" for i in self.items)

    @property
    def failures(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "FAIL"]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        for item, src in zip(d["items"], self.items, strict=True):
            item["ref"] = src.ref
        return d


class CheckFailed(Exception):
    def __init__(self, message: str, expected: str | None = None, seen: str | None = None):
        super().__init__(message)
        self.expected, self.seen = expected, seen


# --------------------------------------------------------------------------- checks


@dataclass
class Check:
    """One check of a file, ready to evaluate against a running lab."""

    kind: str
    spec: dict[str, Any]
    name: str | None
    timeout: float

    @classmethod
    def parse(cls, raw: dict[str, Any], sf: sfile.ScenarioFile) -> Check:
        kind = next(k for k in sfile.CHECK_KINDS if k in raw)
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

    def __init__(self, lab: RunningLab, sf: sfile.ScenarioFile):
        self.lab, self.sf = lab, sf

    def evaluate(self, c: Check) -> tuple[bool, str]:
        fn: Callable[[dict[str, Any]], tuple[bool, str]] = getattr(self, f"_{c.kind}")
        return fn(c.spec)

    def poll(self, c: Check, timeout: float | None = None) -> float:
        """Poll until the check passes; its duration, or CheckFailed after the timeout."""
        timeout = c.timeout if timeout is None else timeout
        t0 = time.monotonic()
        deadline = t0 + timeout
        seen = "nothing yet"
        while True:
            try:
                ok, seen = self.evaluate(c)
            except (ApiError, LabError, ProbeError, OSError, KeyError, ValueError) as exc:
                ok, seen = False, f"error: {exc}"
            if ok:
                return time.monotonic() - t0
            if time.monotonic() >= deadline:
                raise CheckFailed(f"not true after {timeout:g}s: expected {c.expected()}; "
                                  f"last seen {seen}", c.expected(), seen)
            time.sleep(POLL_INTERVAL)

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


# --------------------------------------------------------------------------- steps

_PLACEHOLDER = re.compile(r"\{(link|policy|vpc):([^{}]*)\}")


class StepRunner:
    def __init__(self, lab: RunningLab, sf: sfile.ScenarioFile, ev: Evaluator):
        self.lab, self.sf, self.ev = lab, sf, ev
        self.client: Client = lab.client

    def summary(self, kind: str, v: dict[str, Any]) -> str:
        if kind in ("wait", "check"):
            return f"{kind} {Check.parse(v, self.sf).summary()}"
        if kind == "api":
            return f"{v['method']} {v['path']}"
        if kind == "propagation":
            return f"propagation {'on' if v['enabled'] else 'off'} {v.get('link', '')}".strip()
        if kind == "fault":
            return f"{v['action']} {v.get('family', 'both')} {v.get('link', '')}".strip()
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
            return _PLACEHOLDER.sub(sub, value)
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

    def _fault(self, v: dict[str, Any]) -> None:
        self.lab.fault(v["action"], v.get("family", "both"), link=v.get("link"))


# --------------------------------------------------------------------------- one file


def _up(sf: sfile.ScenarioFile, lab: str, progress: Progress,
        router: str | None = None) -> RunningLab:
    # The file goes to `up` whole (lab.scenario.parse accepts the runner's keys); `up` follows its
    # `ready:` by itself.
    ref = str(sf.path)
    result = lifecycle.up(ref, lab=lab, timeout=max(30.0, sf.waits["session"]),
                          progress=progress, router=router)
    topo = build_topology(load_scenario(ref), lab)
    return RunningLab(lab, ref, topo, Client.for_lab(lab), result.timings)


def _timed(fn: Callable[[], Any]) -> tuple[float, BaseException | None]:
    t0 = time.monotonic()
    try:
        fn()
    except (CheckFailed, ApiError, LabError, ProbeError, OSError, KeyError,
            ValueError, StopIteration) as exc:
        return time.monotonic() - t0, exc
    return time.monotonic() - t0, None


def _fail(item: ItemResult, exc: BaseException) -> None:
    item.status = "FAIL"
    item.message = str(exc) or type(exc).__name__
    if isinstance(exc, CheckFailed):
        item.expected, item.seen = exc.expected, exc.seen


def _execute(lab: RunningLab, sf: sfile.ScenarioFile, report: FileReport,
             progress: Progress) -> None:
    ev = Evaluator(lab, sf)
    steps = StepRunner(lab, sf, ev)

    def emit(item: ItemResult) -> None:
        report.items.append(item)
        progress(item.line())

    stopped = False
    for i, raw in enumerate(sf.steps):
        kind = next(k for k in sfile.STEP_KINDS if k in raw)
        item = ItemResult("steps", i, kind, raw.get("name") or steps.summary(kind, raw[kind]),
                          "SKIP")
        if not stopped:
            item.duration, exc = _timed(functools.partial(steps.run, kind, raw[kind]))
            item.status = "PASS"
            if exc is not None:
                _fail(item, exc)
                stopped = True
        emit(item)
    checks = [(i, Check.parse(raw, sf)) for i, raw in enumerate(sf.checks)]
    # Positive checks first: negative ones prove something only once those have settled.
    ordered = [x for x in checks if not x[1].negative] + [x for x in checks if x[1].negative]
    for i, c in ordered:
        item = ItemResult("checks", i, c.kind, c.name or c.summary(), "SKIP")
        if not stopped:
            item.duration, exc = _timed(functools.partial(ev.poll, c))
            item.status = "PASS"
            if exc is not None:
                _fail(item, exc)
        emit(item)


def run_file(path: str | Path, lab: str | None = None, keep: bool = False,
             progress: Progress = _quiet, router: str | None = None) -> FileReport:
    """Validate, bring up, run and tear down one scenario file.

    Raises ScenarioFileError for an invalid file (nothing is started); every other problem
    ends up in the report (``error`` for the lab itself, FAIL items for steps and checks).
    """
    sf = sfile.load(path, registry.names())
    lab = lab or new_lab_name()
    report = FileReport(file=str(sf.path), scenario=sf.name, lab=lab, kept=keep)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        progress(f"[{lab}] {msg}")

    say(f"{sf.path.name}: bringing up scenario {sf.name}")
    if lifecycle.is_up(lab):
        # Checked here, not left to `up`: the teardown below must never hit someone's lab.
        raise LabError(f"lab {lab!r} is already up; pick another --lab or run "
                       f"`interlink-lab --lab {lab} down`")
    started = True
    try:
        running = _up(sf, lab, say, router)
        report.up_seconds = time.monotonic() - t0
        say(f"up in {report.up_seconds:.2f}s")
        _execute(running, sf, report, say)
    except (LabError, ApiError, ProbeError, OSError, ScenarioError) as exc:
        report.error = str(exc)
        say(f"ERROR {report.error}")
    finally:
        if started and not keep:
            try:
                lifecycle.down(lab)
            except Exception as exc:
                report.error = report.error or f"down failed: {exc}"
        report.duration = time.monotonic() - t0
    if keep and report.error is None:
        say(f"kept: `interlink-lab --lab {lab} status`, `interlink-lab --lab {lab} down`")
    return report


def run_files(paths: list[str | Path], lab: str | None = None, keep: bool = False,
              progress: Progress = _quiet, router: str | None = None) -> list[FileReport]:
    """Every file is validated first: one invalid file and nothing runs."""
    errors: list[sfile.Issue] = []
    for p in paths:
        try:
            sfile.load(p, registry.names())
        except sfile.ScenarioFileError as e:
            errors += e.issues
    if errors:
        raise sfile.ScenarioFileError(errors)
    if keep and lab and len(paths) > 1:
        raise LabError("--keep with several files needs one lab each: leave out --lab")
    return [run_file(p, lab=lab, keep=keep, progress=progress, router=router) for p in paths]


def iter_failures(reports: list[FileReport]) -> Iterator[str]:
    for r in reports:
        if r.error:
            yield f"{r.file}: {r.error}"
        for it in r.failures:
            yield f"{r.file}: {it.ref} {it.label}: {it.message}"
