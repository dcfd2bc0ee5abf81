"""controller.drivers.exabgp_config: rendering is pure; one test asks ExaBGP to validate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.drivers.exabgp_config import NeighborConfig, render_config, speaker_env

V4 = NeighborConfig("169.254.0.17", "169.254.0.16", "169.254.0.16", 12876, 64512, "ipv4")
V6 = NeighborConfig("2001:db8:fc60::1", "2001:db8:fc60::", "169.254.0.16", 12876, 64512, "ipv6",
                    hold_time=30, md5_password="!@#$%^&*()-_=+[]{}<>,.?/~|;:")
CMD = [sys.executable, "-m", "controller.drivers.exabgp_bridge", "--socket",
       "/run/x/controller.sock", "--speaker", "scw-1"]


def _block(text: str, head: str) -> str:
    start = text.index(head)
    return text[start : text.index("\n}\n", start) + 3]


def test_process_block() -> None:
    text = render_config([V4], CMD)
    assert text.startswith("process bridge {\n")
    assert f"    run {' '.join(CMD)};\n" in text
    assert "    encoder json;\n" in text


def test_one_neighbor_block_per_session() -> None:
    text = render_config([V4, V6], CMD)
    assert text.count("\nneighbor ") == 2
    v4 = _block(text, "neighbor 169.254.0.17 {")
    for line in ("router-id 169.254.0.16;", "local-address 169.254.0.16;", "local-as 12876;",
                 "peer-as 64512;", "hold-time 9;", "listen 179;", "family { ipv4 unicast; }",
                 "processes [ bridge ];", "neighbor-changes;", "receive { parsed; update; }"):
        assert line in v4, line
    assert "md5-password" not in v4
    assert "passive" not in v4  # both sides connect actively
    v6 = _block(text, "neighbor 2001:db8:fc60::1 {")
    assert "local-address 2001:db8:fc60::;" in v6
    assert "family { ipv6 unicast; }" in v6
    assert "hold-time 30;" in v6
    assert 'md5-password "!@#$%^&*()-_=+[]{}<>,.?/~|;:";' in v6


def test_no_neighbors_is_valid_text() -> None:
    text = render_config([], CMD)
    assert "neighbor" not in text


def test_quoting_of_arguments() -> None:
    text = render_config([V4], ["/usr/bin/python3", "-m", "m", "--socket", "/tmp/a b;c.sock"])
    assert 'run /usr/bin/python3 -m m --socket "/tmp/a b;c.sock";' in text
    text = render_config([V4], ["/usr/bin/python3", 'say "hi"'])
    assert "run /usr/bin/python3 'say \"hi\"';" in text
    with pytest.raises(ValueError):
        render_config([V4], ["/usr/bin/python3", "both ' and \""])
    with pytest.raises(ValueError):
        render_config([V4], ["/usr/bin/python3", "new\nline"])
    for bad in ("it's", 'a"b', "a b", "a\\b", "new\nline"):
        # what one of the speakers cannot take is refused, never rendered (controller.core.secrets)
        pw = NeighborConfig(**{**V4.__dict__, "md5_password": bad})
        with pytest.raises(ValueError, match="MD5 password"):
            render_config([pw], CMD)


@pytest.mark.parametrize("bad", [
    {"family": "ipv5"},
    {"peer_address": "2001:db8::1"},  # v6 address in a v4 session
    {"router_id": "2001:db8::1"},
    {"hold_time": 2},
    {"local_as": 0},
    {"peer_address": "not-an-ip"},
])
def test_invalid_neighbors(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render_config([NeighborConfig(**{**V4.__dict__, **bad})], CMD)


def test_duplicate_and_relative_command() -> None:
    with pytest.raises(ValueError):
        render_config([V4, V4], CMD)
    with pytest.raises(ValueError):
        render_config([V4], ["python3", "-m", "x"])
    with pytest.raises(ValueError):
        render_config([V4], [])


def test_speaker_env() -> None:
    env = speaker_env()
    assert env["exabgp_daemon_user"] == "root"
    assert env["exabgp_daemon_drop"] == "false"
    assert env["exabgp_api_cli"] == "false"
    assert env["exabgp_log_destination"] == "stdout"
    assert env["exabgp_api_ack"] in ("true", "false")
    assert float(env["exabgp_reactor_speed"]) > 0


def test_exabgp_accepts_rendered_config(tmp_path: Path) -> None:
    exabgp = Path(sys.executable).parent / "exabgp"
    if not exabgp.exists():
        pytest.skip("exabgp not installed next to the interpreter")
    conf = tmp_path / "s.conf"
    conf.write_text(render_config([V4, V6], CMD))
    env = {**os.environ, **speaker_env()}
    res = subprocess.run([str(exabgp), "validate", str(conf)], env=env, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr


def test_scaleway_speakers_beyond_the_first_links_run_the_cheap_loop() -> None:
    from controller.drivers.exabgp_config import (
        FAST_SPEAKERS,
        REACTOR_SPEED,
        SCW_REACTOR_SPEED_AT_SCALE,
        scw_reactor_speed,
        speaker_env,
    )
    assert scw_reactor_speed(1) == scw_reactor_speed(FAST_SPEAKERS) == REACTOR_SPEED
    assert scw_reactor_speed(FAST_SPEAKERS + 1) == SCW_REACTOR_SPEED_AT_SCALE
    assert float(SCW_REACTOR_SPEED_AT_SCALE) > float(REACTOR_SPEED)
    assert speaker_env("2.0")["exabgp_reactor_speed"] == "2.0"


def test_scaleway_speakers_beyond_the_first_links_yield_the_cpu() -> None:
    from controller.drivers.exabgp_config import FAST_SPEAKERS, SPEAKER_NICE, scw_nice
    assert scw_nice(1) == scw_nice(FAST_SPEAKERS) == 0
    assert scw_nice(FAST_SPEAKERS + 1) == SPEAKER_NICE > 0
