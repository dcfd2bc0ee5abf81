"""CLI verbs with click's CliRunner against a fake Client (no daemon)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller.core.limits import MAX_BODY_BYTES
from lab.cli import common
from lab.cli import events as events_mod
from lab.cli import exec as exec_mod
from lab.cli.customer import ANNOUNCE_CHUNK
from lab.cli.main import cli
from lab.cli.output import table
from lab.control.client import ApiError, Client, P, error_message
from lab.control.labdir import LabError

LINK = {
    "id": "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "name": "il1", "status": "active",
    "bgp_v4_status": "up", "bgp_v6_status": "disabled", "vpc_id": "vpc-1",
    "routing_policy_v4_id": "pol-4", "enable_route_propagation": True, "region": "fr-par",
    "created_at": "2026-01-01T00:00:00.000000Z",
}
POLICY = {"id": "pol-4", "name": "allow-v4", "is_ipv6": False,
          "prefix_filter_in": ["10.0.0.0/8"], "prefix_filter_out": ["203.0.113.0/24"]}
STATS = {"link_id": LINK["id"],
         "ipv4": {"accepted": 3, "rejected": 1, "advertised": 2},
         "ipv6": {"accepted": 0, "rejected": 0, "advertised": 0}}


class FakeClient(Client):
    """Answers from a table of (method, path) -> body or exception; records calls."""

    def __init__(self, answers: dict[tuple[str, str], Any]):
        super().__init__("http://127.0.0.1:1", "tok", lab="ilab")
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method: str, path: str, body: Any = None,
                query: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, path, body))
        answer = self.answers.get((method, path))
        if answer is None:
            raise ApiError(404, "not_found", f"no fake for {method} {path}", None)
        if isinstance(answer, Exception):
            raise answer
        return answer


def base_answers() -> dict[tuple[str, str], Any]:
    return {
        ("GET", f"{P}/links"): {"links": [LINK], "total_count": 1},
        ("GET", f"{P}/links/{LINK['id']}/stats"): STATS,
        ("GET", f"{P}/routing-policies"): {"routing_policies": [POLICY], "total_count": 1},
        ("GET", "/vpc/v2/regions/fr-par/vpcs"): {
            "vpcs": [{"id": "vpc-1", "name": "prod"}], "total_count": 1},
        ("GET", "/lab/v1/nodes"): {"lab": "ilab", "nodes": []},
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient(base_answers())
    monkeypatch.setattr(common, "make_client", lambda lab: client)
    return client


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_status_table(fake: FakeClient) -> None:
    res = invoke("status")
    assert res.exit_code == 0, res.output
    header, row = res.output.splitlines()
    assert header.split()[:3] == ["LINK", "ID", "STATUS"]
    cols = row.split()
    assert cols == ["il1", "11111111", "active", "up", "disabled", "prod", "allow-v4", "-",
                    "on", "3/0", "1/0", "2/0"]


def test_status_json(fake: FakeClient) -> None:
    res = invoke("status", "--json")
    assert res.exit_code == 0
    assert json.loads(res.output) == [LINK]
    assert res.output.startswith("[\n  {")  # indented, keys sorted


def test_api_error_is_one_line_exit_1(fake: FakeClient) -> None:
    body = {"type": "precondition_failed", "precondition": "resource_still_in_use",
            "help_message": "routing policy is attached to link(s) x"}
    kind, msg = error_message(412, body)
    fake.answers[("DELETE", f"{P}/routing-policies/pol-4")] = ApiError(412, kind, msg, body)
    res = CliRunner().invoke(cli, ["policy", "delete", "allow-v4"])
    assert res.exit_code == 1
    assert res.output == ("interlink-lab: error: precondition failed (resource_still_in_use): "
                          "routing policy is attached to link(s) x\n")


def test_lab_error_exit_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ILAB_STATE_DIR", str(tmp_path))
    res = CliRunner().invoke(cli, ["--lab", "nolab", "status"])
    assert res.exit_code == 1
    assert res.output.startswith("interlink-lab: error: lab 'nolab' is not up")
    assert len(res.output.splitlines()) == 1


def test_usage_errors_exit_2(fake: FakeClient) -> None:
    assert CliRunner().invoke(cli, ["nope"]).exit_code == 2
    res = CliRunner().invoke(cli, ["--lab", "Bad_Name", "status"])
    assert res.exit_code == 2 and "invalid lab name 'Bad_Name'" in res.output
    assert CliRunner().invoke(cli, ["status", "--lab", "Bad_Name"]).exit_code == 2
    assert CliRunner().invoke(cli, ["policy", "update", "allow-v4"]).exit_code == 2
    res = CliRunner().invoke(cli, ["policy", "update", "x", "--in", "10.0.0.0/8", "--clear-in"])
    assert res.exit_code == 2
    assert CliRunner().invoke(cli, ["fault", "cut", "--family", "ipv5"]).exit_code == 2


def test_policy_create_update_attach(fake: FakeClient) -> None:
    fake.answers[("POST", f"{P}/routing-policies")] = {**POLICY, "id": "new", "name": "p"}
    res = invoke("policy", "create", "p", "--in", "10.0.0.0/8", "--in", "172.16.0.0/12",
                 "--out", "203.0.113.0/24")
    assert res.exit_code == 0 and "created routing policy p (new)" in res.output
    assert fake.calls[-1][2] == {"name": "p", "is_ipv6": False, "tags": [],
                                 "prefix_filter_in": ["10.0.0.0/8", "172.16.0.0/12"],
                                 "prefix_filter_out": ["203.0.113.0/24"]}

    fake.answers[("PATCH", f"{P}/routing-policies/pol-4")] = POLICY
    assert invoke("policy", "update", "allow-v4", "--clear-out").exit_code == 0
    assert fake.calls[-1] == ("PATCH", f"{P}/routing-policies/pol-4", {"prefix_filter_out": []})

    path = f"{P}/links/{LINK['id']}/set-routing-policy"
    fake.answers[("POST", path)] = LINK
    res = invoke("policy", "set", "allow-v4")  # the only link is the default
    assert res.exit_code == 0, res.output
    assert fake.calls[-2] == ("POST", path, {"routing_policy_id": "pol-4"})
    assert "policy v4 allow-v4" in res.output


def test_policy_list_json_and_show(fake: FakeClient) -> None:
    res = invoke("policy", "list", "--json")
    assert json.loads(res.output) == [POLICY]
    res = invoke("policy", "show", "pol-4")
    assert "10.0.0.0/8" in res.output and "il1" in res.output


def test_customer_announce_with_file(fake: FakeClient, tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("# comment\n10.1.0.0/16\n\n10.2.0.0/16  # inline\n")
    fake.answers[("POST", "/lab/v1/customer/announce")] = {"announced": 3}
    res = invoke("customer", "announce", "10.0.0.0/16", "--file", str(f), "--community", "high")
    assert res.exit_code == 0 and "announced 3 prefix(es)" in res.output
    assert fake.calls[-1][2] == {"prefixes": ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"],
                                 "communities": ["12876:42200"]}
    assert CliRunner().invoke(cli, ["customer", "withdraw"]).exit_code == 2


def _v6(n: int) -> list[str]:
    # ~42 characters each: 25,000 of them are over the API's 1 MiB body limit
    base = int(ipaddress.IPv6Address("2001:db8:1abc:5678:9abc:def0:1000:0"))
    return [str(ipaddress.ip_network((base + (i << 8), 120))) for i in range(n)]


def test_customer_announce_of_a_long_list_goes_in_chunks(fake: FakeClient,
                                                         tmp_path: Path) -> None:
    prefixes = _v6(25_000)
    assert len(json.dumps({"prefixes": prefixes})) > MAX_BODY_BYTES
    f = tmp_path / "p.txt"
    f.write_text("\n".join(prefixes))
    fake.answers[("POST", "/lab/v1/customer/announce")] = {"announced": 5_000}
    res = invoke("customer", "announce", "--file", str(f))
    assert res.exit_code == 0 and "announced 25000 prefix(es)" in res.output, res.output
    sent = [c[2]["prefixes"] for c in fake.calls if c[1] == "/lab/v1/customer/announce"]
    assert [p for chunk in sent for p in chunk] == prefixes
    assert all(len(json.dumps({"prefixes": c})) < MAX_BODY_BYTES for c in sent)
    assert max(map(len, sent)) == ANNOUNCE_CHUNK

    fake.answers[("POST", "/lab/v1/customer/withdraw")] = {"withdrawn": 4_000,
                                                          "not_announced": 1_000}
    res = invoke("customer", "withdraw", "--file", str(f))
    assert res.exit_code == 0, res.output
    assert "withdrew 20000 prefix(es); 5000 not announced" in res.output


def test_a_bad_prefix_in_a_long_list_sends_nothing(fake: FakeClient, tmp_path: Path) -> None:
    prefixes = _v6(12_000)
    prefixes[11_000] = "10.0.0.1/8"
    f = tmp_path / "p.txt"
    f.write_text("\n".join(prefixes))
    res = CliRunner().invoke(cli, ["customer", "announce", "--file", str(f)])
    assert res.exit_code == 1, res.output
    assert "prefixes.11000" in res.output and "10.0.0.1/8" in res.output, res.output
    assert not [c for c in fake.calls if c[1] == "/lab/v1/customer/announce"]


def test_fault_and_propagation_need_a_link_when_several(fake: FakeClient) -> None:
    fake.answers[("GET", f"{P}/links")] = {
        "links": [LINK, {**LINK, "id": "22222222-b", "name": "il2"}], "total_count": 2}
    res = CliRunner().invoke(cli, ["fault", "cut"])
    assert res.exit_code == 1 and "the lab has 2 links (il1, il2): name one" in res.output
    fake.answers[("POST", "/lab/v1/faults/cut")] = {"cut": ["ipv4"]}
    res = invoke("fault", "cut", "il2", "--family", "ipv4")
    assert res.exit_code == 0 and "cut BGP ipv4 of link il2" in res.output
    assert fake.calls[-1][2] == {"link_id": "22222222-b", "family": "ipv4", "mode": "bgp"}


def test_inspect_json(fake: FakeClient) -> None:
    fake.answers[("GET", "/lab/v1/nodes")] = {"lab": "ilab", "nodes": [
        {"name": "vpc-router", "netns": "ilab-vpc-router", "role": "vpc-router",
         "addresses": ["198.18.0.1/31"]}]}
    res = invoke("inspect", "--json")
    assert json.loads(res.output) == {
        "lab": "ilab", "api": {"url": "http://127.0.0.1:1", "token": "tok"},
        "nodes": [{"name": "vpc-router", "netns": "ilab-vpc-router", "role": "vpc-router",
                   "addresses": ["198.18.0.1/31"]}]}


def test_events_count(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    evs = [{"time": 0, "type": "status", "link_id": LINK["id"], "link_name": "il1",
            "field": "bgp_v4_status", "old": "up", "new": "down"}] * 3
    monkeypatch.setattr(fake, "events", lambda timeout=None: iter(evs))
    res = invoke("events", "--count", "2")
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert len(lines) == 2 and lines[0].split()[1:] == ["status", "il1", "bgp_v4_status",
                                                         "up", "->", "down"]
    calls = iter([iter(evs)])  # then the controller is gone: no stream opens any more

    def stream(timeout: float | None = None) -> Any:
        try:
            return next(calls)
        except StopIteration:
            raise LabError("controller of lab ilab is not responding") from None
    monkeypatch.setattr(fake, "events", stream)
    res = CliRunner().invoke(cli, ["events", "--count", "5", "--timeout", "1"])
    assert res.exit_code == 1 and "got 3 of 5 events" in res.output


def _status_event(n: int) -> dict[str, Any]:
    return {"time": 0, "type": "status", "link_id": LINK["id"], "link_name": "il1",
            "field": "status", "old": "x", "new": f"s{n}"}


def test_events_follow_a_controller_restart(fake: FakeClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream ends (the controller stops); opening it fails while it restarts; then the
    new controller's events come on the same output."""
    streams: list[Any] = [iter([_status_event(1)]), LabError("not responding"),
                          iter([_status_event(2), _status_event(3)])]

    def stream(timeout: float | None = None) -> Any:
        s = streams.pop(0)
        if isinstance(s, Exception):
            raise s
        return s
    monkeypatch.setattr(fake, "events", stream)
    monkeypatch.setattr(events_mod, "RETRY_S", 0.01)
    res = CliRunner().invoke(cli, ["events", "--count", "3"])
    assert res.exit_code == 0, res.output
    assert [ln.split()[-1] for ln in res.stdout.splitlines()] == ["s1", "s2", "s3"]
    assert "reconnecting" in res.stderr and streams == []


