"""A TCP-MD5 mismatch keeps the sessions down, and `status` says why (BGP itself cannot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.control import lifecycle
from lab.control.client import Client
from lab.testing.plugin import unique_lab_name, wait_for

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")]


def test_md5_mismatch_is_explained() -> None:
    lab = unique_lab_name()
    try:
        lifecycle.up("md5-mismatch", lab=lab)
        client = Client.for_lab(lab)
        link = client.links()[0]

        def reason() -> str:
            return str(client.link_stats(link["id"])["ipv4"].get("reason", ""))

        wait_for(lambda: "TCP-MD5" in reason(), "the MD5 diagnosis", timeout=15)
        link = client.link(link["id"])
        assert (link["status"], link["bgp_v4_status"], link["bgp_v6_status"]) == (
            "all_down", "down", "down")
        out = subprocess.run([str(Path(sys.executable).with_name("interlink-lab")), "--lab", lab,
                              "status"], capture_output=True, text=True, check=True).stdout
        assert "ipv4 down: TCP-MD5 authentication failures" in out
    finally:
        lifecycle.down(lab)
