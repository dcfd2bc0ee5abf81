"""Capture's pure parts and its errors without a lab: tcpdump's command line, the interface
choice, NODE[:IFACE], tcpdump missing (a fake node), the `capture:` step in scenario files."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import lab.cli.capture as cli_capture
from lab.cli.main import cli
from lab.dataplane.capture import Capture, CaptureError, Iface, pick_iface, tcpdump_argv
from lab.dataplane.nodes.base import NodeError
from lab.routers import registry
from lab.scenario.file import validate

BROKEN = Path(__file__).resolve().parents[1] / "e2e" / "fixtures" / "broken.yaml"
TOPOLOGY = BROKEN.read_text().split("waits:")[0]  # a valid one-link lab, no steps

SCW = [Iface("lo", 1), Iface("pe0", 2), Iface("vpc0", 3), Iface("pe0q2451", 4),
       Iface("pe0.2451", 5)]
PARTNER = [Iface("lo", 1), Iface("cust0", 2, "br0"), Iface("scw0", 3, "br0"),
           Iface("br0", 4)]
HOST = [Iface("lo", 1), Iface("eth0", 2)]


def test_tcpdump_argv() -> None:
    assert tcpdump_argv("pe0", bgp=True) == [
        "tcpdump", "-i", "pe0", "-nn", "--immediate-mode", "-U", "-w", "-", "tcp port 179"]
    assert tcpdump_argv("any", count=5, pcap=False) == [
        "tcpdump", "-i", "any", "-nn", "--immediate-mode", "-l", "-e", "-c", "5"]


def test_default_iface_is_where_tags_show() -> None:
    assert pick_iface(SCW, None, "scw-interlink") == "pe0"  # the trunk of pe0.2451
    assert pick_iface(PARTNER, None, "partner") == "cust0"  # the first bridge port
    assert pick_iface(HOST, None, "onprem-host") == "any"
    assert pick_iface(SCW, "pe0.2451", "scw-interlink") == "pe0.2451"
    assert pick_iface(HOST, "any", "onprem-host") == "any"


def test_unknown_iface_lists_the_nodes() -> None:
    with pytest.raises(CaptureError) as e:
        pick_iface(SCW, "eth0", "scw-interlink")
    assert str(e.value) == ("no interface 'eth0' in node scw-interlink "
                            "(interfaces: lo, pe0, vpc0, pe0q2451, pe0.2451, any)")


class NoTcpdump:
    """A node whose image lacks tcpdump (what both runtimes' ``run`` raise then)."""

    name = "docker"

    def run(self, handle: str, argv: Sequence[str], **_: Any) -> subprocess.CompletedProcess[str]:
        raise NodeError(f"{argv[0]} not found in {handle}")

    def spawn(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("never started")


def test_missing_tcpdump_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CaptureError, match=r"tcpdump is not installed in node clab-x-partner"):
        Capture(NoTcpdump(), "clab-x-partner", "cust0", out=1).start()  # type: ignore[arg-type]
    monkeypatch.setattr(cli_capture, "find_node", lambda lab, node: (NoTcpdump(), "h"))
    monkeypatch.setattr(cli_capture, "interfaces", lambda handle: PARTNER)
    r = CliRunner().invoke(cli, ["--lab", "capu", "capture", "partner", "-w", "-"])
    assert r.exit_code == 1
    assert r.output.strip().splitlines() == [
        "interlink-lab: error: tcpdump is not installed in node h (add it to the node's "
        "image)"]


@pytest.mark.parametrize("target", ["", ":pe0", "scw-interlink:"])
def test_bad_target(target: str) -> None:
    r = CliRunner().invoke(cli, ["--lab", "capu", "capture", target])
    assert r.exit_code == 1 and "expected NODE or NODE:IFACE" in r.output


def errors_of(tmp_path: Path, steps: str) -> list[str]:
    p = tmp_path / "s.yaml"
    p.write_text(TOPOLOGY + steps)
    return [str(i) for i in validate(p, registry.names()) if i.severity == "error"]


def test_capture_step_in_scenario_files(tmp_path: Path) -> None:
    ok = ("steps:\n  - capture: {node: scw-interlink, bgp: true}\n"
          "  - capture: {node: partner, iface: scw0, count: 10, duration: 2.5, "
          "file: p.pcap}\n")
    assert errors_of(tmp_path, ok) == []
    [e] = errors_of(tmp_path, "steps:\n  - capture: {node: scw-interlink, filter: icmp}\n")
    assert "unknown key 'filter'" in e
    [e] = errors_of(tmp_path, "steps:\n  - capture: {node: scw-interlnk}\n")
    assert "unknown node 'scw-interlnk'" in e
    [e] = errors_of(tmp_path, "steps:\n  - capture: {node: partner, count: 0}\n")
    assert "0 is less than the minimum of 1" in e
    [e] = errors_of(tmp_path, "steps:\n  - capture: {node: partner, file: ../x.pcap}\n")
    assert "does not match" in e