def test_events_fail_when_the_controller_stays_away(fake: FakeClient,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(timeout: float | None = None) -> Any:
        raise LabError("lab 'ilab' is not up")
    streams = iter([iter([_status_event(1)])])
    monkeypatch.setattr(fake, "events", lambda timeout=None: next(streams, None) or gone())
    monkeypatch.setattr(events_mod, "RETRY_S", 0.01)
    monkeypatch.setattr(events_mod, "RECONNECT_S", 0.1)
    res = CliRunner().invoke(cli, ["events"])
    assert res.exit_code == 1
    assert "did not come back within 0.1 s (after 1 event(s))" in res.stderr


class _Nodes:
    """The lab's nodes as `exec` sees them (handles `<lab>-<node>`)."""

    def __init__(self, *handles: str) -> None:
        self.handles = handles
        self.attached: list[list[str]] = []

    def handle(self, lab: str, node: str) -> str:
        return f"{lab}-{node}"

    def lab_nodes(self, lab: str) -> list[str]:
        return sorted(h for h in self.handles if h.startswith(f"{lab}-"))

    def exists(self, handle: str) -> bool:
        return handle in self.handles

    def attach(self, handle: str, argv: list[str]) -> int:
        self.attached.append([handle, *argv])
        return 3


def test_exec_unknown_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exec_mod, "runtime", lambda _name: _Nodes("ilab-partner", "other-x"))
    res = CliRunner().invoke(cli, ["exec", "nope", "--", "true"])
    assert res.exit_code == 1
    assert "no node 'nope' in lab ilab (nodes: partner)" in res.output


