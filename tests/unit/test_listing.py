"""controller.core.listing: query parsing, filters, ordering, paging (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core import listing
from controller.core.model import ArgumentError


def link(i: int, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": f"id-{i}", "name": f"link-{i}", "created_at": f"2026-01-01T00:00:0{i}.000000Z",
        "status": "active", "bgp_v4_status": "up", "bgp_v6_status": "disabled",
        "project_id": "p1", "organization_id": "o1", "tags": [], "pop_id": "pop",
        "bandwidth_mbps": 50, "region": "fr-par",
        "partner": {"partner_id": "partner", "pairing_key": f"key-{i}"},
    }
    d.update(kw)
    return d


LINKS = [
    link(1, name="alpha", tags=["a", "b"], status="requested"),
    link(2, name="beta", tags=["b"], vpc_id="vpc1", routing_policy_v6_id="pol6"),
    link(3, name="gamma-alpha", routing_policy_v4_id="pol4", bandwidth_mbps=100,
         partner=None, self={"connection_id": "conn"}),
]
for lk in LINKS:
    if lk.get("partner") is None:
        del lk["partner"]


def names(params: list[tuple[str, str]]) -> list[str]:
    page, _ = listing.run(LINKS, params, listing.LINKS)
    return [it["name"] for it in page]


def test_defaults() -> None:
    q = listing.parse_query([], listing.LINKS)
    assert (q.page, q.page_size, q.order_by, q.filters) == (1, 50, "created_at_asc", {})


def test_order() -> None:
    assert names([]) == ["alpha", "beta", "gamma-alpha"]
    assert names([("order_by", "created_at_desc")]) == ["gamma-alpha", "beta", "alpha"]
    assert names([("order_by", "name_desc")]) == ["gamma-alpha", "beta", "alpha"]
    assert names([("order_by", "status_asc")]) == ["beta", "gamma-alpha", "alpha"]


@pytest.mark.parametrize(("params", "expected"), [
    ([("name", "ALPHA")], ["alpha", "gamma-alpha"]),
    ([("tags", "b")], ["alpha", "beta"]),
    ([("tags", "a"), ("tags", "b")], ["alpha"]),
    ([("status", "requested")], ["alpha"]),
    ([("bgp_v6_status", "disabled")], ["alpha", "beta", "gamma-alpha"]),
    ([("vpc_id", "vpc1")], ["beta"]),
    ([("routing_policy_id", "pol4")], ["gamma-alpha"]),
    ([("routing_policy_id", "pol6")], ["beta"]),
    ([("bandwidth_mbps", "100")], ["gamma-alpha"]),
    ([("kind", "self_hosted")], ["gamma-alpha"]),
    ([("kind", "hosted")], ["alpha", "beta"]),
    ([("connection_id", "conn")], ["gamma-alpha"]),
    ([("pairing_key", "key-2")], ["beta"]),
    ([("partner_id", "partner")], ["alpha", "beta"]),
    ([("project_id", "other")], []),
    ([("name", "")], ["alpha", "beta", "gamma-alpha"]),  # empty = not given
    ([("unknown_param", "x")], ["alpha", "beta", "gamma-alpha"]),
])
def test_filters(params: list[tuple[str, str]], expected: list[str]) -> None:
    assert names(params) == expected


def test_paging() -> None:
    page, total = listing.run(LINKS, [("page", "2"), ("page_size", "2")], listing.LINKS)
    assert [it["name"] for it in page] == ["gamma-alpha"] and total == 3
    page, total = listing.run(LINKS, [("page", "9"), ("page_size", "2")], listing.LINKS)
    assert page == [] and total == 3


def test_policy_ipv6_filter() -> None:
    pols = [{"id": "1", "name": "v4", "is_ipv6": False, "created_at": "1"},
            {"id": "2", "name": "v6", "is_ipv6": True, "created_at": "2"}]
    for text, want in (("True", ["v6"]), ("False", ["v4"]), ("true", ["v6"])):
        page, _ = listing.run(pols, [("ipv6", text)], listing.POLICIES)
        assert [p["name"] for p in page] == want


def test_bad_params_all_reported() -> None:
    with pytest.raises(ArgumentError) as ei:
        listing.parse_query([("page", "0"), ("page_size", "1001"), ("order_by", "nope"),
                             ("status", "bogus"), ("bandwidth_mbps", "x")], listing.LINKS)
    bad = {d["argument_name"]: d["reason"] for d in ei.value.details}
    assert bad == {"page": "constraint", "page_size": "constraint", "order_by": "constraint",
                   "status": "constraint", "bandwidth_mbps": "format"}


def test_bad_scalars() -> None:
    for params in ([("page", "x")], [("page", "1"), ("page", "2")], [("page_size", "0")]):
        with pytest.raises(ArgumentError):
            listing.parse_query(params, listing.LINKS)
    with pytest.raises(ArgumentError):
        listing.parse_query([("ipv6", "maybe")], listing.POLICIES)
    with pytest.raises(ArgumentError):
        listing.parse_query([("order_by", "status_asc")], listing.POLICIES)


# --- catalog lists ----------------------------------------------------------------------------
def catalog_items() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    from controller.core import catalog
    cat = catalog.load()
    return cat.list_pops(), cat.list_partners(), cat.list_connections()


@pytest.mark.parametrize(("params", "expected"), [
    ([], ["DC3 Vitry", "Equinix PA2", "Equinix PA3", "TeleHouse TH2"]),
    ([("order_by", "name_desc"), ("page_size", "1")], ["TeleHouse TH2"]),
    ([("name", "th2")], ["TeleHouse TH2"]),
    ([("hosting_provider_name", "Equinix")], ["Equinix PA2", "Equinix PA3"]),
    ([("partner_id", "bc5163ff-cce9-498e-8401-0d8bfe81fd33")], ["DC3 Vitry", "TeleHouse TH2"]),
    ([("link_bandwidth_mbps", "10000")], ["Equinix PA2", "Equinix PA3", "TeleHouse TH2"]),
    ([("dedicated_available", "False")], ["DC3 Vitry", "Equinix PA2", "Equinix PA3"]),
    ([("l3_connectivity_partners", "True")], ["DC3 Vitry", "Equinix PA3", "TeleHouse TH2"]),
])
def test_pops(params: list[tuple[str, str]], expected: list[str]) -> None:
    pops, _, _ = catalog_items()
    page, _ = listing.run(pops, params, listing.POPS)
    assert [p["name"] for p in page] == expected
    assert not any(k.startswith("_") for p in page for k in p)  # hidden facets stripped


def test_partners_and_connections() -> None:
    _, partners, conns = catalog_items()
    page, total = listing.run(partners, [("l3_connectivity", "false")], listing.PARTNERS)
    assert [p["name"] for p in page] == ["FranceIX"] and total == 1
    page, _ = listing.run(conns, [("order_by", "status_asc")], listing.DEDICATED_CONNECTIONS)
    assert [c["status"] for c in page] == ["active", "created"]
    page, _ = listing.run(conns, [("bandwidth_mbps", "1000"), ("tags", "lab")],
                          listing.DEDICATED_CONNECTIONS)
    assert [c["name"] for c in page] == ["lab-dedicated-dc3"]
    page, _ = listing.run(conns, [("order_by", "updated_at_desc")],
                          listing.DEDICATED_CONNECTIONS)
    assert page[0]["name"] == "lab-dedicated-dc3"
    with pytest.raises(ArgumentError):
        listing.parse_query([("order_by", "created_at_asc")], listing.PARTNERS)


def test_private_network_filters() -> None:
    pns = [{"id": "a", "name": "pa", "vpc_id": "v", "dhcp_enabled": True, "created_at": "1",
            "has_object_storage_private_access": False},
           {"id": "b", "name": "pb", "vpc_id": "w", "dhcp_enabled": True, "created_at": "2",
            "has_object_storage_private_access": False}]
    page, _ = listing.run(pns, [("private_network_ids", "b"), ("private_network_ids", "z")],
                          listing.PRIVATE_NETWORKS)
    assert [p["id"] for p in page] == ["b"]
    page, _ = listing.run(pns, [("object_storage_private_access_enabled", "true")],
                          listing.PRIVATE_NETWORKS)
    assert page == []
