"""A Scaleway speaker killed or its bridge respawned: how fast the controller notices and heals.

``python -m bench.heal [--runs N]`` brings up a `basic` lab and, N times each, kills with
SIGKILL the link's ExaBGP (`speaker`) or has it respawn its API bridge empty (`bridge`,
ExaBGP's SIGUSR2), then times from the fault:
both sessions reported down by the API (`down`), the customer routes gone from the VPC table
(`flushed`), and the link active again with its routes back (`active`). A session up ends
a series of losses (controller.core.liveness), so runs 1 s apart do not back off.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from controller.drivers.speaker import respawn_bridge
from controller.service.ports import speaker_name
from lab.control import lifecycle
from lab.control.handle import RunningLab, unique_lab_name


def _fault(pid: int, what: str) -> None:
    if what == "speaker":
        os.kill(pid, signal.SIGKILL)
    else:
        respawn_bridge(pid)


def once(lab: RunningLab, what: str, deadline: float = 20.0) -> dict[str, float]:
    pid = lab.speaker_pid(speaker_name(lab.link()["id"]))
    t0 = time.monotonic()
    _fault(pid, what)
    seen: dict[str, float] = {}
    while "active" not in seen and time.monotonic() - t0 < deadline:
        lk, vpc = lab.link(), lab.routes("vpc-router")
        now = time.monotonic() - t0
        if lk["bgp_v4_status"] == lk["bgp_v6_status"] == "down":
            seen.setdefault("down", now)
        if not vpc:
            seen.setdefault("flushed", now)
        if "down" in seen and lk["status"] == "active" and len(vpc) == 2:
            seen["active"] = now
        time.sleep(0.01)
    return seen


def run(runs: int = 5) -> dict[str, dict[str, list[float]]]:
    """what (speaker, bridge) -> measure (down, flushed, active) -> seconds, one per run."""
    name = unique_lab_name()
    out: dict[str, dict[str, list[float]]] = {}
    try:
        lab = RunningLab.up("basic", name, hold_time=3)
        for what in ("speaker", "bridge"):
            results = []
            for i in range(runs):
                time.sleep(1.0)  # spacing between two kills, not a wait for anything
                results.append(once(lab, what))
                print(what, i, {k: round(v, 3) for k, v in results[-1].items()}, flush=True)
            out[what] = {key: [r[key] for r in results if key in r]
                         for key in ("down", "flushed", "active")}
    finally:
        lifecycle.down(name)
    return out


def rows(res: dict[str, dict[str, list[float]]]) -> list[tuple[str, float, str, str]]:
    """Rows for bench/run.py's table: medians, with max and count in the notes."""
    out = []
    for what, measures in res.items():
        for key, vals in measures.items():
            if vals:
                fault = "speaker killed" if what == "speaker" else "bridge respawned"
                out.append((f"Scaleway {fault} -> {key} (median)",
                            statistics.median(vals), "<= 1 s" if key != "active" else "",
                            f"max {max(vals):.3f}, {len(vals)} runs"))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.heal")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    for name, value, target, notes in rows(run(args.runs)):
        print(f"{name:<45} {value:7.3f}s  {target:<7} {notes}")


if __name__ == "__main__":
    main()
