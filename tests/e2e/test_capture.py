"""`interlink-lab capture` end to end, on each node runtime: a BGP session establishing caught
on the scw-interlink trunk and decoded with scapy (OPEN and UPDATE, 802.1Q tags), decoded
lines, --count / --duration / Ctrl-C endings (tcpdump reaped every time), clear errors.

One lab per runtime (hold time 3 s); the CLI runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pcaps import bgp_messages, opens_and_updates

from lab.control.handle import RunningLab, unique_lab_name
from lab.dataplane.nodes import runtime
from lab.testing.plugin import LabFactory

CLI = [sys.executable, "-c", "from lab.cli.main import main; main()"]
VLAN = 2451  # basic.yaml's link


@pytest.fixture(scope="module")
def lab(node_runtime: str) -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3, runtime_name=node_runtime,
                   name="cap" + node_runtime[:3] + unique_lab_name()[1:])


def cli(lab: RunningLab, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--lab", lab.name, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_cli(lab: RunningLab, tmp: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    """The CLI in the background, stdout to tmp/out (a pcap with -w -), stderr to tmp/err;
    returns once tcpdump listens."""
    err = tmp / "err"
    with open(tmp / "out", "wb") as out, open(err, "wb") as errf:
        proc = subprocess.Popen([*CLI, "--lab", lab.name, *args], stdout=out, stderr=errf)
    lab.wait_for(lambda: "listening on" in err.read_text() or proc.poll() is not None,
                 "tcpdump listening", 10, detail=err.read_text)
    assert proc.poll() is None, err.read_text()
    return proc, tmp / "out"


def tcpdumps(lab: RunningLab, node: str) -> list[int]:
    handle = lab.netns(node)
    pids = runtime(lab.topo.runtime).pids([handle]).get(handle, [])
    out = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "tcpdump":
                out.append(pid)
        except OSError:
            pass
    return out


def test_session_establishing_decoded_from_the_stream(lab: RunningLab, tmp_path: Path) -> None:
    """`capture scw-interlink --bgp -w -` as piped to Wireshark: the session reset and
    restored, both OPENs and both sides' UPDATEs decoded, every frame tagged with the VLAN."""
    from scapy.layers.l2 import Dot1Q

    proc, pcap = start_cli(lab, tmp_path, "capture", "scw-interlink", "--bgp", "-w", "-")
    try:
        lab.fault("reset", "both")
        lab.fault("restore", "both")
        lab.wait_for(lambda: lab.link()["bgp_v4_status"] == "up", "ipv4 session up", 20)
        want = ({12876, 64512}, {"198.51.100.0/24", "203.0.113.0/24"})
        lab.wait_for(lambda: all(w <= s for w, s in zip(want, opens_and_updates(pcap),
                                                            strict=True)),
                     "both OPENs and UPDATEs in the pcap", 15,
                     detail=lambda: str(opens_and_updates(pcap)))
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rc = proc.wait(10)
    assert rc == 0, (tmp_path / "err").read_text()
    assert re.search(r"\d+ packets? captured", (tmp_path / "err").read_text())
    frames = bgp_messages(pcap)
    assert frames and all(f.haslayer(Dot1Q) and f[Dot1Q].vlan == VLAN for f in frames)
    assert tcpdumps(lab, "scw-interlink") == []


def test_decoded_lines_show_the_tag_and_count_ends_it(lab: RunningLab, tmp_path: Path) -> None:
    proc, out = start_cli(lab, tmp_path, "capture", "customer-router:il0", "--count", "3")
    lab.wait_for(lambda: lab.ping("onprem-host", "vpc-instance") and proc.poll() is not None,
                 "3 packets captured", 15)
    assert proc.returncode == 0, (tmp_path / "err").read_text()
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(f"vlan {VLAN}" in ln for ln in lines), lines
    assert tcpdumps(lab, "customer-router") == []


def test_duration_ends_it(lab: RunningLab, tmp_path: Path) -> None:
    out = tmp_path / "vpc.pcap"
    p = cli(lab, "capture", "vpc-router", "--duration", "0.5", "-w", str(out))
    assert p.returncode == 0, p.stderr
    assert "listening on any" in p.stderr and re.search(r"\d+ packets? captured", p.stderr)
    assert out.read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")  # pcap magic
    assert tcpdumps(lab, "vpc-router") == []


def test_sigterm_ends_it_cleanly(lab: RunningLab, tmp_path: Path) -> None:
    proc, _ = start_cli(lab, tmp_path, "capture", "partner", "-w", str(tmp_path / "p.pcap"))
    proc.send_signal(signal.SIGTERM)  # a CI job cancelled, a pipeline killed
    assert proc.wait(10) == 0, (tmp_path / "err").read_text()
    assert re.search(r"\d+ packets? captured", (tmp_path / "err").read_text())
    assert tcpdumps(lab, "partner") == []


def test_clear_errors(lab: RunningLab) -> None:
    p = cli(lab, "capture", "nope")
    assert p.returncode == 1 and "no node 'nope'" in p.stderr and "scw-interlink" in p.stderr
    p = cli(lab, "capture", "scw-interlink:eth7")
    assert p.returncode == 1, p.stderr
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("interlink-lab: error: no interface 'eth7' in node scw-interlink "
                           "(interfaces: "), line
    assert {"pe0", "pe0.2451", "vpc0", "any"} <= set(line.split("(interfaces: ")[1]
                                                     .rstrip(")").split(", ")), line
