"""Scaleway's official TypeScript SDK (@scaleway/sdk-interlink) drives a real lab to `active`,
beside the Python SDK (test_sdk_lab.py): tests/sdk/ts/drive.mjs, installed by `make setup`.

Scaleway's SDKs parse strictly: the TypeScript one refused every answer of the lab while it
said `application/json; charset=utf-8` instead of Scaleway's `application/json`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes import FREEPRO, TH2

from lab.control.client import Client as LabClient
from lab.control.labdir import api_info
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


def test_typescript_sdk_drives_a_link_to_active() -> None:
    argv = _node_script()
    with LabFactory() as make:
        lab = make("basic", hold_time=3)
        info = api_info(lab.name)
        env = os.environ | {"SCW_API_URL": info.url, "SCW_SECRET_KEY": info.token,
                            "ILAB_POP_ID": TH2, "ILAB_PARTNER_ID": FREEPRO}
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90,
                           cwd=TS_DIR, check=False)
        assert p.returncode == 0, f"drive.mjs failed:\n{p.stderr[-3000:]}"
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert out["created"] == "requested"
        assert out["link"]["status"] == "active"
        assert (out["link"]["bgpV4Status"], out["link"]["bgpV6Status"]) == ("up", "up")
        assert out["listed"] == [out["link"]["id"]]
        assert out["reattach"]["status"] == 412, out["reattach"]

        # What the SDK built carries real packets.
        nodes = LabClient.for_lab(lab.name).get("/lab/v1/nodes")["nodes"]
        v4_subnet, _v6_subnet = out["subnets"]
        for family in (4, 6):
            host_ns, _ = _address(nodes, "onprem-host", "198.18.128.0/17", family)
            _, dst = _address(nodes, "vpc-instance", v4_subnet, family)
            wait_for(lambda d=dst, ns=host_ns: ping_fast(ns, d), f"IPv{family} ping {dst}",
                     timeout=15)
