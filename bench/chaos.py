"""Chaos: kill a random process of a running lab, at a random moment, and check the lab's word.

Each round (``run``):
1. the lab is healthy (every link active, the VPC table as the policies allow);
2. sometimes a load starts in the background: a policy change or a 10k-prefix announcement
   (or its withdrawal);
3. after a random delay, one process is killed with SIGKILL: a Scaleway speaker, a customer
   router daemon (any of the kind's processes), or the controller; or an ExaBGP's API bridge
   (a thread of it) is respawned empty, with ExaBGP's SIGUSR2;
4. within ``truth_deadline`` the controller's statuses must equal the sessions on the wire
   and the VPC table must hold exactly what the policies allow over live sessions
   (lab.control.truth, which reads sockets and kernel tables, not the controller); during
   a 10k-prefix load, plus the time the slowest customer router takes to send them;
5. what the user would do next, if anything: ``fault restore`` after a customer daemon died,
   ``controller start`` after the controller died; the Scaleway side heals by itself. The
   lab must be healthy (and truthful) again within ``heal_deadline``, and stay truthful for
   ``settle`` seconds (a lie that starts late, after a process respawns, is caught there).

The report counts rounds and faults per kind, the worst time to truth and to health, and every
disagreement that outlived its deadline. ``python -m bench.chaos --rounds 100`` is the long form
(`make bench` runs it); tests/e2e/test_chaos.py runs a short one.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from controller.drivers.procs import process_alive
from controller.drivers.speaker import respawn_bridge
from lab.control import labdir, lifecycle, truth
from lab.control.client import ApiError, Client
from lab.control.handle import RunningLab, unique_lab_name
from lab.control.labdir import LabError
from lab.dataplane.nodes import runtime
from lab.routers import registry

BULK_RANGE = "100.64.0.0/16"  # 10k /30s live in it
# The slowest customer's pace (ExaBGP's, ~2k routes/s measured): a round with a bulk load
# gets its sending time on top of the truth deadline. The oracle compares the VPC table with
# what the customer was told to announce, which its router may still be sending.
CUSTOMER_ROUTES_PER_S = 2000
BULK_COUNT = 10_000
REGION = truth.REGION


@dataclass
class Report:
    router: str
    rounds: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    loads: Counter[str] = field(default_factory=Counter)
    time_to_truth: list[float] = field(default_factory=list)
    time_to_healthy: list[float] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d["faults"], d["loads"] = dict(self.faults), dict(self.loads)
        d["worst_time_to_truth"] = max(self.time_to_truth, default=0.0)
        d["worst_time_to_healthy"] = max(self.time_to_healthy, default=0.0)
        del d["time_to_truth"], d["time_to_healthy"]
        return d


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace")
                for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def classify(cmdline: list[str]) -> str | None:
    """What a lab process is, by its command line (None: not a target)."""
    text = " ".join(cmdline)
    if "exabgp" in text and " server " in f" {text} ":
        return "exabgp"
    prog = os.path.basename(cmdline[0]) if cmdline else ""
    if prog in ("bgpd", "zebra", "bird", "watchfrr", "staticd", "mgmtd"):
        return prog
    return None


def targets(lab: str, nodes: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Kill targets by kind: ``scw-exabgp``, ``scw-bridge``, ``customer-<proc>``, ``controller``."""
    by_role = {n["netns"]: n["role"] for n in nodes}
    out: dict[str, list[int]] = {}
    for netns, pids in runtime().pids(list(by_role)).items():
        side = "scw" if by_role[netns] == "scw-interlink" else (
            "customer" if by_role[netns] == "customer-router" else None)
        if side is None:
            continue
        for pid in pids:
            what = classify(_cmdline(pid))
            if what is not None:
                out.setdefault(f"{side}-{what}", []).append(pid)
            if what == "exabgp":  # its bridge is a thread of it, respawned by a signal
                out.setdefault(f"{side}-bridge", []).append(pid)
    with contextlib.suppress(labdir.LabError):
        out["controller"] = [labdir.api_info(lab).pid]
    return out


def _bulk() -> list[str]:
    nets = ipaddress.ip_network(BULK_RANGE).subnets(new_prefix=30)
    return [str(n) for _, n in zip(range(BULK_COUNT), nets, strict=False)]


