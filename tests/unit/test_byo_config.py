"""Bring your own customer router config: the scenario fields, the template, the diagnosis
rules (all pure)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab.routers import registry
from lab.routers.diagnose import Observation, why
from lab.routers.template import TemplateError, render_customer
from lab.scenario import file as sfile
from lab.scenario.addressing import build_topology
from lab.scenario.dump import scenario_to_dict
from lab.scenario.model import AnnounceSpec, ScenarioError
from lab.scenario.parse import load_scenario, parse_scenario
from lab.scenario.topology import CustomerSession, CustomerWiring

SCENARIO = """\
name: byo
customer:
  asn: 64512
  router: {router}
  config: {config}
  lan: {{ipv4: 198.51.100.0/24}}
  announce: [198.51.100.0/24]
links:
  - name: link-lab
    vlan: 2451
    peering: {{ipv4: 169.254.0.16/31}}
"""


def _write(tmp_path: Path, config: str = "my.conf", router: str = "frr") -> Path:
    p = tmp_path / "byo.yaml"
    p.write_text(SCENARIO.format(router=router, config=config))
    return p


def customer(**kw: object) -> CustomerWiring:
    base = CustomerWiring(
        name="acme", router="frr", asn=64512, netns="x-customer-router", lan_host_netns="y",
        lan_v4="198.51.100.0/24", lan_v6="2001:db8:100::/64",
        announce=(AnnounceSpec("198.51.100.0/24"), AnnounceSpec("2001:db8:100::/48"),
                  AnnounceSpec("100.64.10.0/24", ("12876:42200",))),
        md5_password=None,
        sessions=(CustomerSession("l1", "ipv4", "169.254.0.17", "169.254.0.16", 2451,
                                  "il0.2451"),
                  CustomerSession("l1", "ipv6", "2001:db8:fc60::1", "2001:db8:fc60::", 2451,
                                  "il0.2451")))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


# --- scenario -------------------------------------------------------------------------------

def test_config_relative_to_the_scenario_and_dumped_absolute(tmp_path: Path) -> None:
    (tmp_path / "my.conf").write_text("hostname x\n")
    sc = load_scenario(str(_write(tmp_path)))
    assert sc.customer.config == str(tmp_path / "my.conf")
    assert sc.customer.image is None
    again = parse_scenario(scenario_to_dict(sc), "stored scenario")
    assert again == sc
    assert build_topology(sc, "ilab").customers[0].config == str(tmp_path / "my.conf")


def test_image_is_carried(tmp_path: Path) -> None:
    p = _write(tmp_path, config="/etc/hostname")
    p.write_text(p.read_text().replace("  config: /etc/hostname\n",
                                       "  image: my/frr:10.2\n"))
    sc = load_scenario(str(p))
    assert (sc.customer.config, sc.customer.image) == (None, "my/frr:10.2")
    assert scenario_to_dict(sc)["customers"][0]["image"] == "my/frr:10.2"


def test_missing_config_is_a_file_line_col_error(tmp_path: Path) -> None:
    p = _write(tmp_path, config="nope.conf")
    issues = [i for i in sfile.validate(p, registry.names()) if i.severity == "error"]
    assert [str(i) for i in issues] == [
        f"{p}:5:11: config file 'nope.conf' not found ({tmp_path / 'nope.conf'})"]


def test_config_with_exabgp_is_refused(tmp_path: Path) -> None:
    (tmp_path / "my.conf").write_text("x\n")
    with pytest.raises(ScenarioError, match=r"customer\.config: a configuration of your own "
                                            "needs router: frr or bird"):
        load_scenario(str(_write(tmp_path, router="exabgp")))


def test_refusals_at_up() -> None:
    frr, exabgp = registry.get("frr"), registry.get("exabgp")
    c = customer(config="/x.conf")
    assert frr.refusal(c) is None
    assert "runs the lab's generated configuration" in (exabgp.refusal(c) or "")
    img = frr.refusal(customer(image="my/frr:10.2"))
    assert img is not None and "netns runtime" in img


# --- template ---------------------------------------------------------------------------------

def test_placeholders() -> None:
    text = ("router bgp {{ asn }}\n neighbor {{ link.peer_ipv4 }} remote-as {{ link.scw_asn }}\n"
            " neighbor {{ link.scw_ipv6 }} update-source {{ link.customer_ipv6 }}\n"
            "! {{ link.name }} {{ link.id }} vlan {{ link.vlan }} on {{ link.interface }}\n"
            "{% for p in prefixes.ipv4 %}\n  network {{ p }}\n{% endfor %}\n"
            "! v6 {{ prefixes.ipv6 | join(',') }} all {{ prefixes.all | length }}"
            " md5 [{{ link.md5_password }}] {{ customer.name }} {{ customer.asn }}"
            " links {{ links | length }}\n")
    out = render_customer(text, "/my.conf", customer(), {"l1": "uuid-1"})
    assert out == ("router bgp 64512\n neighbor 169.254.0.16 remote-as 12876\n"
                   " neighbor 2001:db8:fc60:: update-source 2001:db8:fc60::1\n"
                   "! l1 uuid-1 vlan 2451 on il0.2451\n"
                   "  network 198.51.100.0/24\n  network 100.64.10.0/24\n"
                   "! v6 2001:db8:100::/48 all 3 md5 [] acme 64512 links 1\n")


def test_several_links() -> None:
    c = customer(sessions=(
        CustomerSession("a", "ipv4", "169.254.0.17", "169.254.0.16", 2451, "il0.2451"),
        CustomerSession("b", "ipv4", "169.254.0.19", "169.254.0.18", 2452, "il0.2452")),
        md5_password="s3cret")
    out = render_customer("{{ link.name }}{% for l in links %} {{ l.vlan }}:{{ l.peer_ipv4 }}"
                          "{% endfor %} {{ link.peer_ipv6 }}|{{ link.md5_password }}",
                          "/f", c)
    assert out == "a 2451:169.254.0.16 2452:169.254.0.18 |s3cret"


@pytest.mark.parametrize(("text", "message"), [
    ("ok\n neighbor {{ link.peer_ipv5 }}\n", "/my.conf:2: unknown placeholder link.peer_ipv5 "
     "(a link has: name, id, vlan, interface, peer_ipv4"),
    ("\n\nrouter bgp {{ asnn }}\n", "/my.conf:3: unknown placeholder 'asnn' (known: asn, "),
    ("{% for p in prefixes %}\n{% endfo %}\n", "/my.conf:2: "),
])
def test_template_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as e:
        render_customer(text, "/my.conf", customer())
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)


# --- diagnosis --------------------------------------------------------------------------------

def obs(**kw: object) -> Observation:
    base = Observation(link="l1", family="ipv4", peer="169.254.0.16", local="169.254.0.17",
                       vlan=2451, interface="il0.2451", asn=64512, up=False,
                       bgp_state="Active", own_config=True, configured=True,
                       neighbors=("169.254.0.16",), remote_asn=12876, local_asn=64512,
                       neighbor_state="REACHABLE", rx_packets=10)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_up_needs_no_why() -> None:
    assert why(obs(up=True, bgp_state="Established")) is None


def test_dead_daemon_with_its_last_log_line() -> None:
    assert why(obs(daemon_running=False, daemon="bird",
                   log_tail=["starting", "bird: /x/own.conf:3:1 syntax error", ""])) == (
        "bird is not running; its last log line: bird: /x/own.conf:3:1 syntax error")


def test_no_neighbor_for_scaleway() -> None:
    assert why(obs(configured=False, neighbors=("169.254.0.18",))) == (
        "your config has no neighbor 169.254.0.16, Scaleway's IPv4 address on link l1 (it "
        "has: 169.254.0.18): use {{ link.peer_ipv4 }}")


def test_wrong_remote_as_then_wrong_local_as() -> None:
    assert why(obs(remote_asn=12875)) == (
        "neighbor 169.254.0.16 is configured with remote AS 12875; Scaleway's ASN is 12876 "
        "({{ link.scw_asn }})")
    assert "speaks as AS 65000 but link l1 expects the customer's AS 64512" in (
        why(obs(local_asn=65000)) or "")


def test_bad_peer_as_notification() -> None:
    got = why(obs(local_asn=None, reason="Received: Bad peer AS"))
    assert got is not None and got.startswith("Scaleway refused the OPEN (Received: Bad peer AS)")
    got = why(obs(remote_asn=None, reason="Error: Bad peer AS"))
    assert got is not None and got.startswith("the router refused Scaleway's OPEN")


def test_md5() -> None:
    assert (why(obs(md5_failures={"TCPMD5NotFound": 2})) or "").startswith(
        "TCP-MD5 authentication failures (TCPMD5NotFound +2)")


def test_no_arp_reply_names_the_vlan() -> None:
    assert why(obs(neighbor_state="FAILED", config_interfaces=("il0.2452", "lan0"))) == (
        "no ARP reply from 169.254.0.16 on il0.2451; your config names il0.2452, the link's "
        "VLAN is 2451 (il0.2451, {{ link.interface }})")
    assert why(obs(family="ipv6", peer="2001:db8:fc60::", neighbor_state=None,
                   rx_packets=0)) == (
        "no ND reply from 2001:db8:fc60:: on il0.2451; check VLAN 2451 and the address on "
        "il0.2451")


def test_bare_states() -> None:
    assert why(obs()) == ("BGP Active: no TCP session with 169.254.0.16 port 179 yet (from "
                          "169.254.0.17)")
    assert why(obs(bgp_state="Idle")) == (
        "BGP Idle: the neighbor is not trying to connect (shut down or waiting)")
    assert why(obs(bgp_state="Connect", reason="Socket: Connection refused")) == (
        "BGP Connect: Socket: Connection refused")