def test_exec_passes_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = _Nodes("ilab-partner")
    monkeypatch.setattr(exec_mod, "runtime", lambda _name: nodes)
    res = CliRunner().invoke(cli, ["exec", "partner", "--", "ip", "-br", "addr"])
    assert res.exit_code == 3
    assert nodes.attached == [["ilab-partner", "ip", "-br", "addr"]]


def test_table_alignment() -> None:
    assert table(["A", "LONG"], [["xx", None], ["y", True]]).splitlines() == [
        "A   LONG", "xx  -", "y   yes"]


def test_error_messages() -> None:
    assert error_message(400, {"type": "invalid_arguments", "details": [
        {"argument_name": "prefix_filter_in.0", "reason": "constraint",
         "help_message": "bad"}]}) == ("invalid_arguments",
                                       "invalid argument(s): prefix_filter_in.0: bad")
    assert error_message(404, {"type": "not_found", "resource": "link", "resource_id": "x"})[1] \
        == "link x not found"
    assert error_message(502, "<html>\nbad gateway</html>")[1] == \
        "HTTP 502: <html> bad gateway</html>"


def test_resolve() -> None:
    c = FakeClient({("GET", f"{P}/links"): {"links": [
        LINK, {**LINK, "id": "2", "name": "dup"}, {**LINK, "id": "3", "name": "dup"}],
        "total_count": 3}})
    assert c.link("il1")["id"] == LINK["id"]
    assert c.link("11111111")["id"] == LINK["id"]
    assert c.link("3")["id"] == "3"
    with pytest.raises(LabError, match="several links are named 'dup'"):
        c.link("dup")
    with pytest.raises(LabError, match="no link 'zz'"):
        c.link("zz")


