"""Operations on resources: rules, errors, and nothing changed when a request is rejected."""

import copy
import dataclasses
from pathlib import Path

import pytest

from controller.core import catalog as catalog_mod
from controller.core.inventory import Inventory
from controller.core.model import (
    ArgumentError,
    BgpConfig,
    Link,
    NotFound,
    PartnerRef,
    PreconditionFailed,
    TransientState,
    Vpc,
)
from lab.daemon.wiring import RESERVED_PREFIXES


@pytest.fixture
def inv():
    inv = Inventory(reserved=RESERVED_PREFIXES)  # as the lab builds it
    inv.vpcs["vpc1"] = Vpc(id="vpc1", name="vpc")
    inv.vpcs["vpc-ams"] = Vpc(id="vpc-ams", name="vpc", region="nl-ams")
    inv.links["l1"] = Link(
        id="l1", name="link", pop_id="p", bandwidth_mbps=100, vlan=2451,
        scw_bgp_config=BgpConfig(12876, "169.254.0.16/31", "2001:db8:fc60::/127"),
        peer_bgp_config=BgpConfig(64512, "169.254.0.17/31", "2001:db8:fc60::1/127"))
    return inv


def v4(inv, **kw):
    body = {"name": "p4", "is_ipv6": False, "prefix_filter_in": ["198.51.100.0/24"],
            "prefix_filter_out": ["203.0.113.0/24"], **kw}
    return inv.create_policy(body, "fr-par")


def unchanged(inv, fn):
    before = copy.deepcopy(inv)
    with pytest.raises((ArgumentError, NotFound, PreconditionFailed, TransientState)) as exc:
        fn()
    assert inv == before, "a rejected request changed the inventory"
    return exc.value


def test_policy_validation(inv):
    err = unchanged(inv, lambda: v4(inv, prefix_filter_in=["10.0.0.1/8", "2001:db8::/32"]))
    assert [d["argument_name"] for d in err.details] == ["prefix_filter_in.0",
                                                          "prefix_filter_in.1"]
    assert "host bits" in err.details[0]["help_message"]
    assert "IPv4" in err.details[1]["help_message"]
    err = unchanged(inv, lambda: v4(inv, bogus=1))
    assert err.details[0]["reason"] == "unknown"


def test_attach_set_detach(inv):
    p = v4(inv)
    p2 = v4(inv, name="p4b")
    p6 = inv.create_policy({"name": "p6", "is_ipv6": True}, "fr-par")
    inv.attach_policy("l1", {"routing_policy_id": p.id})
    inv.attach_policy("l1", {"routing_policy_id": p6.id})
    assert inv.links["l1"].routing_policy_v4_id == p.id
    assert inv.links["l1"].routing_policy_v6_id == p6.id
    err = unchanged(inv, lambda: inv.attach_policy("l1", {"routing_policy_id": p2.id}))
    assert err.precondition == "policy_family_already_attached"
    inv.set_policy("l1", {"routing_policy_id": p2.id})  # swap in place
    assert inv.links["l1"].routing_policy_v4_id == p2.id
    unchanged(inv, lambda: inv.detach_policy("l1", {"routing_policy_id": p.id}))
    unchanged(inv, lambda: inv.delete_policy(p2.id))      # still attached
    inv.detach_policy("l1", {"routing_policy_id": p2.id})
    inv.delete_policy(p2.id)
    assert p2.id not in inv.policies
    unchanged(inv, lambda: inv.attach_policy("l1", {"routing_policy_id": "nope"}))
    unchanged(inv, lambda: inv.attach_policy("nope", {"routing_policy_id": p.id}))


def test_update_policy_replaces_lists(inv):
    p = v4(inv)
    inv.update_policy(p.id, {"prefix_filter_in": ["198.18.0.0/15"]})
    assert p.prefix_filter_in == ["198.18.0.0/15"]
    assert p.prefix_filter_out == ["203.0.113.0/24"]
    unchanged(inv, lambda: inv.update_policy(p.id, {"prefix_filter_out": ["2001:db8::/32"]}))


