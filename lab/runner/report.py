"""What a scenario run reports: one ItemResult per step or check, one FileReport per file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


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
    artifacts: str | None = None  # the file's artifacts directory (captures, logs on failure)
    # Each capture step's pcap: {"path", "node", "iface", "summary"} (tcpdump's count).
    captures: list[dict[str, str]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # lab logs copied there (on failure)

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


def iter_failures(reports: list[FileReport]) -> Iterator[str]:
    for r in reports:
        if r.error:
            yield f"{r.file}: {r.error}"
        for it in r.failures:
            yield f"{r.file}: {it.ref} {it.label}: {it.message}"
