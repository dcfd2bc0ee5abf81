"""Scaleway's official TypeScript SDK (@scaleway/sdk-interlink) drives a real lab as the
Python SDK does in test_sdk_lab.py: tests/sdk/ts/drive.mjs, installed by `make setup`. A
hosted link to `active` (packets checked), lists across pages and filters, the controller
killed and restarted, bad input raising the SDK's typed errors, deletes, a self-hosted link.

Scaleway's SDKs parse strictly: the TypeScript one refused every answer of the lab while it
said `application/json; charset=utf-8` instead of Scaleway's `application/json`, and turns an
error body into its typed error (InvalidArgumentsError, ...) only when the fields it reads
are there.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes import FREEPRO, TH2

from lab.control import lifecycle
from lab.control.client import Client as LabClient
from lab.control.labdir import api_info, lab_dir, pid_alive
from lab.control.polling import wait_for
from lab.dataplane.probes import ping_fast
from lab.testing.plugin import LabFactory

TS_DIR = Path(__file__).resolve().parents[1] / "sdk" / "ts"


def _node_script() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TypeScript SDK cannot run (apt install nodejs)")
    if not (TS_DIR / "node_modules" / "@scaleway" / "sdk-interlink").is_dir():
        pytest.fail(f"the TypeScript SDK is not installed: run `make setup` (npm ci in {TS_DIR})")
    return [node, str(TS_DIR / "drive.mjs")]


def _address(nodes: list[dict[str, Any]], role: str, network: str, family: int) -> tuple[str, str]:
    """(netns, address of ``family``) of the ``role`` node with an address in ``network``."""
    net = ipaddress.ip_network(network)
    for n in nodes:
        ifaces = [ipaddress.ip_interface(a) for a in n["addresses"]]
        if n["role"] == role and any(i.ip in net for i in ifaces):
            return n["netns"], next(str(i.ip) for i in ifaces if i.version == family)
    raise AssertionError(f"no {role} with an address in {network}: {nodes}")


def _drive(argv: list[str], env: dict[str, str], phase: str) -> dict[str, Any]:
    p = subprocess.run([*argv, phase], env=env, capture_output=True, text=True, timeout=120,
                       cwd=TS_DIR, check=False)
    assert p.returncode == 0, f"drive.mjs {phase} failed:\n{p.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def _pings(lab: str, subnet: str, what: str) -> None:
    nodes = LabClient.for_lab(lab).get("/lab/v1/nodes")["nodes"]
    for family in (4, 6):
        host_ns, _ = _address(nodes, "onprem-host", "198.18.128.0/17", family)
        _, dst = _address(nodes, "vpc-instance", subnet, family)
        wait_for(lambda d=dst, ns=host_ns: ping_fast(ns, d), f"IPv{family} ping {dst} {what}",
                 timeout=15)


def test_typescript_sdk_drives_a_link_to_active() -> None:
    argv = _node_script()
    with LabFactory() as make:
        lab = make("basic", hold_time=3)
        info = api_info(lab.name)
        env = os.environ | {"SCW_API_URL": info.url, "SCW_SECRET_KEY": info.token,
                            "ILAB_POP_ID": TH2, "ILAB_PARTNER_ID": FREEPRO}
        out = _drive(argv, env, "build")
        link = out["link"]
        assert out["created"] == "requested"
        assert (link["status"], link["bgpV4Status"], link["bgpV6Status"]) == (
            "active", "up", "up"), link
        assert out["pagedNames"] == ["link-lab", "ts-link"], out["pagedNames"]
        assert out["listed"] == [link["id"]] and out["filtered"] == [link["id"]], out
        v4_subnet, _v6_subnet = out["subnets"]
        _pings(lab.name, v4_subnet, "")  # what the SDK built carries real packets

        # kill -9 of the controller, then a restart: the SDK finds everything where it was.
        pid = int((lab_dir(lab.name) / "controller.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), "the controller to die", timeout=5)
        lifecycle.start_controller(lab.name)
        _pings(lab.name, v4_subnet, "after the controller's restart")

        env |= {"ILAB_LINK_ID": link["id"], "ILAB_POLICY_IDS": ",".join(out["policyIds"])}
        out = _drive(argv, env, "finish")
        assert (out["reattach"]["name"], out["reattach"]["status"]) == (
            "PreconditionFailedError", 412), out["reattach"]
        assert (out["badPrefix"]["name"], out["badPrefix"]["argumentNames"]) == (
            "InvalidArgumentsError", ["prefix_filter_in.0"]), out["badPrefix"]
        assert (out["tooMany"]["name"], out["tooMany"]["argumentNames"]) == (
            "InvalidArgumentsError", ["prefix_filter_in"]), out["tooMany"]
        assert (out["badToken"]["name"], out["badToken"]["status"]) == (
            "DeniedAuthenticationError", 401), out["badToken"]
        assert out["policiesAfterErrors"] == sorted(
            ["allow-onprem-v4", "allow-onprem-v6", "ts-v4", "ts-v6"]), out
        assert out["stillActive"] == "active"
        assert out["deleting"] == "deprovisioning", out["deleting"]
        assert (out["gone"]["name"], out["gone"]["resource"], out["gone"]["resourceId"]) == (
            "ResourceNotFoundError", "link", link["id"]), out["gone"]
        assert out["policiesLeft"] == ["allow-onprem-v4", "allow-onprem-v6"], out
        assert out["selfHostedCreated"] == {"status": "ready", "self": True}, out
        assert out["selfHosted"] == {"status": "active", "bgpV4Status": "up",
                                     "bgpV6Status": "disabled"}, out["selfHosted"]
        assert out["selfHostedGone"] == "ResourceNotFoundError"