def test_vpc_attach_detach_turns_propagation_off(inv):
    unchanged(inv, lambda: inv.attach_vpc("l1", {"vpc_id": "vpc-ams"}))  # other region
    unchanged(inv, lambda: inv.attach_vpc("l1", {}))
    inv.attach_vpc("l1", {"vpc_id": "vpc1"})
    inv.set_propagation("l1", True)
    inv.detach_vpc("l1")
    link = inv.links["l1"]
    assert link.vpc_id is None and link.enable_route_propagation is False
    unchanged(inv, lambda: inv.detach_vpc("l1"))


def test_link_api_json_omits_unset_and_sorts(inv):
    d = inv.links["l1"].to_api("active", "up", "disabled")
    assert list(d) == sorted(d)
    assert "vpc_id" not in d and "routing_policy_v4_id" not in d
    assert d["scw_bgp_config"] == {"asn": 12876, "ipv4": "169.254.0.16/31",
                                   "ipv6": "2001:db8:fc60::/127"}
    assert "hold_time" not in d and "lifecycle" not in d


def test_link_api_json_holds_every_field_of_its_parts(inv):
    """The nested objects are built by hand (speed): each must still carry every field of
    its dataclass, sorted, whatever fields are added later."""
    link = copy.deepcopy(inv.links["l1"])
    link.partner = PartnerRef(partner_id="p", pairing_key="k", disapproved_reason="why")
    d = link.to_api("active", "up", "up")
    for key, part in (("scw_bgp_config", link.scw_bgp_config),
                      ("peer_bgp_config", link.peer_bgp_config), ("partner", link.partner)):
        assert d[key] == dataclasses.asdict(part) and list(d[key]) == sorted(d[key]), key


# --- catalog, link creation and lifecycle -------------------------------------------------

CAT = catalog_mod.load()
TH2, DC3 = "95b2e92f-b7ae-4298-a581-b6c14cdae035", "ed96ea8d-9288-4555-9029-ccb2400d25e0"
FRANCEIX, LINKT = "17782f6a-4bd5-4c01-b2fd-171891bc1f88", "664aa3ae-f198-41f8-9e71-682ad3b296bc"
CONN = "4d2cab29-9245-4282-881c-765d38d6d28e"


def hosted(inv, **kw):
    body = {"name": "h", "pop_id": TH2, "bandwidth_mbps": 100, "partner_id": FRANCEIX, **kw}
    return inv.create_link(body, "fr-par", CAT)


def test_create_link_allocates_free_peering_and_vlan(inv):
    a, b = hosted(inv), hosted(inv)
    # l1 holds 169.254.0.16/31 and 2001:db8:fc60::/127 (as the lab's scenario link does).
    assert (a.scw_bgp_config.ipv4, a.peer_bgp_config.ipv4) == ("169.254.0.0/31",
                                                               "169.254.0.1/31")
    assert (a.scw_bgp_config.ipv6, a.peer_bgp_config.ipv6) == ("2001:db8:fc60:1::/127",
                                                               "2001:db8:fc60:1::1/127")
    assert b.scw_bgp_config.ipv4 == "169.254.0.2/31"
    assert b.scw_bgp_config.ipv6 == "2001:db8:fc60:2::/127"
    ipv4s = [hosted(inv).scw_bgp_config.ipv4 for _ in range(7)]
    assert "169.254.0.16/31" not in ipv4s and ipv4s[-1] == "169.254.0.18/31"
    assert (a.vlan, b.vlan) == (1500, 1501)
    assert a.lifecycle == "requested" and a.partner.l3_connectivity is False
    assert a.partner.pairing_key != b.partner.pairing_key
    assert a.peer_bgp_config.asn == 39801 and a.scw_bgp_config.asn == 12876
    # A freed pair is reused by the next link.
    inv.delete_link(a.id)
    assert hosted(inv).scw_bgp_config.ipv4 == "169.254.0.0/31"


