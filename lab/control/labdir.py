"""Where a lab keeps its files: ``$ILAB_STATE_DIR`` (default /run/interlink-lab) / <lab>/."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.drivers.procs import process_alive
from lab.dataplane.state import state_root

DEFAULT_LAB = "ilab"
LAB_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


class LabError(RuntimeError):
    """A user-facing failure: the CLI prints the message on one line and exits non-zero."""


def check_lab_name(lab: str) -> str:
    # Short and simple: namespace names are "<lab>-<node>" and interface names derive from it.
    if not LAB_NAME_RE.match(lab):
        raise LabError(f"invalid lab name {lab!r}: 1-12 lowercase letters/digits, letter first")
    return lab


def root_dir() -> Path:
    return state_root()


def lab_dir(lab: str) -> Path:
    return root_dir() / check_lab_name(lab)


@dataclass(frozen=True)
class ApiInfo:
    url: str
    token: str
    pid: int


def write_json(path: Path, data: Any) -> None:
    """Atomic write: readers never see a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold the API secret
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def api_info(lab: str) -> ApiInfo:
    path = lab_dir(lab) / "api.json"
    try:
        d = read_json(path)
    except FileNotFoundError:
        raise LabError(f"lab {lab!r} is not up (no {path}); run `interlink-lab up`") from None
    return ApiInfo(url=d["url"], token=d["token"], pid=int(d["pid"]))


pid_alive = process_alive  # the lab's name for it
