"""TCP-MD5: a mismatch keeps the sessions down and `status` says why (BGP itself cannot); a
password every speaker can take brings the sessions up on every router kind; one they cannot
take is refused before anything starts (`validate`, `up`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from router_kinds import KINDS, param

from lab.control.client import ApiError
from lab.scenario.model import SCENARIO_DIR
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


# What every speaker takes (controller.core.secrets): shell, FRR-comment and BIRD syntax chars.
HARD = "!@#$%^&*()-_=+[]{}<>,.?/~|;:"
BASIC = SCENARIO_DIR / "basic.yaml"


def _with_password(password: str, path: Path, router: str | None = None) -> Path:
    data = yaml.safe_load(BASIC.read_text())
    data["name"] = path.stem
    data["customer"]["md5_password"] = password
    if router:
        data["customer"]["router"] = router
    data["links"][0]["md5_password"] = password
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).with_name("interlink-lab")), *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", [param(k, kind=k) for k in KINDS])
def test_a_hard_password_brings_both_sessions_up(lab_factory: LabFactory, kind: str) -> None:
    d = Path(tempfile.mkdtemp(prefix="md5-hard-", dir="/tmp"))
    d.chmod(0o755)  # FRR runs as user frr
    try:
        scenario = _with_password(HARD, d / "md5-hard.yaml", router=kind)
        res = _cli("validate", str(scenario))
        assert res.returncode == 0, res.stdout + res.stderr
        lab = lab_factory(str(scenario), router=kind)  # waits for the link to be active
        link = lab.link()
        assert (link["status"], link["bgp_v4_status"], link["bgp_v6_status"]) == (
            "active", "up", "up"), link
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("bad", ["it's", 'say"hi"', "two\nlines", "with space"])
def test_a_password_a_speaker_cannot_take_is_refused_by_validate(tmp_path: Path,
                                                                 bad: str) -> None:
    scenario = _with_password(bad, tmp_path / "bad-md5.yaml")
    res = _cli("validate", str(scenario))
    assert res.returncode == 2, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert re.search(rf"{re.escape(str(scenario))}:\d+:\d+: MD5 password ", out), out
    assert "printable ASCII" in out and "Traceback" not in out, out
    res = _cli("--lab", "mdbadnever", "up", str(scenario))
    assert res.returncode != 0 and "MD5 password" in res.stdout + res.stderr, res.stdout


def test_the_api_takes_no_password(lab_factory: LabFactory) -> None:
    # Scaleway's API has no MD5 field: a password sent to it is refused, nothing changes.
    lab = lab_factory("basic")
    before = lab.client.links()
    body = {"name": "x", "pop_id": before[0]["pop_id"], "bandwidth_mbps": 1000,
            "md5_password": "it's"}
    with pytest.raises(ApiError) as exc:
        lab.client.post("/interlink/v1beta1/regions/fr-par/links", body)
    assert exc.value.status == 400 and exc.value.body["type"] == "invalid_arguments"
    assert [d["argument_name"] for d in exc.value.body["details"]] == ["md5_password"]
    with pytest.raises(ApiError) as exc:
        lab.client.patch(f"/interlink/v1beta1/regions/fr-par/links/{before[0]['id']}",
                         {"md5_password": "it's"})
    assert exc.value.status == 400
    assert lab.client.links() == before
