"""A TCP-MD5 mismatch keeps the sessions down, and `status` says why (BGP itself cannot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab.testing.plugin import LabFactory


def test_md5_mismatch_is_explained(lab_factory: LabFactory) -> None:
    lab = lab_factory("md5-mismatch", hold_time=None)
    link_id = lab.link()["id"]

    def reason() -> str:
        return str(lab.client.link_stats(link_id)["ipv4"].get("reason", ""))

    lab.wait_for(lambda: "TCP-MD5" in reason(), "the MD5 diagnosis", timeout=15,
                 detail=lambda: f"reason now: {reason()!r}")
    link = lab.link()
    assert (link["status"], link["bgp_v4_status"], link["bgp_v6_status"]) == (
        "all_down", "down", "down")
    out = subprocess.run([str(Path(sys.executable).with_name("interlink-lab")), "--lab",
                          lab.name, "status"], capture_output=True, text=True, check=True).stdout
    assert "ipv4 down: TCP-MD5 authentication failures" in out
