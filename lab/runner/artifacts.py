"""A run's artifacts directory (I/O): per scenario file a directory holding its captures and,
when a step or check failed, a copy of the lab's logs (controller, speakers, customer routers)
taken before the lab goes down; at the top the run's report (``report.json``, the same as
``run --json``) and its JUnit XML (``junit.xml``).

    DIR/report.json  DIR/junit.xml
    DIR/<scenario>/<node>[-<iface>].pcap
    DIR/<scenario>/logs/controller.log, logs/speakers/<speaker>.log, ...
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.control.labdir import lab_dir
from lab.runner import junit
from lab.runner.report import FileReport

DEFAULT_DIR = "interlink-lab-artifacts"  # under the working directory: captures without --artifacts


def unique(directory: Path, name: str) -> Path:
    """``directory/name``, or ``name`` with -2, -3... before its suffix if that is taken."""
    path = directory / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while path.exists():
        path = directory / f"{stem}-{n}{suffix}"
        n += 1
    return path


def file_dirs(root: Path, scenarios: Sequence[str]) -> list[Path]:
    """One directory per file, named after its scenario (-2, -3... for a name run twice)."""
    seen: dict[str, int] = {}
    out = []
    for name in scenarios:
        seen[name] = seen.get(name, 0) + 1
        out.append(root / (name if seen[name] == 1 else f"{name}-{seen[name]}"))
    return out


def collect_logs(lab: str, dest: Path) -> list[str]:
    """Copy every log of the lab's state directory under ``dest/logs`` (same layout)."""
    src = lab_dir(lab)
    out = []
    for log in sorted(src.rglob("*.log")):
        target = dest / "logs" / log.relative_to(src)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
        except OSError:
            continue  # a log going away with its daemon: the others still help
        out.append(str(target))
    return out


def report_json(reports: Sequence[FileReport]) -> dict[str, Any]:
    """What `run --json` prints and report.json holds."""
    return {"ok": all(r.ok for r in reports), "files": [r.to_json() for r in reports]}


def write_reports(root: Path, reports: Sequence[FileReport]) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / "report.json", root / "junit.xml"]
    paths[0].write_text(json.dumps(report_json(reports), indent=2, sort_keys=True) + "\n")
    paths[1].write_text(junit.render(reports))
    return paths
