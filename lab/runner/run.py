"""Run scenario files: up, steps in order, checks, down; a PASS/FAIL line per item (I/O).

Semantics (the format is in lab/scenario/schema.json):

- Steps run in order; the first failing step ends the file (the rest is SKIP).
- A check is polled until it passes or its timeout expires (``timeout:``, default the
  ``convergence`` wait); a failure names it (``name:`` or ``checks[3]``) and shows what was
  expected and what was last seen.
- In the ``checks:`` section the negative checks (route ``present: false``, traffic
  ``expect: block``) run after the positive ones have passed: a route that is absent because
  it has not arrived yet proves nothing, one still absent once its siblings are installed does.

Public API: ``run_file``, ``run_files``, ``FileReport``, ``ItemResult``.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.control import lifecycle
from lab.control.client import ApiError
from lab.control.handle import RunningLab
from lab.control.labdir import LabError
from lab.dataplane.probes import ProbeError
from lab.routers import registry
from lab.runner.artifacts import DEFAULT_DIR, collect_logs, file_dirs
from lab.runner.checks import Check, CheckFailed, Evaluator
from lab.runner.report import FileReport, ItemResult
from lab.runner.steps import StepRunner
from lab.scenario import document
from lab.scenario import file as sfile
from lab.scenario.model import ScenarioError

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def new_lab_name() -> str:
    return "r" + secrets.token_hex(3)


def _up(sf: document.ScenarioFile, lab: str, progress: Progress,
        router: str | None = None) -> RunningLab:
    # The file goes to `up` whole (the parser accepts the runner's keys); `up` follows its
    # `ready:` by itself.
    return RunningLab.up(str(sf.path), lab, router=router, progress=progress,
                         timeout=max(30.0, sf.waits["session"]))


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


def _execute(lab: RunningLab, sf: document.ScenarioFile, report: FileReport,
             progress: Progress, artifacts: Path) -> None:
    ev = Evaluator(lab, sf)
    steps = StepRunner(lab, sf, ev, artifacts)
    try:
        _items(steps, ev, sf, report, progress)
    finally:  # captures end with the run, before the lab goes down
        for c in steps.close():
            report.captures.append(c)
            progress(f"capture {c['node']}:{c['iface']} saved {c['path']} ({c['summary']})")


def _items(steps: StepRunner, ev: Evaluator, sf: document.ScenarioFile, report: FileReport,
           progress: Progress) -> None:

    def emit(item: ItemResult) -> None:
        report.items.append(item)
        progress(item.line())

    stopped = False
    for i, raw in enumerate(sf.steps):
        kind = next(k for k in document.STEP_KINDS if k in raw)
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
             progress: Progress = _quiet, router: str | None = None,
             artifacts: Path | None = None) -> FileReport:
    """Validate, bring up, run and tear down one scenario file.

    Raises ScenarioFileError for an invalid file (nothing is started); every other problem
    ends up in the report (``error`` for the lab itself, FAIL items for steps and checks).
    ``artifacts``: the file's artifacts directory (its captures; the lab's logs when something
    failed); without it captures go to ./interlink-lab-artifacts/<scenario> and no log is kept.
    """
    sf = sfile.load(path, registry.names())
    lab = lab or new_lab_name()
    report = FileReport(file=str(sf.path), scenario=sf.name, lab=lab, kept=keep,
                        artifacts=str(artifacts) if artifacts is not None else None)
    where = artifacts if artifacts is not None else Path.cwd() / DEFAULT_DIR / sf.name
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
        _execute(running, sf, report, say, where)
    except (LabError, ApiError, ProbeError, OSError, ScenarioError) as exc:
        report.error = str(exc)
        say(f"ERROR {report.error}")
    finally:
        if artifacts is not None and not report.ok:
            # Before `down`, which removes the lab's directory and its logs with it.
            report.logs = collect_logs(lab, artifacts)
            if report.logs:
                say(f"{len(report.logs)} logs kept in {artifacts / 'logs'}")
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
              progress: Progress = _quiet, router: str | None = None,
              artifacts: Path | None = None) -> list[FileReport]:
    """Every file is validated first: one invalid file and nothing runs. ``artifacts``: the
    run's directory, a subdirectory per file (lab.runner.artifacts)."""
    errors: list[document.Issue] = []
    names = []
    for p in paths:
        try:
            names.append(sfile.load(p, registry.names()).name)
        except document.ScenarioFileError as e:
            errors += e.issues
    if errors:
        raise document.ScenarioFileError(errors)
    if keep and lab and len(paths) > 1:
        raise LabError("--keep with several files needs one lab each: leave out --lab")
    dirs: list[Path | None] = (list(file_dirs(artifacts, names)) if artifacts is not None
                               else [None] * len(paths))
    return [run_file(p, lab=lab, keep=keep, progress=progress, router=router, artifacts=d)
            for p, d in zip(paths, dirs, strict=True)]
