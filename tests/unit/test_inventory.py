"""Operations on resources: rules, errors, and nothing changed when a request is rejected."""

import copy

import pytest

from controller.inventory import Inventory
from controller.model import (
    ArgumentError,
    BgpConfig,
    Link,
    NotFound,
    PreconditionFailed,
    Vpc,
)


@pytest.fixture
def inv():
    inv = Inventory()
    inv.vpcs["vpc1"] = Vpc(id="vpc1", name="vpc")
    inv.vpcs["vpc-ams"] = Vpc(id="vpc-ams", name="vpc", region="nl-ams")
    inv.add_link(Link(id="l1", name="link", pop_id="p", bandwidth_mbps=100, vlan=2451,
                      scw_bgp_config=BgpConfig(12876, "169.254.0.16/31", "2001:db8:fc60::/127"),
                      peer_bgp_config=BgpConfig(64512, "169.254.0.17/31", "2001:db8:fc60::1/127")))
    return inv


def v4(inv, **kw):
    body = {"name": "p4", "is_ipv6": False, "prefix_filter_in": ["198.51.100.0/24"],
            "prefix_filter_out": ["203.0.113.0/24"], **kw}
    return inv.create_policy(body, "fr-par")


def unchanged(inv, fn):
    before = copy.deepcopy(inv)
    with pytest.raises((ArgumentError, NotFound, PreconditionFailed)) as exc:
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