def test_create_link_validation_changes_nothing(inv):
    p6 = inv.create_policy({"name": "p6", "is_ipv6": True}, "fr-par")
    p_ams = inv.create_policy({"name": "ams"}, "nl-ams")
    hosted(inv, vlan=2000)
    for kw, what in (({"partner_id": LINKT, "pop_id": DC3}, "partner_id"),
                     ({"bandwidth_mbps": 25000, "pop_id": DC3}, "bandwidth_mbps"),
                     ({"vlan": 2000}, "vlan_in_use"),
                     ({"vlan": 3900}, "vlan"),
                     ({"peer_asn": 0}, "peer_asn"),
                     ({"peer_asn": True}, "peer_asn"),
                     ({"routing_policy_v4_id": p6.id}, "routing_policy_v4_id"),
                     ({"routing_policy_v4_id": p_ams.id}, "region_mismatch"),
                     ({"connection_id": CONN}, "partner_id"),
                     ({"partner_id": None}, "partner_id"),
                     ({"tags": "x"}, "tags"),
                     ({"name": None}, "name")):
        err = unchanged(inv, lambda kw=kw: hosted(inv, **kw))
        assert what in str(err) + str(getattr(err, "details", "")) + str(
            getattr(err, "precondition", "")), (kw, err)
    unchanged(inv, lambda: inv.create_link({"name": "x", "pop_id": TH2, "bandwidth_mbps": 50,
                                            "partner_id": FRANCEIX}, "nl-ams", CAT))


def test_self_hosted_capacity_and_vlan_range(inv):
    body = {"name": "d", "pop_id": TH2, "connection_id": CONN, "bandwidth_mbps": 5000}
    a = inv.create_link(body, "fr-par", CAT)
    assert (a.lifecycle, a.connection_id, a.vlan, a.partner) == ("ready", CONN, 3000, None)
    inv.create_link(body, "fr-par", CAT)
    err = unchanged(inv, lambda: inv.create_link({**body, "bandwidth_mbps": 50}, "fr-par", CAT))
    assert err.precondition == "insufficient_capacity"
    inv.mark_provisioned(a.id)
    assert inv.links[a.id].lifecycle == "provisioned"


def test_partner_lifecycle(inv):
    a = hosted(inv)
    key = a.partner.pairing_key
    unchanged(inv, lambda: inv.approve_link("nope"))
    unchanged(inv, lambda: inv.approve_link(None))
    unchanged(inv, lambda: inv.mark_provisioned(a.id))          # not approved yet
    unchanged(inv, lambda: inv.refuse_link(key, ""))
    assert inv.approve_link(key).lifecycle == "provisioning"
    unchanged(inv, lambda: inv.approve_link(key))
    unchanged(inv, lambda: inv.expire_link(a.id))
    inv.mark_provisioned(a.id)
    gone = inv.delete_link(a.id)
    assert gone.lifecycle == "deprovisioning" and a.id in inv.links
    for op in (lambda: inv.delete_link(a.id), lambda: inv.set_propagation(a.id, True),
               lambda: inv.update_link(a.id, {"name": "x"})):
        err = unchanged(inv, op)
        assert isinstance(err, TransientState) and err.current_state == "deprovisioning"
    assert inv.finish_delete(a.id).lifecycle == "deleted" and a.id not in inv.links
    b = hosted(inv)
    refused = inv.refuse_link(b.partner.pairing_key, "port full")
    assert (refused.lifecycle, refused.partner.disapproved_reason) == ("refused", "port full")
    c = hosted(inv)
    assert inv.expire_link(c.id).lifecycle == "expired"
    assert inv.delete_link(c.id).lifecycle == "deleted" and c.id not in inv.links


def test_unchanged_catches_transient_state(inv):
    inv.links["l1"].lifecycle = "configuring"
    unchanged(inv, lambda: inv.attach_vpc("l1", {"vpc_id": "vpc1"}))


