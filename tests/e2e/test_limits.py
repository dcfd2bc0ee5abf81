"""API request limits on a running lab: an over-limit body is 413 and an over-limit policy 400
(Scaleway-shaped, nothing changed), and the largest allowed policy delays no other request."""

from __future__ import annotations

import http.client
import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from controller.core.limits import MAX_BODY_BYTES, MAX_POLICY_ENTRIES
from lab.control.client import ApiError, Client
from lab.control.handle import RunningLab
from lab.testing.plugin import LabFactory

# ~42 characters per prefix: 25,000 of them are over the 1 MiB body limit
LONG_BASE = int(ipaddress.IPv6Address("2001:db8:1abc:5678:9abc:def0:1000:0"))
P = "/interlink/v1beta1/regions/fr-par"


def _raw(client: Client, method: str, path: str, data: bytes) -> tuple[float, int, Any]:
    url = client.url.removeprefix("http://")
    host, port = url.split("/")[0].rsplit(":", 1)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, path, data, {"X-Auth-Token": client.token,
                                          "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    return time.perf_counter() - t0, resp.status, body


def test_limits_and_no_stall(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory("basic")
    before = lab.client.policies()
    huge = json.dumps({"name": "huge", "tags": ["x" * (MAX_BODY_BYTES + 1)]}).encode()
    _, status, body = _raw(lab.client, "POST", f"{P}/routing-policies", huge)
    assert status == 413 and body["type"] == "request_entity_too_large", body
    many = [f"10.{i // 256}.{i % 256}.0/24" for i in range(MAX_POLICY_ENTRIES + 1)]
    try:
        lab.client.post(f"{P}/routing-policies", {"name": "many", "prefix_filter_in": many})
        raise AssertionError("accepted a list over the limit")
    except ApiError as exc:
        assert exc.status == 400 and exc.body["details"][0]["argument_name"] == \
            "prefix_filter_in", exc.body
    assert lab.client.policies() == before

    v6 = [f"2001:db8:{i // 65536 + 0xa000:x}:{i % 65536:x}::/64"
          for i in range(2 * MAX_POLICY_ENTRIES)]
    maximal = {"name": "max", "is_ipv6": True, "prefix_filter_in": v6[:MAX_POLICY_ENTRIES],
               "prefix_filter_out": v6[MAX_POLICY_ENTRIES:]}
    # Three tries (two creates, then a PATCH rewriting both lists). Validated on the event
    # loop, a maximal policy made a concurrent GET wait 88-97% of the policy's own time
    # (measured: 68-198 ms); in a thread, 10-45% at best of three. Both grow with the
    # machine's load; their ratio does not (the same with 3 CPU hogs running).
    ratios, worst, gets, timings = [], 0.0, 0, []
    created = ""
    for method in ("POST", "POST", "PATCH"):
        path = f"{P}/routing-policies" + (f"/{created}" if method == "PATCH" else "")
        body = maximal if method == "POST" else {
            "prefix_filter_in": maximal["prefix_filter_out"],
            "prefix_filter_out": maximal["prefix_filter_in"]}
        took, answer, slowest, n = _beside_gets(lab, method, path, json.dumps(body).encode(),
                                               tmp_path)
        assert len(answer["prefix_filter_out"]) == MAX_POLICY_ENTRIES
        assert n >= 2, f"{method} ended before a concurrent GET could be measured"
        created, worst, gets = answer["id"], max(worst, slowest), gets + n
        ratios.append(slowest / took)
        timings.append(f"{method} {took * 1000:.0f} ms (slowest GET {slowest * 1000:.0f} ms)")
    print(f"maximal policy: {', '.join(timings)}; {gets} concurrent GET /links")
    assert min(ratios) < 0.5, f"GET /links waited behind every maximal policy: {timings}"
    assert worst < 1.0, f"a GET /links waited {worst * 1000:.0f} ms behind a maximal policy"


# The large request comes from another client process: in a thread of this one, sending
# 0.6 MB and parsing the answer would hold the GIL the GETs are timed under (a GET then
# measured this process, not the controller: 329 ms once in CI, on a loaded machine).
SEND = """
import json, sys, time
sys.path[:0] = [sys.argv[1]]
from test_limits import _raw_to
_raw_to(*sys.argv[2:])
"""


def _raw_to(url: str, token: str, method: str, path: str, data_file: str,
            out_file: str) -> None:
    """``_raw`` of the request in ``data_file``: (start, duration, status, answer) to
    ``out_file``, the start on the clock all processes share (CLOCK_MONOTONIC)."""
    data, start = Path(data_file).read_bytes(), time.perf_counter()
    answer = _raw(Client(url, token), method, path, data)
    Path(out_file).write_text(json.dumps([start, *answer]))


def _beside_gets(lab: RunningLab, method: str, path: str, data: bytes,
                 tmp: Path) -> tuple[float, Any, float, int]:
    """(duration, answer) of the request, sent by another process, and the slowest of the
    GET /links that overlapped it (and how many)."""
    assert len(data) <= MAX_BODY_BYTES
    (tmp / "data").write_bytes(data)
    out = tmp / "answer"
    out.unlink(missing_ok=True)
    sender = subprocess.Popen([sys.executable, "-c", SEND, str(Path(__file__).parent),
                               lab.client.url, lab.client.token, method, path,
                               str(tmp / "data"), str(out)])
    gets: list[tuple[float, float]] = []  # (start, duration)
    try:
        while sender.poll() is None:
            start = time.perf_counter()
            took, status, _ = _raw(lab.client, "GET", f"{P}/links", b"")
            assert status == 200
            gets.append((start, took))
    finally:
        sender.kill()
        sender.wait()
    assert sender.returncode == 0, f"the {method} client failed (exit {sender.returncode})"
    t0, took, status, answer = json.loads(out.read_text())
    assert status == 200, answer
    beside = [d for s, d in gets if s < t0 + took and s + d > t0]
    return took, answer, max(beside, default=0.0), len(beside)


def test_a_long_announcement_list_goes_in_chunks(lab_factory: LabFactory,
                                                 tmp_path: Path) -> None:
    # Over the 1 MiB body limit in one request (413 before): the CLI sends it in chunks.
    # (BIRD takes 25k prefixes ~4x faster than an ExaBGP customer; chunking is the CLI's.)
    lab = lab_factory("basic", router="bird")
    prefixes = [str(ipaddress.ip_network((LONG_BASE + (i << 8), 120)))
                for i in range(25_000)]
    assert len(json.dumps({"prefixes": prefixes})) > MAX_BODY_BYTES
    f = tmp_path / "long.txt"
    f.write_text("\n".join(prefixes) + "\n")
    cli = [str(Path(sys.executable).with_name("interlink-lab")), "--lab", lab.name, "customer"]
    res = subprocess.run([*cli, "announce", "--file", str(f)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0 and "announced 25000 prefix(es)" in res.stdout, (
        res.stdout + res.stderr)
    announced = {a["prefix"] for a in lab.client.get("/lab/v1/customer/routes")["announced"]}
    assert set(prefixes) <= announced
    res = subprocess.run([*cli, "withdraw", "--file", str(f)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0 and "withdrew 25000 prefix(es)" in res.stdout, (
        res.stdout + res.stderr)
    announced = {a["prefix"] for a in lab.client.get("/lab/v1/customer/routes")["announced"]}
    assert not set(prefixes) & announced