class Chaos:
    def __init__(self, lab: RunningLab, rng: random.Random, *, truth_deadline: float,
                 heal_deadline: float, settle: float = 2.0, log: Callable[[str], None]):
        self.lab, self.rng, self.log = lab, rng, log
        self.truth_deadline, self.heal_deadline = truth_deadline, heal_deadline
        self.settle = settle  # how long a healed lab must stay truthful
        self.view = truth.Lab(lab.client)
        self.book = self._announced_now()  # what the customer is asked to announce
        self.bulk = _bulk()
        self.report = Report(router="")
        self._cycle: list[str] = []
        self.spare: frozenset[str] = frozenset()  # kinds of process never killed

    def _announced_now(self) -> set[str]:
        routes = self.lab.client.get("/lab/v1/customer/routes")
        return {r["prefix"] for r in routes.get("announced", [])}

    def announced(self) -> set[str]:
        return self.book

    def _reread_book(self) -> None:
        # A load refused by a dead router left the book as it was: the book decides.
        with contextlib.suppress(ApiError, LabError, OSError):
            self.book = self._announced_now()

    # --- loads ---------------------------------------------------------------------------
    def _v4_policy(self) -> dict[str, Any]:
        link = self.view.links()[0]
        return self.view.policies()[link["routing_policy_v4_id"]]

    def _load(self) -> tuple[str, Callable[[], None]] | None:
        pick = self.rng.random()
        if pick < 0.25:
            pol = self._v4_policy()
            flt = list(pol["prefix_filter_in"])
            flt = [p for p in flt if p != BULK_RANGE] if BULK_RANGE in flt else [*flt, BULK_RANGE]

            def change() -> None:
                self.lab.client.patch(f"{REGION}/routing-policies/{pol['id']}",
                                      {"prefix_filter_in": flt})
            return "policy-change", change
        if pick < 0.5:
            on = not set(self.bulk) <= self.book

            def bulk() -> None:
                if on:
                    self.lab.announce(*self.bulk)
                else:
                    self.lab.withdraw(*self.bulk)
            return ("announce-10k" if on else "withdraw-10k"), bulk
        return None

    # --- one round -------------------------------------------------------------------------
    def _healthy(self) -> truth.Reading | None:
        r = truth.agrees(self.view, self.announced())
        if r is None or any(lk["status"] != "active" for lk in r.links):
            return None
        return r

    def _wait(self, check: Callable[[], Any], deadline: float) -> float | None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline:
            try:
                if check():
                    return time.monotonic() - t0
            except (ApiError, LabError, OSError):
                pass  # the controller is restarting: keep polling
            time.sleep(0.05)
        return None

    def _stays_truthful(self, duration: float) -> str | None:
        """The first consistent reading with problems within ``duration`` (a lie that shows
        only after a respawn, say), or None."""
        end = time.monotonic() + duration
        while time.monotonic() < end:
            with contextlib.suppress(ApiError, LabError, OSError):
                r = truth.snapshot(self.view, self.announced())
                if r.consistent and r.problems:
                    return "; ".join(r.problems)
            time.sleep(0.05)
        return None

    def _last_problems(self) -> str:
        try:
            r = truth.snapshot(self.view, self.announced())
        except (ApiError, LabError, OSError) as e:
            return f"(no reading: {e})"
        said = ", ".join(f"{lk['name']} {lk['status']} v4 {lk['bgp_v4_status']} v6 "
                         f"{lk['bgp_v6_status']}" for lk in r.links)
        return "; ".join(r.problems) or f"(truthful, but: {said})"

    def _recover(self, kind: str) -> None:
        if kind == "controller":
            lifecycle.start_controller(self.lab.name)
            self.lab.client = Client.for_lab(self.lab.name)
            self.view = truth.Lab(self.lab.client)
            self._reread_book()  # a load cut short by the kill: the stored book decides
        elif kind.startswith("customer-"):
            self.lab.client.post("/lab/v1/faults/restore", {})

    def _next_kind(self, kinds: dict[str, list[int]]) -> str:
        # Every kind in turn, in a shuffled order per cycle: a short run still hits them all.
        if not self._cycle:
            self._cycle = sorted(kinds)
            self.rng.shuffle(self._cycle)
        kind = self._cycle.pop()
        return kind if kind in kinds else self.rng.choice(sorted(kinds))

    def round(self, n: int) -> bool:
        """One round; False when the lab was not healthy to begin with (stop there)."""
        rep = self.report
        if self._wait(self._healthy, self.heal_deadline) is None:
            rep.disagreements.append(f"round {n}: not healthy before the fault: "
                                     f"{self._last_problems()}")
            return False
        kinds = {k: v for k, v in targets(self.lab.name, self.view.nodes()).items()
                 if k not in self.spare}
        kind = self._next_kind(kinds)
        load = self._load()
        worker = None
        if load is not None:
            rep.loads[load[0]] += 1
            worker = threading.Thread(target=self._run_load, args=load, daemon=True)
            worker.start()
        time.sleep(self.rng.uniform(0.0, 0.4))  # the random moment of the fault
        pid = self.rng.choice(kinds[kind])
        with contextlib.suppress(ProcessLookupError):
            if kind.endswith("-bridge"):
                respawn_bridge(pid)
            else:
                os.kill(pid, signal.SIGKILL)
        rep.faults[kind] += 1
        t_kill = time.monotonic()
        if worker is not None:
            worker.join(timeout=60)
        self._reread_book()
        if kind == "controller":
            # SIGKILL is delivered asynchronously: restart once it is really gone
            if self._wait(lambda: not process_alive(pid), 5.0) is None:
                rep.disagreements.append(f"round {n}: the controller (pid {pid}) survived "
                                         "SIGKILL for 5 s")
                return False
            self._recover(kind)
        deadline = self.truth_deadline
        if load is not None and load[0].endswith("-10k"):
            deadline += len(self.bulk) / CUSTOMER_ROUTES_PER_S
        took = self._wait(lambda: truth.agrees(self.view, self.announced()), deadline)
        if took is None:
            rep.disagreements.append(f"round {n} ({kind}, {load and load[0]}): no truth within "
                                     f"{deadline:g}s: {self._last_problems()}")
        else:
            rep.time_to_truth.append(time.monotonic() - t_kill)
        if kind != "controller":
            self._recover(kind)
        self._reread_book()
        healed = self._wait(self._healthy, self.heal_deadline)
        if healed is None:
            rep.disagreements.append(f"round {n} ({kind}): not healthy within "
                                     f"{self.heal_deadline:g}s: {self._last_problems()}")
        else:
            rep.time_to_healthy.append(time.monotonic() - t_kill)
            lie = self._stays_truthful(self.settle)
            if lie:
                rep.disagreements.append(f"round {n} ({kind}): healthy, then within "
                                         f"{self.settle:g}s: {lie}")
        rep.rounds += 1
        self.log(f"  round {n}: {kind}{' during ' + load[0] if load else ''}: truth "
                 f"{'-' if took is None else f'{rep.time_to_truth[-1]:.2f}s'}, healthy "
                 f"{'-' if healed is None else f'{rep.time_to_healthy[-1]:.2f}s'}")
        return True

    def _run_load(self, _name: str, fn: Callable[[], None]) -> None:
        # its target may be killed under it: a clear error is all we ask then
        with contextlib.suppress(ApiError, LabError, OSError):
            fn()