# --- VPC v2 ---------------------------------------------------------------------------------
def test_vpc_and_private_networks(inv):
    vpc = inv.create_vpc({"name": "v", "enable_routing": False, "project_id": None}, "fr-par")
    assert vpc.routing_enabled is False and vpc.region == "fr-par"
    unchanged(inv, lambda: inv.create_vpc({"enable_routing": "yes"}, "fr-par"))
    pn = inv.create_private_network({"vpc_id": vpc.id, "subnets": ["10.1.0.0/16",
                                                                   "2001:db8:200::/64"]},
                                    "fr-par")
    assert pn.subnets == ["10.1.0.0/16", "2001:db8:200::/64"] and pn.project_id == vpc.project_id
    for subnets in (["10.1.2.0/24"], ["192.0.2.0/24"], ["fd00::/64"], ["169.254.1.0/24"],
                    ["8.8.8.0/24"], ["10.0.0.0/30"], ["10.0.0.1/24"], "10.0.0.0/8",
                    ["2001:db8:fc60:5::/64"], ["10.9.0.0/24", "10.9.0.0/25"]):
        unchanged(inv, lambda s=subnets: inv.create_private_network(
            {"vpc_id": vpc.id, "subnets": s}, "fr-par"))
    unchanged(inv, lambda: inv.create_private_network({"vpc_id": vpc.id}, "nl-ams"))
    for subnet, why in (
            ("192.0.2.0/24", "overlaps 192.0.2.0/24, reserved by the lab: its host's own "
                             "network (eth0)"),
            ("fd00::/64", "overlaps fd00::/64, reserved by the lab: its host's own network"),
            ("169.254.1.0/24", "overlaps 169.254.0.0/16, reserved for link peering"),
            ("8.8.8.0/24", "must be in a private or documentation range")):
        err = unchanged(inv, lambda s=subnet: inv.create_private_network(
            {"vpc_id": vpc.id, "subnets": [s]}, "fr-par"))
        assert why in err.details[0]["help_message"], err.details
    auto = inv.create_private_network({"vpc_id": vpc.id}, "fr-par")
    assert auto.subnets == ["198.18.16.0/24", "2001:db8:300::/64"]
    assert inv.create_private_network({"vpc_id": "vpc1"}, "fr-par").subnets == [
        "198.18.17.0/24", "2001:db8:300:1::/64"]
    err = unchanged(inv, lambda: inv.delete_vpc(vpc.id))
    assert "private network" in err.help_message
    inv.delete_private_network(pn.id)
    inv.delete_private_network(auto.id)
    unchanged(inv, lambda: inv.delete_private_network(auto.id))
    inv.attach_vpc("l1", {"vpc_id": vpc.id})
    assert "link" in unchanged(inv, lambda: inv.delete_vpc(vpc.id)).help_message
    inv.detach_vpc("l1")
    assert inv.delete_vpc(vpc.id) is vpc and vpc.id not in inv.vpcs
    api = pn.to_api()
    assert list(api) == sorted(api) and api["subnets"][0]["private_network_id"] == pn.id


# --- catalog file ---------------------------------------------------------------------------
def test_catalog_load_and_errors(tmp_path: Path, monkeypatch):
    assert {p.name for p in CAT.partners.values()} == {"FranceIX", "FreePro", "Linkt"}
    bad = tmp_path / "c.yaml"
    for text, msg in (("pops: [{id: x}]", "not a UUID"),
                      ("pops: 3", "must be a list"),
                      ("pop: []", "unknown field"),
                      ("partners: [{id: 17782f6a-4bd5-4c01-b2fd-171891bc1f88, name: a, "
                       "contact_email: e, pop_ids: [95b2e92f-b7ae-4298-a581-b6c14cdae035]}]",
                       "no PoP"),
                      ("[", "invalid YAML")):
        bad.write_text(text)
        with pytest.raises(catalog_mod.CatalogError, match=msg):
            catalog_mod.load(bad)
    bad.write_text("pops: []\n")
    monkeypatch.setenv("ILAB_CATALOG", str(bad))
    assert catalog_mod.load().pops == {}
    monkeypatch.setenv("ILAB_CATALOG", str(tmp_path / "missing.yaml"))
    with pytest.raises(catalog_mod.CatalogError, match="cannot read"):
        catalog_mod.load()
