"""What a rehearsal holds on to stays put while the lab changes: node and namespace names as
links and private networks are added through the API, the API port across controller
restarts, and an `events` stream that follows the controller through a restart."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FREEPRO, TH2

from lab.control import lifecycle
from lab.control.client import Client as LabClient
from lab.control.labdir import LabError, api_info
from lab.control.polling import wait_for
from lab.testing.plugin import LabFactory

scaleway = pytest.importorskip("scaleway")
from scaleway import Client  # noqa: E402
from scaleway.interlink.v1beta1 import InterlinkV1Beta1API  # noqa: E402
from scaleway.vpc.v2 import VpcV2API  # noqa: E402

PROJECT = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    with LabFactory() as make:
        yield make("basic", hold_time=3).name


def sdk(lab: str) -> tuple[InterlinkV1Beta1API, VpcV2API]:
    info = api_info(lab)
    client = Client(access_key="SCWXXXXXXXXXXXXXXXXX", secret_key=info.token,
                    default_project_id=PROJECT, default_region="fr-par", api_url=info.url)
    return InterlinkV1Beta1API(client), VpcV2API(client)


def cli(lab: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli.main", "--lab", lab, *args],
                          capture_output=True, text=True, timeout=timeout)


def nodes(lab: str) -> dict[str, str]:
    got: list[dict[str, Any]] = LabClient.for_lab(lab).get("/lab/v1/nodes")["nodes"]
    return {n["name"]: n["netns"] for n in got}


def netns_inode(netns: str) -> int:
    return os.stat(f"/run/netns/{netns}").st_ino


def test_names_stay_put_as_the_lab_grows(lab: str) -> None:
    before = nodes(lab)
    assert {"customer-router", "onprem-host", "scw-interlink", "vpc-router",
            "vpc-instance"} <= set(before)
    inodes = {n: netns_inode(ns) for n, ns in before.items()}

    api, vpcs = sdk(lab)
    # A second link, with a customer of its own (another ASN), and a second private network.
    link = api.create_link(name="second", pop_id=TH2, bandwidth_mbps=1000, partner_id=FREEPRO)
    assert link.partner is not None
    LabClient.for_lab(lab).post("/lab/v1/partner/approve",
                                {"pairing_key": link.partner.pairing_key})
    (vpc,) = [v for v in vpcs.list_vp_cs_all() if v.name == "vpc-lab"]
    vpcs.create_private_network(vpc_id=vpc.id, name="more",
                                default_route_propagation_enabled=False)
    def grown() -> dict[str, str] | None:
        now = nodes(lab)
        return now if len(now) >= len(before) + 4 else None
    after = wait_for(grown, "the new link's and private network's nodes", timeout=20,
                     detail=lambda: str(sorted(nodes(lab))))

    kept = {n: after.get(n) for n in before}
    assert kept == before, f"names changed: {before} -> {after}"
    assert {n: netns_inode(ns) for n, ns in before.items()} == inodes  # the same namespaces
    assert sorted(set(after) - set(before)) == [
        "customer-router-c1", "onprem-host-c1", "scw-interlink-2", "vpc-instance-1-2"]

    # The verbs of a rehearsal still find the old nodes.
    res = cli(lab, "exec", "customer-router", "--", "ip", "-br", "link")
    assert res.returncode == 0 and "il0" in res.stdout, res.stderr
    res = cli(lab, "routes", "vpc-router")
    assert res.returncode == 0 and "198.51.100.0/24" in res.stdout, res.stderr
    res = subprocess.run(["ip", "netns", "exec", f"{lab}-customer-router", "true"])
    assert res.returncode == 0

    # ... and after a restart, which rebuilds the topology from the stored names.
    res = cli(lab, "controller", "restart")
    assert res.returncode == 0, res.stderr
    assert nodes(lab) == after


def test_port_stays_across_restarts_and_a_taken_port_fails(lab: str) -> None:
    url = api_info(lab).url
    res = cli(lab, "controller", "restart")
    assert res.returncode == 0, res.stderr
    assert api_info(lab).url == url
    sdk(lab)[0].list_links()  # an SDK configured before the restart still works

    lifecycle.stop_controller(lab)
    port = int(url.rsplit(":", 1)[1])
    squatter = socket.socket()
    # As the daemon does: the old controller's connections may linger in TIME_WAIT.
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(LabError, match=rf"cannot listen on 127.0.0.1:{port}, this lab's"):
            lifecycle.start_controller(lab)
    finally:
        squatter.close()
    lifecycle.start_controller(lab)
    assert api_info(lab).url == url


def _err(proc: subprocess.Popen[str]) -> str:
    # only once it ended: reading a live process's stderr would block
    return proc.stderr.read() if proc.stderr and proc.poll() is not None else "-"


def lab_status_active(lab: str) -> None:
    # link-lab only: the module's lab also holds links the other tests created
    wait_for(lambda: [lk["status"] for lk in LabClient.for_lab(lab).get(
        "/interlink/v1beta1/regions/fr-par/links")["links"] if lk["name"] == "link-lab"]
        == ["active"], "link-lab active again", timeout=15)


def test_events_follow_a_controller_restart(lab: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli.main", "--lab", lab, "events",
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
    threading.Thread(target=read, daemon=True).start()

    def saw(text: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(text in ln for ln in seen)
    # A session reset (a NOTIFICATION) makes an event. The events process may be starting,
    # or between two reconnection attempts, when one fires: reset again until it shows one
    # (each try bounded, 20 s in all).
    def reset_seen() -> bool:
        res = cli(lab, "fault", "reset", "link-lab", "--family", "ipv4")
        assert res.returncode == 0, res.stderr
        try:
            wait_for(lambda: saw('"new": "down"'), "a down event", timeout=2)
            return True
        except AssertionError:
            return False
        finally:
            cli(lab, "fault", "restore", "link-lab", "--family", "ipv4")
            lab_status_active(lab)

    try:
        # connected to the old controller first
        wait_for(reset_seen, "the events process to show an event", timeout=20,
                 detail=lambda: f"exit {proc.poll()}, stdout {seen}, stderr {_err(proc)}")
        seen.clear()
        res = cli(lab, "controller", "restart")
        assert res.returncode == 0, res.stderr
        wait_for(reset_seen,
                 "the events process to show an event of the new controller", timeout=20,
                 detail=lambda: f"exit {proc.poll()}, stdout {seen}, stderr {_err(proc)}")
        assert proc.poll() is None, "events ended"
    finally:
        cli(lab, "fault", "restore", "link-lab", "--family", "ipv4")
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert "reconnecting" in err
