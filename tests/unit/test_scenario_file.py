"""lab.scenario.file + `interlink-lab validate`: positions, schema and reference errors (pure)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.core.limits import MAX_POLICY_ENTRIES
from lab.cli.main import cli
from lab.routers import registry
from lab.runner.checks import Check
from lab.scenario.document import DEFAULT_WAITS, Issue, ScenarioFileError, locate, parse_text
from lab.scenario.file import load, validate
from lab.scenario.model import SCENARIO_DIR

SHIPPED = sorted(SCENARIO_DIR.glob("*.yaml"))
BROKEN = Path(__file__).resolve().parents[1] / "e2e" / "fixtures" / "broken.yaml"

# A valid single-link scenario; tests append steps/checks (or replace lines) to break it.
BASE = textwrap.dedent("""\
    name: t
    timers: {hold_time: 3}
    customer:
      asn: 64512
      lan: {ipv4: 198.51.100.0/24, ipv6: "2001:db8:100::/64"}
      announce: [198.51.100.0/24]
    vpcs:
      - name: vpc-lab
        private_networks:
          - name: pn-lab
            subnets: [203.0.113.0/24, "2001:db8:200::/64"]
    routing_policies:
      - name: pol4
        prefix_filter_in: [198.51.100.0/24]
        prefix_filter_out: [203.0.113.0/24]
    links:
      - name: link-lab
        vlan: 2451
        peering: {ipv4: 169.254.0.16/31, ipv6: "2001:db8:fc60::/127"}
        vpc: vpc-lab
        routing_policies: [pol4]
        enable_route_propagation: true
    """)
BASE_LINES = BASE.count("\n")  # the next line appended is BASE_LINES + 1


def issues_of(tmp_path: Path, text: str) -> list[Issue]:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return [i for i in validate(p, registry.names()) if i.severity == "error"]


def one_error(tmp_path: Path, text: str) -> Issue:
    errs = issues_of(tmp_path, text)
    assert len(errs) == 1, "\n".join(map(str, errs))
    return errs[0]


# --------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_validates(path: Path) -> None:
    errors = [i for i in validate(path, registry.names()) if i.severity == "error"]
    assert not errors, "\n".join(map(str, errors))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_start_with_comments(path: Path) -> None:
    head = path.read_text().splitlines()[:3]
    assert all(line.startswith("#") for line in head), head
    assert head[0].startswith(f"# {path.stem}:")


def test_library_is_complete() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"basic", "ipv4-only", "propagation-toggle", "live-policy-edit", "hijack-attempts",
            "redundant", "multi-tenant", "customer-frr", "customer-bird",
            "md5-mismatch"} <= names


def test_broken_fixture_is_valid() -> None:
    sf = load(BROKEN, registry.names())
    assert sf.checks[1]["name"] == "ipv4 wrongly expected blocked"


def test_base_is_valid(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE) == []


def test_fault_steps_reset_link_mode_and_kill(tmp_path: Path) -> None:
    steps = ("steps:\n  - fault: {action: reset, family: ipv4}\n"
             "  - fault: {action: cut, mode: link}\n  - fault: {action: kill, "
             "node: customer-router, daemon: exabgp}\n  - fault: {action: restore}\n")
    assert issues_of(tmp_path, BASE + steps) == []
    bad = "steps:\n  - fault: {action: restore, mode: link}\n"  # mode: cut only
    assert issues_of(tmp_path, BASE + bad) != []
    bad = "steps:\n  - fault: {action: kill}\n"  # which node?
    assert issues_of(tmp_path, BASE + bad) != []


# --------------------------------------------------------------------------- positions


def test_yaml_syntax_error_position(tmp_path: Path) -> None:
    e = one_error(tmp_path, "name: t\nlinks: [unclosed\n")
    assert e.message.startswith("invalid YAML")
    assert e.line == 3


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    e = one_error(tmp_path, BASE + "name: again\n")
    assert (e.line, e.col) == (BASE_LINES + 1, 1)
    assert "duplicate key 'name' (first on line 1)" in e.message


def test_unknown_top_level_key_points_at_the_key(tmp_path: Path) -> None:
    e = one_error(tmp_path, BASE + "stpes: []\n")
    assert (e.line, e.col) == (BASE_LINES + 1, 1)
    assert "unknown key 'stpes'" in e.message and "steps" in e.message


def test_issue_format(tmp_path: Path) -> None:
    e = one_error(tmp_path, BASE + "checks:\n  - link: {name: nope}\n")
    assert str(e) == (f"{tmp_path / 's.yaml'}:{BASE_LINES + 2}:18: "
                      "unknown link 'nope' (known: link-lab)")
    assert str(Issue("f", 1, 2, "m", "note")) == "f:1:2: note: m"


def test_locate_falls_back_to_the_deepest_existing_node() -> None:
    sf = parse_text(BASE, "x.yaml")
    assert locate(sf.root, ("links", 0, "vlan")) == (18, 11)
    assert locate(sf.root, ("links", 0, "vlan"), key=True) == (18, 5)
    assert locate(sf.root, ("links", 0, "nothing", 3)) == (17, 5)
    assert locate(sf.root, ("links", 7)) == (17, 3)


# --------------------------------------------------------------------------- schema


def at(tail: str, token: str) -> tuple[int, int]:
    """1-based (line, col) of the first ``token`` in the lines appended to BASE."""
    for n, text in enumerate(tail.splitlines(), start=BASE_LINES + 1):
        if token in text:
            return n, text.index(token) + 1
    raise AssertionError(f"{token!r} not in {tail!r}")


@pytest.mark.parametrize(("tail", "token", "fragment"), [
    ("steps:\n  - sleep: 3\n", "sleep", "steps[0]: unknown key 'sleep' (allowed: announce,"),
    ("steps:\n  - {name: x}\n", "{name", "a step needs one of: api, propagation"),
    ("steps:\n  - propagation: {enabled: true}\n    fault: {action: cut}\n", "propagation",
     "a step has exactly one action, got propagation, fault"),
    ("steps:\n  - propagation: {enabled: maybe}\n", "maybe",
     "steps[0].propagation.enabled: 'maybe' is not of type 'boolean'"),
    ("steps:\n  - fault: {action: break}\n", "break",
     "'break' is not one of ['cut', 'reset', 'restore', 'kill']"),
    ("steps:\n  - fault: {action: cut, mode: wire}\n", "wire",
     "'wire' is not one of ['bgp', 'link']"),
    ("checks:\n  - traffic: {from: onprem-host}\n", "{from",
     "checks[0].traffic: 'to' is a required property"),
    ("checks:\n  - traffic: {from: onprem-host, to: vpc-instance, expect: drop}\n", "drop",
     "'drop' is not one of ['pass', 'block']"),
    ("checks:\n  - route: {node: vpc-router, prefix: 10.0.0.0}\n", "10.0",
     "'10.0.0.0' is not a prefix"),
    ("checks:\n  - stats: {family: ipv4, rejected_min: {stolen: 1}}\n", "stolen",
     "'stolen' is not one of ['no_policy'"),
    ("waits: {session: -1}\n", "-1", "waits.session: -1 is less than or equal to"),
])
def test_schema_errors(tmp_path: Path, tail: str, token: str, fragment: str) -> None:
    e = one_error(tmp_path, BASE + tail)
    assert (e.line, e.col) == at(tail, token), str(e)
    assert fragment in e.message


def test_customer_or_customers(tmp_path: Path) -> None:
    errs = issues_of(tmp_path, BASE.replace("customer:", "client:", 1))
    by_pos = {(e.line, e.col): e.message for e in errs}
    assert set(by_pos) == {(1, 1), (3, 1)}
    assert "needs exactly one of `customer` (one customer) or `customers`" in by_pos[1, 1]
    assert "unknown key 'client'" in by_pos[3, 1]


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(("tail", "token", "fragment"), [
    ("steps:\n  - propagation: {link: link-b, enabled: true}\n", "link-b",
     "unknown link 'link-b' (known: link-lab)"),
    ("steps:\n  - attach_policy: {policy: pol6}\n", "pol6", "unknown routing policy 'pol6'"),
    ("steps:\n  - attach_vpc: {vpc: vpc-x}\n", "vpc-x", "unknown VPC 'vpc-x'"),
    ("steps:\n  - policy: {name: pol4, prefix_filter_in: ['2001:db8::/32']}\n", "'2001",
     "2001:db8::/32 is not IPv4: policy 'pol4' is IPv4"),
    ("steps:\n  - announce: {prefixes: [192.0.2.0/25]}\n", "192",
     "192.0.2.0/25 overlaps 192.0.2.0/24, reserved for the host"),
    ("steps:\n  - announce: {prefixes: [10.0.0.1/8]}\n", "10.", "has host bits set"),
    ("steps:\n  - announce: {customer: globex, prefixes: [10.0.0.0/8]}\n", "globex",
     "unknown customer 'globex' (known: customer)"),
    ("steps:\n  - api: {method: POST, path: 'links/{link:nope}/detach-vpc'}\n", "'links",
     "unknown link 'nope'"),
    ("steps:\n  - api: {method: POST, path: x, body: {id: '{pol:pol4}'}}\n", "'{pol",
     "unknown placeholder '{pol:pol4}'"),
    ("steps:\n  - wait: {link: {status: active}, timeout: forever}\n", "forever",
     "unknown wait 'forever' (waits: convergence, failover, session)"),
    ("checks:\n  - route: {node: vpc-routr, prefix: 10.0.0.0/8}\n", "vpc-routr",
     "unknown node 'vpc-routr' (nodes: customer-router, onprem-host"),
    ("checks:\n  - traffic: {from: onprem-host, to: instance}\n", "instance",
     "unknown node 'instance'"),
    ("checks:\n  - route: {node: vpc-router, prefix: 10.0.0.0/8, via: somewhere}\n",
     "somewhere", "via 'somewhere' is neither an address nor a link (link-lab)"),
    ("checks:\n  - stats: {link: nope, family: ipv4}\n", "nope", "unknown link 'nope'"),
    ("checks:\n  - link: {name: nope}\n", "nope", "unknown link 'nope' (known: link-lab)"),
    ("steps:\n  - fault: {action: kill, node: custmer-router}\n", "custmer",
     "unknown node 'custmer-router'"),
])
def test_reference_errors(tmp_path: Path, tail: str, token: str, fragment: str) -> None:
    e = one_error(tmp_path, BASE + tail)
    assert (e.line, e.col) == at(tail, token), str(e)
    assert fragment in e.message


def test_link_may_be_omitted_only_with_one_link(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE + "steps:\n  - propagation: {enabled: false}\n") == []
    two = BASE + textwrap.indent(textwrap.dedent("""\
        - name: link-b
          vlan: 2452
          peering: {ipv4: 169.254.0.18/31}
        """), "  ") + "steps:\n  - propagation: {enabled: false}\n"
    e = one_error(tmp_path, two)
    assert "name the link: the lab has 2 links (link-lab, link-b)" in e.message


def test_topology_errors_are_positioned(tmp_path: Path) -> None:
    e = one_error(tmp_path, BASE.replace("vpc: vpc-lab", "vpc: vpc-other"))
    assert e.line == 20 and "unknown VPC 'vpc-other'" in e.message
    e = one_error(tmp_path, BASE.replace("vlan: 2451", "vlan: 12"))
    assert (e.line, e.col) == (18, 11)
    e = one_error(tmp_path, BASE.replace("169.254.0.16/31", "169.254.0.17/31"))
    assert e.line == 19 and "network address" in e.message


@pytest.mark.parametrize(("password", "fragment"), [
    ("\"it's\"", "contains a quote (')"),
    ("'say\"hi\"'", 'contains a double quote (")'),
    ('"two\\nlines"', "contains whitespace"),
    ("'with space'", "contains whitespace"),
])
def test_a_password_a_speaker_cannot_take_is_refused(tmp_path: Path, password: str,
                                                      fragment: str) -> None:
    for where, line, indent in (("asn: 64512", 5, "  "), ("vlan: 2451", 19, "    ")):
        text = BASE.replace(where, f"{where}\n{indent}md5_password: {password}")
        e = one_error(tmp_path, text)
        assert (e.line, e.col) == (line, len(indent) + 15), str(e)
        assert fragment in e.message and "printable ASCII" in e.message, e.message
    ok = BASE.replace("asn: 64512", "asn: 64512\n  md5_password: '!@#$%^&*()-_=+[]{}<>,.?/~|;:'")
    assert issues_of(tmp_path, ok) == []


def test_a_policy_list_longer_than_the_api_takes_is_refused(tmp_path: Path) -> None:
    # The API's limit (controller.core.limits): a scenario cannot seed what it would refuse.
    many = ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(MAX_POLICY_ENTRIES + 1))
    e = one_error(tmp_path, BASE.replace("prefix_filter_in: [198.51.100.0/24]",
                                         f"prefix_filter_in: [{many}]"))
    assert (e.line, e.col) == (14, 23) and f"at most {MAX_POLICY_ENTRIES}" in e.message, str(e)
    ok = ", ".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(MAX_POLICY_ENTRIES))
    assert issues_of(tmp_path, BASE.replace("prefix_filter_in: [198.51.100.0/24]",
                                            f"prefix_filter_in: [{ok}]")) == []


def test_named_waits_and_defaults(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(BASE + "waits: {failover: 5, slow: 42}\nchecks:\n"
                 "  - {link: {status: active}, timeout: slow}\n")
    sf = load(p, registry.names())
    assert sf.waits == {**DEFAULT_WAITS, "failover": 5.0, "slow": 42.0}
    assert sf.timeout("slow") == 42.0 and sf.timeout(None) == DEFAULT_WAITS["convergence"]
    assert sf.timeout(1.5) == 1.5


def test_load_raises_with_every_error(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(BASE + "checks:\n  - stats: {link: a, family: ipv4}\n"
                        "  - stats: {link: b, family: ipv4}\n")
    with pytest.raises(ScenarioFileError) as exc:
        load(p, registry.names())
    assert [i.line for i in exc.value.issues] == [BASE_LINES + 2, BASE_LINES + 3]


def test_missing_file() -> None:
    (e,) = validate("/nonexistent/x.yaml", registry.names())
    assert str(e) == "/nonexistent/x.yaml:1:1: cannot read: no such file"


# --------------------------------------------------------------------------- CLI and runner


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "checks:\n  - link: {name: nope}\n")
    res = CliRunner().invoke(cli, ["validate", str(good), "basic"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["validate", str(good), str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:{BASE_LINES + 2}:18: unknown link 'nope'" in res.output
    assert "1 of 2 file(s) invalid" in res.output


def test_cli_run_rejects_an_invalid_file_before_starting_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "steps:\n  - sleep: 3\n")
    res = CliRunner().invoke(cli, ["run", str(bad), "--lab", "never"])
    assert res.exit_code == 2
    assert f"{bad}:{BASE_LINES + 2}:5: steps[0]: unknown key 'sleep'" in res.output


def test_negative_checks_run_last(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(BASE + textwrap.dedent("""\
        checks:
          - route: {node: vpc-router, prefix: 10.0.0.0/8, present: false}
          - traffic: {from: onprem-host, to: vpc-instance, expect: block}
          - route: {node: vpc-router, prefix: 198.51.100.0/24}
        """))
    sf = load(p, registry.names())
    checks = [Check.parse(c, sf) for c in sf.checks]
    assert [c.negative for c in checks] == [True, True, False]
    assert checks[0].expected() == "10.0.0.0/8 absent"
    assert checks[2].summary() == "route 198.51.100.0/24 in vpc-router"
