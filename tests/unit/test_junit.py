"""JUnit XML of run reports (lab.runner.junit, pure): the structure CI tools read, counts,
timings, failure messages with what was expected and seen, skips and lab errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lab.runner.artifacts import file_dirs, unique
from lab.runner.junit import render
from lab.runner.report import FileReport, ItemResult

# What CI readers need (the common JUnit schema): element -> required attributes.
REQUIRED = {"testsuites": {"tests", "failures", "errors", "time"},
            "testsuite": {"name", "tests", "failures", "errors", "skipped", "time"},
            "testcase": {"name", "classname", "time"},
            "failure": {"message", "type"}, "error": {"message", "type"},
            "skipped": set(), "properties": set(), "property": {"name", "value"},
            "system-out": set()}
CHILDREN = {"testsuites": {"testsuite"},
            "testsuite": {"properties", "testcase", "system-out"},
            "testcase": {"failure", "error", "skipped"}, "properties": {"property"}}


def check_structure(el: ET.Element) -> None:
    assert el.tag in REQUIRED, el.tag
    missing = REQUIRED[el.tag] - set(el.attrib)
    assert not missing, f"<{el.tag}> lacks {missing}"
    for k in ("tests", "failures", "errors", "skipped"):
        if k in el.attrib:
            assert int(el.attrib[k]) >= 0
    if "time" in el.attrib:
        assert float(el.attrib["time"]) >= 0
    for child in el:
        assert child.tag in CHILDREN.get(el.tag, set()), f"<{child.tag}> in <{el.tag}>"
        check_structure(child)
    if el.tag == "testcase":
        assert len(el) <= 1, "one outcome per testcase"


def report() -> FileReport:
    r = FileReport(file="s.yaml", scenario="failover", lab="r1", up_seconds=2.0,
                   duration=9.5, artifacts="/tmp/a/failover")
    r.items = [
        ItemResult("steps", 0, "capture", "capture scw-interlink bgp", "PASS", 0.04),
        ItemResult("steps", 1, "fault", "cut both", "PASS", 0.2),
        ItemResult("checks", 0, "route", "backup takes over", "FAIL", 30.01,
                   "not true after 30s", expected="198.51.100.0/24 via link-b",
                   seen="198.51.100.0/24 absent"),
        ItemResult("checks", 1, "traffic", "traffic <passes>", "SKIP"),
    ]
    r.captures = [{"node": "scw-interlink", "iface": "pe0", "path": "/tmp/a/x.pcap",
                   "summary": "12 packets captured"}]
    return r


def test_one_testcase_per_item_with_timing_and_failure() -> None:
    text = render([report()])
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites")
    root = ET.fromstring(text)
    check_structure(root)
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == {
        "tests": "4", "failures": "1", "errors": "0", "skipped": "1", "time": "9.500"}
    [suite] = root
    assert (suite.get("name"), suite.get("file")) == ("failover", "s.yaml")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name"), c.get("time")) for c in cases] == [
        ("failover.steps", "steps[0] capture scw-interlink bgp", "0.040"),
        ("failover.steps", "steps[1] cut both", "0.200"),
        ("failover.checks", "checks[0] backup takes over", "30.010"),
        ("failover.checks", "checks[1] traffic <passes>", "0.000")]  # escaped, not broken
    failure = cases[2].find("failure")
    assert failure is not None
    assert (failure.get("message"), failure.get("type")) == ("not true after 30s", "route")
    assert failure.text == ("not true after 30s\nexpected: 198.51.100.0/24 via link-b\n"
                            "seen: 198.51.100.0/24 absent")
    assert cases[3].find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"lab": "r1", "artifacts": "/tmp/a/failover"}
    out = suite.find("system-out")
    assert out is not None and "/tmp/a/x.pcap (12 packets captured)" in (out.text or "")


def test_a_lab_that_did_not_come_up_is_an_error() -> None:
    bad = FileReport(file="b.yaml", scenario="b", lab="r2", error="up failed: no exabgp",
                     up_seconds=1.25, duration=1.5)
    root = ET.fromstring(render([report(), bad]))
    check_structure(root)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    suite = root.findall("testsuite")[1]
    [case] = suite.findall("testcase")
    assert (case.get("name"), case.get("time")) == ("up", "1.250")
    err = case.find("error")
    assert err is not None and err.get("message") == "up failed: no exabgp"


def test_no_reports_is_an_empty_valid_document() -> None:
    root = ET.fromstring(render([]))
    check_structure(root)
    assert (root.get("tests"), len(root)) == ("0", 0)


def test_artifact_names_never_clash(tmp_path: Path) -> None:
    assert file_dirs(tmp_path, ["a", "b", "a"]) == [tmp_path / "a", tmp_path / "b",
                                                     tmp_path / "a-2"]
    assert unique(tmp_path, "x.pcap") == tmp_path / "x.pcap"
    (tmp_path / "x.pcap").touch()
    (tmp_path / "x-2.pcap").touch()
    assert unique(tmp_path, "x.pcap") == tmp_path / "x-3.pcap"