def run(rounds: int, *, router: str = "exabgp", seed: int | None = None,
        truth_deadline: float = 5.0, heal_deadline: float = 20.0,
        spare: frozenset[str] = frozenset(),
        log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Report:
    seed = seed if seed is not None else random.randrange(1 << 30)
    lab = RunningLab.up("basic", unique_lab_name(), hold_time=3, router=router)
    try:
        chaos = Chaos(lab, random.Random(seed), truth_deadline=truth_deadline,
                      heal_deadline=heal_deadline, log=log)
        chaos.spare = spare
        chaos.report.router = router
        log(f"chaos: lab {lab.name}, router {router}, seed {seed}, {rounds} rounds")
        for n in range(1, rounds + 1):
            if not chaos.round(n):
                break
        return chaos.report
    finally:
        lifecycle.down(lab.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chaos")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--router", action="append", help="customer router kind(s); default all")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--json", type=Path, help="write the report here")
    args = ap.parse_args(argv)
    kinds = args.router or [k.name for k in registry.kinds() if k.available()]
    reports = [run(args.rounds, router=k, seed=args.seed).summary() for k in kinds]
    print_table(reports)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))
    return 1 if any(r["disagreements"] for r in reports) else 0


def print_table(reports: list[dict[str, Any]]) -> None:
    print(f"{'router':8} {'rounds':>6} {'worst truth':>12} {'worst healthy':>14} "
          f"{'disagreements':>14}  faults")
    for r in reports:
        print(f"{r['router']:8} {r['rounds']:6} {r['worst_time_to_truth']:11.2f}s "
              f"{r['worst_time_to_healthy']:13.2f}s {len(r['disagreements']):14}  "
              + ", ".join(f"{k}={v}" for k, v in sorted(r["faults"].items())))
        for d in r["disagreements"]:
            print(f"  ! {d}")


if __name__ == "__main__":
    sys.exit(main())
