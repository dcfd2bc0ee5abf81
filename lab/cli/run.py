"""`interlink-lab run FILE...`: up, steps, checks, down; PASS/FAIL per item; exit 0/1/2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lab.cli.output import echo_json, table
from lab.control.labdir import check_lab_name
from lab.routers import registry
from lab.runner import junit
from lab.runner import run as runner
from lab.runner.artifacts import report_json, write_reports
from lab.runner.report import iter_failures
from lab.scenario import document

EXIT_FAILED, EXIT_INVALID = 1, 2


@click.command("run")
@click.argument("files", nargs=-1, required=True)
@click.option("--lab", "lab", default=None,
              help="Lab name, here or before the verb (default: a fresh one per file, so a "
                   "running lab is never hit).")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (to inspect it).")
@click.option("--router", type=click.Choice(registry.names()), default=None,
              help="Run every customer router of the files on this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the reports as JUnit XML to FILE (for CI).")
@click.option("--artifacts", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR",
              help="Collect into DIR: report.json, junit.xml, captures, and the lab's logs "
                   "when something failed (a subdirectory per scenario).")
@click.pass_context
def run(ctx: click.Context, files: tuple[str, ...], lab: str | None, keep: bool,
        router: str | None, as_json: bool, junit_file: Path | None,
        artifacts: Path | None) -> None:
    """Run scenario FILES (paths or shipped names): bring the lab up, run the steps in order,
    then the checks, and tear it down. Progress goes to stderr, the summary to stdout.

    Exit 0 if everything passed, 1 if a step or check failed, 2 if a file is invalid.
    """
    root = ctx.find_root().obj
    if lab is None and root.get("lab_given"):  # `--lab X run` or ILAB_LAB
        lab = root["lab"]
    if lab is not None:
        check_lab_name(lab)

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    try:
        reports = runner.run_files(list(files), lab=lab, keep=keep, progress=progress,
                                   router=router,
                                   artifacts=artifacts.resolve() if artifacts else None)
    except document.ScenarioFileError as e:
        for issue in e.issues:
            click.echo(str(issue), err=True)
        sys.exit(EXIT_INVALID)
    ok = all(r.ok for r in reports)
    if junit_file is not None:
        junit_file.write_text(junit.render(reports))
    if artifacts is not None:
        write_reports(artifacts, reports)
        progress(f"artifacts in {artifacts}")
    if as_json:
        echo_json(report_json(reports))
    else:
        rows = []
        for r in reports:
            rows.append(["UP" if r.error is None else "ERROR", r.scenario, "up",
                         f"{r.up_seconds:.2f}"])
            rows += [[it.status, r.scenario, f"{it.ref} {it.label}", f"{it.duration:.2f}"]
                     for it in r.items]
        click.echo(table(["RESULT", "SCENARIO", "ITEM", "SECONDS"], rows))
        passed = sum(it.status == "PASS" for r in reports for it in r.items)
        total = sum(len(r.items) for r in reports)
        click.echo(f"{passed}/{total} passed in {sum(r.duration for r in reports):.1f}s")
        for line in iter_failures(reports):
            click.echo(f"FAILED {line}", err=True)
    if not ok:
        sys.exit(EXIT_FAILED)
