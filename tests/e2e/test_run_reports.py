"""`interlink-lab run --junit FILE --artifacts DIR` end to end: a scenario whose capture steps
catch the BGP session re-establishing and whose last check fails; the JUnit XML has the
failure, the artifacts directory the report, the pcaps (decoded with scapy) and the lab's
logs, taken before the lab went down. On each node runtime (the scenario's `runtime:`)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from pcaps import bgp_messages, opens_and_updates

from lab.control import lifecycle
from lab.control.handle import unique_lab_name

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VLAN = 2451  # broken.yaml's link


def test_failing_check_gives_a_failure_element_and_logs(node_runtime: str,
                                                        tmp_path: Path) -> None:
    from scapy.layers.l2 import Dot1Q

    topology = (FIXTURES / "broken.yaml").read_text().split("waits:")[0]
    scenario = tmp_path / "capture-run.yaml"
    scenario.write_text(topology.replace("name: broken", "name: capture-run")
                        + f"runtime: {node_runtime}\n" + """\
waits:
  quick: 1
steps:
  - capture: {node: scw-interlink, bgp: true}
  - capture: {node: partner, iface: scw0, bgp: true, count: 4, file: partner-four.pcap}
  - fault: {action: reset}
  - fault: {action: restore}
  - wait: {link: {status: active, bgp_v4: up, bgp_v6: up}}
checks:
  - link: {status: active}
  - name: a route that never comes
    timeout: quick
    route: {node: vpc-router, prefix: 198.51.100.128/25}
""")
    lab = "cap" + unique_lab_name()[1:]
    junit, artifacts = tmp_path / "junit.xml", tmp_path / "artifacts"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "from lab.cli.main import main; main()", "run",
             str(scenario), "--lab", lab, "--junit", str(junit), "--artifacts", str(artifacts)],
            capture_output=True, text=True, timeout=60, check=False)
    finally:
        lifecycle.down(lab)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "1", "0")
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 7 and all(float(c.get("time", "x")) >= 0 for c in cases)
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["checks[1] a route that never comes"]
    failure = failed[0].find("failure")
    assert failure is not None and "198.51.100.128/25" in failure.get("message", "")
    assert "expected: 198.51.100.128/25 present" in (failure.text or "")
    assert (artifacts / "junit.xml").read_text() == junit.read_text()

    report = json.loads((artifacts / "report.json").read_text())
    [file_report] = report["files"]
    assert report["ok"] is False and file_report["items"][-1]["status"] == "FAIL"
    here = artifacts / "capture-run"
    assert file_report["artifacts"] == str(here)
    assert (here / "logs" / "controller.log").stat().st_size > 0
    assert {Path(p).name for p in file_report["logs"]} >= {"controller.log", "customer.log"}

    scw, partner = here / "scw-interlink.pcap", here / "partner-four.pcap"
    assert [c["path"] for c in file_report["captures"]] == [str(scw), str(partner)]
    assert file_report["captures"][1]["summary"] == "4 packets captured"
    asns, prefixes = opens_and_updates(scw)
    assert asns == {12876, 64512}, asns
    assert {"198.51.100.0/24", "203.0.113.0/24"} <= prefixes, prefixes
    frames = bgp_messages(partner)
    assert len(frames) <= 4 and all(f[Dot1Q].vlan == VLAN for f in frames)