# --- faults and the customer side: say what happened ------------------------------------------


def test_fault_cut_link_mode_says_link(fake: FakeClient) -> None:
    fake.answers[("POST", "/lab/v1/faults/cut")] = {"cut": ["ipv4", "ipv6"], "mode": "link"}
    res = invoke("fault", "cut", "--mode", "link")
    assert res.exit_code == 0 and res.output.strip() == "cut link ipv4, ipv6 of link il1"
    fake.answers[("POST", "/lab/v1/faults/cut")] = {"cut": ["ipv4"], "mode": "bgp"}
    assert invoke("fault", "cut", "--family", "ipv4").output.strip() == (
        "cut BGP ipv4 of link il1")


def test_fault_restore_says_only_what_was_restored(fake: FakeClient) -> None:
    fake.answers[("POST", "/lab/v1/faults/restore")] = {
        "restored": ["ipv4"], "restarted": [],
        "restored_cuts": [{"link_id": LINK["id"], "link_name": "il1", "family": "ipv4",
                           "mode": "bgp"}]}
    res = invoke("fault", "restore")
    assert res.exit_code == 0 and res.output.strip() == "restored BGP ipv4 of link il1"
    assert fake.calls[-1][2] == {"family": "both"}  # no link named: every link
    fake.answers[("POST", "/lab/v1/faults/restore")] = {
        "restored": [], "restored_cuts": [],
        "restarted": [{"node": "customer-router", "customer": "customer",
                       "daemons": ["zebra", "bgpd"]}]}
    assert invoke("fault", "restore", "il1").output.strip() == (
        "restarted zebra, bgpd on customer-router")
    assert fake.calls[-1][2] == {"family": "both", "link_id": LINK["id"]}
    fake.answers[("POST", "/lab/v1/faults/restore")] = {"restored": [], "restored_cuts": [],
                                                         "restarted": []}
    assert "nothing to restore" in invoke("fault", "restore").output


