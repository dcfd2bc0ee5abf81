"""A controller killed with SIGKILL and started again loses nothing and disturbs nothing."""

from __future__ import annotations

import os
import signal
import threading
import time

from controller.drivers.kernel import RouteTable
from lab.control import lifecycle
from lab.control.client import Client
from lab.control.handle import REGION_PATH
from lab.control.labdir import lab_dir, pid_alive
from lab.testing.plugin import LabFactory


def snapshot(client: Client) -> dict[str, list[str]]:
    return {
        "links": sorted(lk["id"] for lk in client.get(f"{REGION_PATH}/links")["links"]),
        "policies": sorted(p["id"] for p in client.get(f"{REGION_PATH}/routing-policies")[
            "routing_policies"]),
        "vpcs": sorted(v["id"] for v in client.get("/vpc/v2/regions/fr-par/vpcs")["vpcs"]),
    }


def test_kill_9_and_restart(lab_factory: LabFactory) -> None:
    lab = lab_factory("basic", hold_time=3)
    # A change made just before the crash must survive it.
    lab.announce("198.51.100.128/25")
    lab.wait_for(lambda: "198.51.100.128/25" in lab.routes("vpc-router"), "announcement")
    before = snapshot(lab.client)
    pid = int((lab_dir(lab.name) / "controller.pid").read_text())

    # Watch the VPC route table through the crash and the restart: it must never blink.
    table = RouteTable(lab.netns("vpc-router"))
    smallest = [len(table.list())]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            smallest[0] = min(smallest[0], len(table.list()))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        os.kill(pid, signal.SIGKILL)
        lab.wait_for(lambda: not pid_alive(pid), "the controller to die", timeout=5)
        # The data plane does not need the controller to forward packets.
        assert lab.ping("onprem-host", "vpc-instance", 4)
        info = lifecycle.start_controller(lab.name)
        assert info["pid"] != pid
        lab.client = Client.for_lab(lab.name)
        lab.wait_status("active")
    finally:
        stop.set()
        watcher.join()
        table.close()
    assert smallest[0] == 3, f"the VPC route table dropped to {smallest[0]} routes"
    assert snapshot(lab.client) == before
    link = lab.link()
    assert (link["bgp_v4_status"], link["bgp_v6_status"]) == ("up", "up")
    assert lab.ping("onprem-host", "vpc-instance", 4) and lab.ping("onprem-host", "vpc-instance", 6)
    # The restarted controller is fully in charge: a change still applies at once.
    lab.link_action("disable-route-propagation")
    lab.wait_for(lambda: not lab.routes("vpc-router"), "VPC table emptied after restart")
    lab.link_action("enable-route-propagation")
    lab.wait_for(lambda: len(lab.routes("vpc-router")) == 3, "VPC table refilled")
    customer = lab.client.get("/lab/v1/customer/routes")
    assert {"prefix": "198.51.100.128/25", "communities": [], "link": None} in customer[
        "announced"]
