"""`up` / `down` as a user runs them: through the CLI, with errors and no leftovers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.control.handle import unique_lab_name

CLI = [str(Path(sys.executable).with_name("interlink-lab"))]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        pytest.fail(f"interlink-lab {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def root_links() -> set[str]:
    return {ln["ifname"] for ln in json.loads(subprocess.check_output(["ip", "-j", "link"]))}


def lab_processes(lab: str) -> list[str]:
    out = subprocess.check_output(["ps", "-eo", "pid=,args="], text=True)
    return [ln for ln in out.splitlines() if f"interlink-lab/{lab}/" in ln or
            f"--lab {lab}" in ln]


def test_up_errors_down_leaves_nothing() -> None:
    lab = unique_lab_name()
    links_before = root_links()
    try:
        up = cli("--lab", lab, "up", "--hold-time", "3", "--json")
        info = json.loads(up.stdout)
        assert info["timings"]["traffic"] < 15

        again = cli("--lab", lab, "up", check=False)
        assert again.returncode != 0
        assert "already up" in again.stderr and len(again.stderr.strip().splitlines()) == 1

        bad = cli("--lab", lab, "policy", "attach", "no-such-link", "no-such-policy",
                  check=False)
        assert bad.returncode == 1 and "no link 'no-such-link'" in bad.stderr

        inspect = json.loads(cli("--lab", lab, "inspect", "--json").stdout)
        nodes = {n["name"]: n for n in inspect["nodes"]}
        assert set(nodes) == {"onprem-host", "customer-router", "partner", "scw-interlink",
                              "vpc-router", "vpc-instance"}
        assert nodes["vpc-instance"]["netns"] == f"{lab}-vpc-instance"
        assert "203.0.113.10/24" in nodes["vpc-instance"]["addresses"]
        assert inspect["api"]["url"].startswith("http://127.0.0.1:") and inspect["api"]["token"]

        status = json.loads(cli("--lab", lab, "status", "--json").stdout)
        assert [lk["status"] for lk in status] == ["active"]
        assert lab_processes(lab), "expected the lab's processes while it is up"
    finally:
        cli("--lab", lab, "down")
    netns = subprocess.check_output(["ip", "netns", "list"], text=True)
    assert f"{lab}-" not in netns
    assert lab_processes(lab) == []
    assert root_links() == links_before, "a lab interface leaked into the root namespace"
    assert not Path(f"/run/interlink-lab/{lab}").exists()


def test_status_of_a_lab_that_is_not_up() -> None:
    r = cli("--lab", unique_lab_name(), "status", check=False)
    assert r.returncode != 0 and "not up" in r.stderr


def test_up_timeout_bounds_links_and_traffic_not_the_controller() -> None:
    """`--timeout 0.05` is far less than a controller start-up: that wait has its own limit,
    so `up` gets past it and the short timeout applies to the links (and says 0.05s)."""
    lab = unique_lab_name()
    try:
        r = cli("--lab", lab, "up", "--hold-time", "3", "--timeout", "0.05", check=False)
        assert "the controller API" not in r.stderr, r.stderr
        if r.returncode != 0:  # the sessions rarely beat 50 ms; either way is right
            # the links or, when they beat it, the traffic check: both are what --timeout bounds
            assert re.search(r"timed out after 0\.05s waiting for (links to become active|ping)",
                             r.stderr), r.stderr
            assert "Traceback" not in r.stderr
            # A failed `up` takes down what it built.
            assert subprocess.run(["ip", "netns", "list"], capture_output=True,
                                  text=True).stdout.count(f"{lab}-") == 0
    finally:
        cli("--lab", lab, "down", check=False)