def test_fault_list_shows_kind_and_mode(fake: FakeClient) -> None:
    fake.answers[("GET", "/lab/v1/faults")] = {"faults": [
        {"kind": "cut", "link_id": LINK["id"], "link_name": "il1", "family": "ipv4",
         "mode": "link", "peer": "169.254.0.17"},
        {"kind": "kill", "node": "customer-router", "daemon": "exabgp"}]}
    lines = invoke("fault", "list").output.splitlines()
    assert lines[0].split() == ["KIND", "LINK/NODE", "FAMILY", "MODE", "PEER/DAEMON"]
    assert lines[1].split() == ["cut", "il1", "ipv4", "link", "169.254.0.17"]
    assert lines[2].split() == ["kill", "customer-router", "-", "-", "exabgp"]


def test_fault_kill(fake: FakeClient) -> None:
    fake.answers[("POST", "/lab/v1/faults/kill")] = {"killed": [
        {"node": "customer-router", "daemon": "bgpd", "pid": 42}]}
    res = invoke("fault", "kill", "customer-router")
    assert res.exit_code == 0 and res.output.strip() == "killed bgpd (pid 42) on customer-router"
    assert fake.calls[-1][2] == {"node": "customer-router"}
    invoke("fault", "kill", "customer-router", "zebra")
    assert fake.calls[-1][2] == {"node": "customer-router", "daemon": "zebra"}
    fake.answers[("POST", "/lab/v1/faults/kill")] = ApiError(
        409, "router_down", "bgpd is not running on customer-router: ...", None)
    res = CliRunner().invoke(cli, ["fault", "kill", "customer-router"])
    assert res.exit_code == 1 and "bgpd is not running on customer-router" in res.output


