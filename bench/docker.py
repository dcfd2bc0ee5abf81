"""The docker runtime's figures (`make bench`): `up --runtime docker` to active + traffic with
the images present, `down`, and the one-time image build from nothing (debootstrap, docker
import, docker build: a cold cache directory, so every stage runs)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lab.control import lifecycle
from lab.dataplane.docker import engine, images
from lab.dataplane.state import state_root


def run(runs: int, lab: str, build: bool = True) -> dict[str, Any]:
    client = engine.connect(state_root(), None)
    out: dict[str, Any] = {"up_s": [], "down_s": []}
    if build:
        with tempfile.TemporaryDirectory(prefix="ilab-bench-images-") as cache:
            t0 = time.perf_counter()
            images.build(client, Path(cache), lambda m: print(f"  {m}", file=sys.stderr),
                         force=True)
            out["image_build_s"] = time.perf_counter() - t0
    images.ensure(client, state_root() / "images", None)  # present before the timed runs
    for i in range(runs):
        t0 = time.perf_counter()
        lifecycle.up("basic", lab=lab, runtime_name="docker")
        out["up_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        lifecycle.down(lab)
        out["down_s"].append(time.perf_counter() - t0)
        # down leaves the private engine exiting on its own (~1 s); the next up starts a new
        # one (~0.7 s, inside its time) but should not also wait for this one to go
        engine.release(state_root(), wait=True)
        print(f"  docker up/down run {i + 1}/{runs}: up {out['up_s'][-1]:.3f}s "
              f"down {out['down_s'][-1]:.3f}s", file=sys.stderr)
    return out


def rows(r: dict[str, Any]) -> list[tuple[str, float, str, str]]:
    if not r:
        return []
    ups, downs = r["up_s"], r["down_s"]
    out = [
        ("up --runtime docker -> active + traffic (median)", statistics.median(ups), "<= 3 s",
         f"{len(ups)} runs, images present, engine started by up; min {min(ups):.3f} "
         f"max {max(ups):.3f}"),
        ("down, docker runtime (median)", statistics.median(downs), "<= 1.5 s",
         f"max {max(downs):.3f}; the private engine exits after"),
    ]
    if "image_build_s" in r:
        out.append(("image build, from nothing (debootstrap + import + build)",
                    r["image_build_s"], "", "one-time; `make images`"))
    return out
