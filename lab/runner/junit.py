"""Run reports as JUnit XML for CI (pure): one <testsuite> per scenario file, one <testcase>
per step and check with its time, <failure> carrying the message and what was expected and
seen, <skipped> for what did not run; a file whose lab did not come up (or go down) has an
``up`` testcase with an <error>.

The shape is the one CI tools read (Jenkins, GitLab, GitHub's test reporters): testsuites >
testsuite(name, tests, failures, errors, skipped, time) > testcase(classname, name, time).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from lab.runner.report import FileReport, ItemResult


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _case(suite: ET.Element, report: FileReport, item: ItemResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{report.scenario}.{item.section}",
                         name=f"{item.ref} {item.label}", time=_seconds(item.duration))
    if item.status == "FAIL":
        fail = ET.SubElement(case, "failure", message=item.message, type=item.kind)
        detail = [item.message]
        if item.expected is not None:
            detail.append(f"expected: {item.expected}")
        if item.seen is not None:
            detail.append(f"seen: {item.seen}")
        fail.text = "\n".join(detail)
    elif item.status == "SKIP":
        ET.SubElement(case, "skipped", message="not run: an earlier step failed")


def suite(report: FileReport) -> ET.Element:
    """The <testsuite> of one file's run."""
    failures = sum(i.status == "FAIL" for i in report.items)
    skipped = sum(i.status == "SKIP" for i in report.items)
    errors = int(report.error is not None)
    el = ET.Element("testsuite", name=report.scenario, file=report.file,
                    tests=str(len(report.items) + errors), failures=str(failures),
                    errors=str(errors), skipped=str(skipped), time=_seconds(report.duration))
    props = ET.SubElement(el, "properties")
    ET.SubElement(props, "property", name="lab", value=report.lab)
    if report.artifacts:
        ET.SubElement(props, "property", name="artifacts", value=report.artifacts)
    if report.error is not None:
        case = ET.SubElement(el, "testcase", classname=f"{report.scenario}.lab", name="up",
                             time=_seconds(report.up_seconds))
        err = ET.SubElement(case, "error", message=report.error, type="lab")
        err.text = report.error
    for item in report.items:
        _case(el, report, item)
    if report.captures:
        out = ET.SubElement(el, "system-out")
        out.text = "\n".join(f"capture {c['node']}:{c['iface']}: {c['path']} ({c['summary']})"
                             for c in report.captures)
    return el


def render(reports: Sequence[FileReport], name: str = "interlink-lab") -> str:
    """The whole run's JUnit XML document (UTF-8, with its declaration)."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for r in reports:
        el = suite(r)
        for k in totals:
            totals[k] += int(el.get(k, "0"))
        seconds += r.duration
        root.append(el)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", _seconds(seconds))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