def test_customer_withdraw_counts_what_was_announced(fake: FakeClient) -> None:
    fake.answers[("POST", "/lab/v1/customer/withdraw")] = {"withdrawn": 2,
                                                          "not_announced": 19998}
    res = invoke("customer", "withdraw", "10.0.0.0/16")
    assert res.output.strip() == "withdrew 2 prefix(es); 19998 not announced"
    fake.answers[("POST", "/lab/v1/customer/withdraw")] = {"withdrawn": 1, "not_announced": 0}
    assert invoke("customer", "withdraw", "10.0.0.0/16").output.strip() == (
        "withdrew 1 prefix(es)")


def test_dead_router_shown_by_routes_status_and_inspect(fake: FakeClient) -> None:
    fake.answers[("GET", "/lab/v1/customer/routes")] = {
        "announced": [], "learned": [], "sessions": {"169.254.0.16": "down"},
        "router": {"node": "customer-router", "main_daemon": "exabgp", "running": False,
                   "daemons": [{"name": "exabgp", "pid": None, "running": False}]}}
    out = invoke("customer", "routes").output
    assert "router customer-router: exabgp is not running" in out
    assert "session 169.254.0.16: down" in out
    nodes = {"lab": "ilab", "nodes": [
        {"name": "customer-router", "netns": "ilab-customer-router", "role": "customer-router",
         "addresses": [], "daemons": [{"name": "zebra", "pid": 7, "running": True},
                                      {"name": "bgpd", "pid": None, "running": False}]}]}
    fake.answers[("GET", "/lab/v1/nodes")] = nodes
    assert "customer-router: bgpd is not running" in invoke("status").output
    assert "zebra up, bgpd DEAD" in invoke("inspect").output
# --------------------------------------------------------------------------- global options


@pytest.fixture
def labs_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lab each client is made for."""
    seen: list[str] = []

    def make(lab: str) -> FakeClient:
        seen.append(lab)
        return FakeClient(base_answers())
    monkeypatch.setattr(common, "make_client", make)
    monkeypatch.delenv("ILAB_LAB", raising=False)
    return seen


@pytest.mark.parametrize("args", [["--lab", "x1", "status"], ["status", "--lab", "x1"],
                                  ["policy", "--lab", "x1", "list"],
                                  ["policy", "list", "--lab", "x1"],
                                  ["--lab", "other", "status", "--lab", "x1"]])
def test_lab_before_or_after_the_verb(labs_seen: list[str], args: list[str]) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert labs_seen == ["x1"]


def test_lab_from_the_environment(labs_seen: list[str]) -> None:
    res = CliRunner(env={"ILAB_LAB": "envlab"}).invoke(cli, ["status"])
    assert res.exit_code == 0, res.output
    assert labs_seen == ["envlab"]


def test_down_accepts_lab_after_the_verb(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.cli import down as down_verb
    from lab.control.down import DownResult
    downs: list[str] = []
    monkeypatch.setattr(down_verb, "take_down",
                        lambda lab: downs.append(lab) or DownResult(lab, [], []))
    res = CliRunner().invoke(cli, ["down", "--lab", "x2"])
    assert res.exit_code == 0, res.output
    assert downs == ["x2"] and "[x2] nothing to remove" in res.output


@pytest.mark.parametrize(("args", "env", "lab"), [
    (["--lab", "x3", "run", "f.yaml"], {}, "x3"),
    (["run", "f.yaml", "--lab", "x3"], {}, "x3"),
    (["run", "f.yaml"], {"ILAB_LAB": "x4"}, "x4"),
    (["run", "f.yaml"], {}, None),  # no lab named: a fresh one per file
])
def test_run_uses_the_global_lab(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                 env: dict[str, str], lab: str | None) -> None:
    from lab.runner import run as runner
    got: list[str | None] = []
    monkeypatch.delenv("ILAB_LAB", raising=False)
    monkeypatch.setattr(runner, "run_files", lambda files, lab, **kw: got.append(lab) or [])
    res = CliRunner(env=env).invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert got == [lab]


def test_ctrl_c_during_up_is_one_line_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.control import lifecycle

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt
    monkeypatch.setattr(lifecycle, "up", interrupted)
    res = CliRunner().invoke(cli, ["--lab", "x5", "up"])
    assert res.exit_code == 130
    assert res.stderr.splitlines() == [
        "interlink-lab: interrupted; if anything is left, `interlink-lab --lab x5 down` "
        "removes it"]


def test_up_timeout_must_be_positive() -> None:
    res = CliRunner().invoke(cli, ["up", "--timeout", "0"])
    assert res.exit_code == 2 and "--timeout" in res.output


# --------------------------------------------------------------------------- policy files


def test_policy_update_refuses_an_empty_file(fake: FakeClient, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    for f in ("/dev/null", str(empty)):
        res = CliRunner().invoke(cli, ["policy", "update", "allow-v4", "--in-file", f])
        assert res.exit_code == 2, res.output
        assert "has no prefix" in res.output and "--allow-empty" in res.output
    res = CliRunner().invoke(cli, ["policy", "create", "p", "--out-file", "/dev/null"])
    assert res.exit_code == 2 and "advertises nothing" in res.output
    assert not [c for c in fake.calls if c[0] in ("PATCH", "POST")]  # nothing changed
    res = CliRunner().invoke(cli, ["policy", "update", "allow-v4", "--in-file", "/nope"])
    assert res.exit_code == 2 and "cannot read /nope" in res.output

    fake.answers[("PATCH", f"{P}/routing-policies/pol-4")] = {**POLICY, "prefix_filter_in": []}
    res = CliRunner().invoke(cli, ["policy", "update", "allow-v4", "--in-file", "/dev/null",
                                   "--allow-empty"])
    assert res.exit_code == 0, res.output
    assert fake.calls[-1] == ("PATCH", f"{P}/routing-policies/pol-4",
                              {"prefix_filter_in": []})


def test_ctrl_c_while_importing_is_one_line_and_130(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import sys
    import types

    from lab.cli.entry import entry

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if name == "main":  # Ctrl-C while the CLI module is still loading
                raise KeyboardInterrupt
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "lab.cli.main", Interrupted("lab.cli.main"))
    with pytest.raises(SystemExit) as exc:
        entry()
    assert exc.value.code == 130
    assert capsys.readouterr().err == "interlink-lab: interrupted\n"


def test_events_since_and_no_follow(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def stream(**kw: Any) -> Any:
        calls.append(kw)
        return iter([_status_event(1) | {"id": 5}])
    monkeypatch.setattr(fake, "events", stream)
    res = invoke("events", "--since", "5m", "--no-follow", "--json")
    assert res.exit_code == 0 and json.loads(res.output)["id"] == 5
    assert calls == [{"timeout": None, "since": "5m", "follow": False}]
    res = CliRunner().invoke(cli, ["events", "--since", "soon"])
    assert res.exit_code == 2 and "expected an event id (digits), a duration" in res.output


def test_events_resume_after_the_last_id_across_a_restart(
        fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new controller's stream starts after the last event seen: what it published
    before we got back is not lost."""
    calls: list[dict[str, Any]] = []
    streams = [iter([_status_event(1) | {"id": 7}]), iter([_status_event(2) | {"id": 9}])]

    def stream(**kw: Any) -> Any:
        calls.append(kw)
        return streams.pop(0)
    monkeypatch.setattr(fake, "events", stream)
    monkeypatch.setattr(events_mod, "RETRY_S", 0.01)
    res = CliRunner().invoke(cli, ["events", "--count", "2", "--since", "0"])
    assert res.exit_code == 0, res.output
    assert [c.get("since") for c in calls] == ["0", "7"]
