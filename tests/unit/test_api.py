"""controller.api.http against a fake controller backed by the real Inventory (real errors),
with the lab's partner and event routes mounted as the lab daemon mounts them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fakes import (
    CONN_DC3,
    CONN_TH2,
    DC3,
    LINKT,
    PA3,
    TH2,
    TOKEN,
    ApiServer,
    FakeController,
    H,
    Json,
    lab_routes,
)

from controller.api.http import ApiExtension, make_app
from controller.api.middleware import json_response
from controller.core.limits import MAX_BODY_BYTES, MAX_POLICY_ENTRIES
from lab.control.polling import wait_for_async

P = "/interlink/v1beta1/regions/fr-par"


Scenario = Callable[[TestClient[web.Request, web.Application], FakeController], Awaitable[None]]


def run(scenario: Scenario, extra: Sequence[ApiExtension] = ()) -> None:
    async def main() -> None:
        ctrl = FakeController()
        app = make_app(ctrl, TOKEN, [*lab_routes(ctrl), *extra])
        async with TestClient(TestServer(app)) as client:
            await scenario(client, ctrl)
    asyncio.run(main())


async def call(client: TestClient[web.Request, web.Application], method: str, path: str,
               body: Any = None, status: int = 200, **kw: Any) -> Any:
    headers = kw.pop("headers", H)
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    resp = await client.request(method, path, data=body, headers=headers, **kw)
    text = await resp.text()
    assert resp.status == status, (resp.status, text)
    if status == 204:
        assert text == ""
        return None
    # verbatim, no "; charset=utf-8": Scaleway's TypeScript SDK compares the whole header
    assert resp.headers["Content-Type"] == "application/json"
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True)  # keys sorted, as Scaleway does
    return data


# --- auth and generic errors ------------------------------------------------------------------
def test_auth() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        denied = {"type": "denied_authentication", "method": "api_key", "reason": "not_found"}
        assert await call(client, "GET", f"{P}/links", headers={}, status=401) == denied
        assert await call(client, "GET", f"{P}/links", headers={"X-Auth-Token": "nope"},
                          status=401) == denied
        # Unknown paths too: nothing is revealed before authentication.
        assert await call(client, "GET", "/nope", headers={}, status=401) == denied
        assert (await call(client, "GET", f"{P}/links"))["total_count"] == 3
    run(s)


def test_unknown_path_method_region_and_internal_error(caplog: pytest.LogCaptureFixture) -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        err = await call(client, "GET", "/interlink/v1beta1/nope", status=404)
        assert err["type"] == "not_found" and err["resource"] == "endpoint"
        err = await call(client, "PUT", f"{P}/links/link-0", status=405)
        assert err["type"] == "method_not_allowed"
        err = await call(client, "GET", "/interlink/v1beta1/regions/xx-yyy/links", status=400)
        assert err["details"][0]["argument_name"] == "region"
        err = await call(client, "GET", f"{P}/links/link-1/stats", status=500)
        assert err == {"type": "internal_error",
                       "message": "internal error (see the controller log)"}
    run(s)
    assert "boom: secret internals" in caplog.text


def test_invalid_json_body() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        for body in ("{not json", "[1, 2]", b"\xff\xfe"):
            err = await call(client, "PATCH", f"{P}/links/link-0", body=body, status=400)
            assert err["type"] == "invalid_arguments" and err["message"] == "invalid argument(s)"
            assert err["details"][0]["argument_name"] == "body"
        # The SDK sends "{}" on GET/DELETE; an empty POST body is "{}" too.
        await call(client, "GET", f"{P}/links/link-0", body={})
        await call(client, "POST", f"{P}/links/link-0/enable-route-propagation", body="")
    run(s)


# --- links ------------------------------------------------------------------------------------
def test_links_list_get_update() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        got = await call(client, "GET", f"{P}/links")
        assert [lk["name"] for lk in got["links"]] == ["first", "second", "third"]
        assert got["links"][0]["status"] == "all_down"
        assert got["links"][2]["status"] == "requested"
        assert "vpc_id" not in got["links"][0]  # unset optional fields are omitted
        lk = await call(client, "GET", f"{P}/links/link-1", body={})
        assert lk["name"] == "second" and lk["bgp_v4_status"] == "disabled"
        lk = await call(client, "PATCH", f"{P}/links/link-1",
                        body={"name": "renamed", "tags": ["x"], "peer_asn": 65000})
        assert (lk["name"], lk["tags"], lk["peer_bgp_config"]["asn"]) == ("renamed", ["x"], 65000)
        err = await call(client, "PATCH", f"{P}/links/link-1", body={"vlan": 3}, status=400)
        assert err["details"] == [{"argument_name": "vlan", "reason": "unknown",
                                   "help_message": "unknown field"}]
        err = await call(client, "GET", f"{P}/links/missing", status=404)
        assert err == {"type": "not_found", "message": "resource is not found",
                       "resource": "link", "resource_id": "missing"}
        # Another region does not see fr-par links and cannot modify them.
        await call(client, "GET", "/interlink/v1beta1/regions/nl-ams/links/link-1", status=404)
        await call(client, "PATCH", "/interlink/v1beta1/regions/nl-ams/links/link-1",
                   body={"name": "x"}, status=404)
        assert (await call(client, "GET", "/interlink/v1beta1/regions/nl-ams/links")) == {
            "links": [], "total_count": 0}
        assert ctrl.inv.links["link-1"].name == "renamed"
    run(s)


def test_links_filters_order_paging() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        async def names(query: str) -> tuple[list[str], int]:
            got = await call(client, "GET", f"{P}/links?{query}")
            return [lk["name"] for lk in got["links"]], got["total_count"]
        assert await names("order_by=name_desc") == (["third", "second", "first"], 3)
        assert await names("order_by=status_desc") == (["third", "second", "first"], 3)
        assert await names("page=2&page_size=2") == (["third"], 3)
        assert await names("page=3&page_size=2") == ([], 3)
        assert await names("tags=lab&tags=first") == (["first"], 1)
        assert await names("name=IR") == (["first", "third"], 2)
        assert await names("status=requested") == (["third"], 1)
        assert await names("bandwidth_mbps=100") == (["second"], 1)
        assert await names("pairing_key=key-0&kind=hosted") == (["first"], 1)
        assert await names("kind=self_hosted") == ([], 0)
        err = await call(client, "GET", f"{P}/links?page=0&order_by=x", status=400)
        assert {d["argument_name"] for d in err["details"]} == {"page", "order_by"}
        await call(client, "GET", f"{P}/links?page_size=1001", status=400)
    run(s)


def test_link_actions() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        pol = await call(client, "POST", f"{P}/routing-policies",
                         body={"name": "v4", "prefix_filter_in": ["10.0.0.0/8"]})
        pid = pol["id"]
        base = f"{P}/links/link-0"
        lk = await call(client, "POST", f"{base}/attach-routing-policy",
                        body={"routing_policy_id": pid})
        assert lk["routing_policy_v4_id"] == pid and lk["bgp_v4_status"] == "down"
        err = await call(client, "POST", f"{base}/attach-routing-policy",
                         body={"routing_policy_id": pid}, status=412)
        assert err == {"type": "precondition_failed", "precondition": "already_attached",
                       "help_message": "this routing policy is already attached to the link"}
        lk = await call(client, "POST", f"{base}/set-routing-policy",
                        body={"routing_policy_id": pid})
        assert lk["routing_policy_v4_id"] == pid
        err = await call(client, "POST", f"{base}/attach-routing-policy", body={}, status=400)
        assert err["details"][0]["reason"] == "required"
        # In use: delete refused with 412.
        err = await call(client, "DELETE", f"{P}/routing-policies/{pid}", status=412)
        assert err["precondition"] == "resource_still_in_use"
        lk = await call(client, "POST", f"{base}/detach-routing-policy",
                        body={"routing_policy_id": pid})
        assert "routing_policy_v4_id" not in lk

        lk = await call(client, "POST", f"{base}/attach-vpc", body={"vpc_id": "vpc-1"})
        assert lk["vpc_id"] == "vpc-1"
        await call(client, "POST", f"{base}/attach-vpc", body={"vpc_id": "nope"}, status=404)
        lk = await call(client, "POST", f"{base}/enable-route-propagation", body={})
        assert lk["enable_route_propagation"] is True
        lk = await call(client, "POST", f"{base}/disable-route-propagation")
        assert lk["enable_route_propagation"] is False
        await call(client, "POST", f"{base}/enable-route-propagation")
        lk = await call(client, "POST", f"{base}/detach-vpc", body={})
        assert "vpc_id" not in lk and lk["enable_route_propagation"] is False
        err = await call(client, "POST", f"{base}/detach-vpc", status=412)
        assert err["precondition"] == "no_vpc_attached"

        stats = await call(client, "GET", f"{base}/stats")
        assert stats["link_id"] == "link-0" and stats["ipv4"]["accepted"] == 0
        await call(client, "GET", f"{P}/links/missing/stats", status=404)
        await call(client, "POST", f"{P}/links/missing/detach-vpc", status=404)
    run(s)


# --- routing policies -------------------------------------------------------------------------
def test_policies_crud() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        p6 = await call(client, "POST", f"{P}/routing-policies",
                        body={"name": "six", "is_ipv6": True, "tags": ["t"],
                              "prefix_filter_out": ["2001:db8:200::/48"]})
        assert p6["region"] == "fr-par" and p6["is_ipv6"] is True
        p4 = await call(client, "POST", f"{P}/routing-policies", body={"name": "four"})
        err = await call(client, "POST", f"{P}/routing-policies",
                         body={"name": "bad", "prefix_filter_in": ["10.0.0.0/8", "nope"]},
                         status=400)
        assert err["details"][0]["argument_name"] == "prefix_filter_in.1"
        await call(client, "POST", f"{P}/routing-policies",
                   body={"name": "x", "region": "nl-ams"}, status=400)

        got = await call(client, "GET", f"{P}/routing-policies?ipv6=True")
        assert [p["name"] for p in got["routing_policies"]] == ["six"]
        got = await call(client, "GET", f"{P}/routing-policies?order_by=name_asc")
        assert [p["name"] for p in got["routing_policies"]] == ["four", "six"]
        got = await call(client, "GET", f"{P}/routing-policies?tags=t&name=S")
        assert got["total_count"] == 1
        await call(client, "GET", f"{P}/routing-policies?ipv6=maybe", status=400)

        assert (await call(client, "GET", f"{P}/routing-policies/{p4['id']}"))["name"] == "four"
        upd = await call(client, "PATCH", f"{P}/routing-policies/{p6['id']}",
                         body={"prefix_filter_in": ["2001:db8:100::/48"]})
        assert upd["prefix_filter_in"] == ["2001:db8:100::/48"]
        assert upd["prefix_filter_out"] == ["2001:db8:200::/48"]
        await call(client, "PATCH", f"{P}/routing-policies/{p6['id']}",
                   body={"prefix_filter_in": ["10.0.0.0/8"]}, status=400)

        assert await call(client, "DELETE", f"{P}/routing-policies/{p4['id']}", body={},
                          status=204) is None
        err = await call(client, "DELETE", f"{P}/routing-policies/{p4['id']}", status=404)
        assert err["resource"] == "routing_policy"
        await call(client, "GET", f"/interlink/v1beta1/regions/pl-waw/routing-policies/"
                                  f"{p6['id']}", status=404)
    run(s)


# --- VPC v2 -----------------------------------------------------------------------------------
def test_vpcs() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        v = "/vpc/v2/regions/fr-par"
        got = await call(client, "GET", f"{v}/vpcs")
        assert got["total_count"] == 1 and got["vpcs"][0]["id"] == "vpc-1"
        assert (await call(client, "GET", f"{v}/vpcs/vpc-1"))["private_network_count"] == 1
        err = await call(client, "GET", f"{v}/vpcs/nope", status=404)
        assert err["resource"] == "vpc"
        got = await call(client, "GET", f"{v}/private-networks?vpc_id=vpc-1")
        assert [s["subnet"] for s in got["private_networks"][0]["subnets"]] == [
            "203.0.113.0/24"]
        assert (await call(client, "GET", f"{v}/private-networks?vpc_id=x"))["total_count"] == 0
        assert (await call(client, "GET", f"{v}/private-networks/pn-1"))["name"] == "pn"
        await call(client, "GET", f"{v}/private-networks/nope", status=404)
        await call(client, "GET", "/vpc/v2/regions/nl-ams/vpcs/vpc-1", status=404)
    run(s)


# --- events and extra routes ------------------------------------------------------------------
def test_events_stream() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        resp = await client.get("/lab/v1/events", headers=H)
        assert resp.status == 200 and resp.content_type == "application/x-ndjson"
        await wait_for_async(lambda: ctrl.queues, "the stream to subscribe", timeout=1)
        for i in range(2):
            ctrl.queues[0].put_nowait({"type": "status", "n": i})
        lines = [json.loads(await asyncio.wait_for(resp.content.readline(), 5))
                 for _ in range(2)]
        assert lines == [{"n": 0, "type": "status"}, {"n": 1, "type": "status"}]
        resp.close()  # the client leaves: the server unsubscribes
        await wait_for_async(lambda: ctrl.queues == [], "the server to unsubscribe", timeout=3)
    run(s)


def test_shutdown_ends_event_streams() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        resp = await client.get("/lab/v1/events", headers=H)
        await wait_for_async(lambda: ctrl.queues, "the stream to subscribe", timeout=1)
        await client.app.shutdown()  # what runner.cleanup() does first
        assert await asyncio.wait_for(resp.content.read(), 5) == b""
        assert ctrl.queues == []
    run(s)


def test_extra_routes_share_auth_and_errors() -> None:
    async def nodes(request: web.Request) -> web.Response:
        if request.query.get("fail"):
            from controller.core.model import ArgumentError
            raise ArgumentError.one("node", "constraint", "unknown node")
        return json_response({"nodes": []})

    class Extra:
        def routes(self, app: web.Application) -> None:
            app.router.add_get("/lab/v1/nodes", nodes)

        def openapi(self) -> Json:
            return {}

    async def s(client: Any, ctrl: FakeController) -> None:
        assert await call(client, "GET", "/lab/v1/nodes") == {"nodes": []}
        await call(client, "GET", "/lab/v1/nodes", headers={}, status=401)
        err = await call(client, "GET", "/lab/v1/nodes?fail=1", status=400)
        assert err["details"][0]["argument_name"] == "node"
    run(s, [Extra()])


def test_make_app_needs_token() -> None:
    with pytest.raises(ValueError):
        make_app(FakeController(), "")


# --- link create / delete / partner lifecycle ---------------------------------------------
def test_create_hosted_link_and_partner_lifecycle() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        body = {"name": "new", "pop_id": TH2, "bandwidth_mbps": 500, "partner_id": LINKT,
                "project_id": None, "tags": ["t"]}
        lk = await call(client, "POST", f"{P}/links", body=body)
        assert lk["status"] == "requested" and lk["partner"]["l3_connectivity"] is True
        assert lk["partner"]["disapproved_reason"] == ""
        assert lk["peer_bgp_config"]["asn"] == 39801 and lk["scw_bgp_config"]["asn"] == 12876
        # The fake's links hold 169.254.0.16/31 + 2001:db8:fc60::/127: the next free pairs.
        assert lk["scw_bgp_config"]["ipv4"] == "169.254.0.0/31"
        assert lk["peer_bgp_config"]["ipv6"] == "2001:db8:fc60:1::1/127"
        key = lk["partner"]["pairing_key"]
        err = await call(client, "POST", "/lab/v1/partner/approve",
                         body={"pairing_key": key, "x": 1}, status=400)
        assert err["details"][0]["reason"] == "unknown"
        await call(client, "POST", "/lab/v1/partner/approve", body={}, status=400)
        await call(client, "POST", "/lab/v1/partner/approve", body={"pairing_key": "nope"},
                   status=404)
        got = await call(client, "POST", "/lab/v1/partner/approve", body={"pairing_key": key})
        assert got["status"] == "provisioning"
        err = await call(client, "POST", "/lab/v1/partner/refuse", body={"pairing_key": key},
                         status=412)
        assert err["precondition"] == "invalid_link_status"
        gone = await call(client, "DELETE", f"{P}/links/{lk['id']}", body={})
        assert gone["status"] == "deprovisioning"
        await call(client, "GET", f"{P}/links/{lk['id']}", status=404)

        lk = await call(client, "POST", f"{P}/links", body={**body, "name": "two"})
        got = await call(client, "POST", "/lab/v1/partner/refuse",
                         body={"pairing_key": lk["partner"]["pairing_key"], "reason": "no"})
        assert got["status"] == "refused" and got["partner"]["disapproved_reason"] == "no"
        gone = await call(client, "DELETE", f"{P}/links/{lk['id']}")
        assert gone["status"] == "deleted"
        lk = await call(client, "POST", f"{P}/links", body={**body, "name": "three"})
        got = await call(client, "POST", f"/lab/v1/links/{lk['id']}/expire", body={})
        assert got["status"] == "expired"
        await call(client, "POST", "/lab/v1/links/nope/expire", status=404)
    run(s)


def test_create_link_errors_change_nothing() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        base = {"name": "x", "pop_id": TH2, "bandwidth_mbps": 500, "partner_id": LINKT}
        await call(client, "POST", f"{P}/links", body={**base, "vlan": 2600})
        before = len(ctrl.inv.links)
        for body, code, what in (
                ({**base, "bogus": 1}, 400, "bogus"),
                ({k: v for k, v in base.items() if k != "partner_id"}, 400, "partner_id"),
                ({**base, "connection_id": CONN_TH2}, 400, "partner_id"),
                ({**base, "bandwidth_mbps": 300}, 400, "bandwidth_mbps"),
                ({**base, "bandwidth_mbps": "500"}, 400, "bandwidth_mbps"),
                ({**base, "pop_id": DC3}, 400, "partner_id"),       # Linkt is not at DC3
                ({**base, "pop_id": "nope"}, 404, "pop"),
                ({**base, "partner_id": "nope"}, 404, "partner"),
                ({**base, "vlan": 1499}, 400, "vlan"),
                ({**base, "vlan": 2600}, 412, "vlan_in_use"),       # same partner
                ({**base, "peer_asn": 12876}, 400, "peer_asn"),
                ({**base, "routing_policy_v4_id": "nope"}, 404, "routing_policy"),
                ({**base, "region": "nl-ams"}, 400, "region"),
                ({**base, "name": ""}, 400, "name")):
            err = await call(client, "POST", f"{P}/links", body=body, status=code)
            found = json.dumps(err)
            assert what in found, (body, err)
        await call(client, "POST", "/interlink/v1beta1/regions/nl-ams/links",
                   body={**base, "region": "nl-ams"}, status=404)  # TH2 is in fr-par
        assert len(ctrl.inv.links) == before
    run(s)


def test_self_hosted_link_and_transient_state() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        body = {"name": "dedicated", "pop_id": TH2, "bandwidth_mbps": 1000,
                "connection_id": CONN_TH2}
        lk = await call(client, "POST", f"{P}/links", body=body)
        assert lk["status"] == "ready" and lk["self"] == {"connection_id": CONN_TH2}
        assert lk["vlan"] == 3000 and "partner" not in lk
        err = await call(client, "POST", f"{P}/links", body={**body, "vlan": 3000}, status=412)
        assert err["precondition"] == "vlan_in_use"
        await call(client, "POST", f"{P}/links", body={**body, "vlan": 2999}, status=400)
        err = await call(client, "POST", f"{P}/links",
                         body={**body, "pop_id": DC3, "connection_id": CONN_DC3,
                               "bandwidth_mbps": 100}, status=412)
        assert err["precondition"] == "connection_not_active"
        # A provisioned link being deleted is deprovisioning: changes answer 409.
        ctrl.inv.links["link-0"].lifecycle = "deprovisioning"
        err = await call(client, "PATCH", f"{P}/links/link-0", body={"name": "n"}, status=409)
        assert err == {"type": "transient_state", "resource": "link", "resource_id": "link-0",
                       "current_state": "deprovisioning",
                       "message": "link link-0 is deprovisioning; retry later"}
        await call(client, "DELETE", f"{P}/links/link-0", status=409)
        await call(client, "POST", f"{P}/links/link-0/enable-route-propagation", status=409)
    run(s)


# --- catalog ----------------------------------------------------------------------------
def test_catalog_routes() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        pops = await call(client, "GET", f"{P}/pops")
        assert pops["total_count"] == 4
        assert [p["name"] for p in pops["pops"]] == [
            "DC3 Vitry", "Equinix PA2", "Equinix PA3", "TeleHouse TH2"]
        assert not any(k.startswith("_") for p in pops["pops"] for k in p)
        async def names(path: str, key: str) -> list[str]:
            return [p["name"] for p in (await call(client, "GET", f"{P}/{path}"))[key]]
        assert await names(f"pops?partner_id={LINKT}&order_by=name_desc", "pops") == [
            "TeleHouse TH2", "Equinix PA3"]
        assert await names("pops?link_bandwidth_mbps=25000", "pops") == ["TeleHouse TH2"]
        assert await names("pops?dedicated_available=True", "pops") == ["TeleHouse TH2"]
        assert await names("pops?hosting_provider_name=equinix&name=pa3", "pops") == [
            "Equinix PA3"]
        assert await names("pops?l3_connectivity_partners=false", "pops") == ["Equinix PA2"]
        assert await names(f"partners?pop_ids={DC3}&pop_ids={PA3}", "partners") == [
            "FranceIX", "FreePro", "Linkt"]
        assert await names(f"partners?pop_ids={PA3}&l3_connectivity=true", "partners") == [
            "Linkt"]
        assert await names("dedicated-connections?status=active", "connections") == [
            "lab-dedicated-th2"]
        assert await names(f"dedicated-connections?pop_id={DC3}&tags=lab",
                           "connections") == ["lab-dedicated-dc3"]
        got = await call(client, "GET", f"{P}/dedicated-connections/{CONN_TH2}")
        assert got["vlan_range"] == {"end": 3099, "start": 3000}
        assert (await call(client, "GET", f"{P}/pops/{TH2}"))["city"] == "Paris"
        assert "_pop_ids" not in await call(client, "GET", f"{P}/partners/{LINKT}")
        err = await call(client, "GET", f"{P}/partners/nope", status=404)
        assert err["resource"] == "partner"
        await call(client, "GET", f"/interlink/v1beta1/regions/nl-ams/pops/{TH2}", status=404)
        assert (await call(client, "GET", "/interlink/v1beta1/regions/pl-waw/pops")) == {
            "pops": [], "total_count": 0}
        await call(client, "GET", f"{P}/pops?order_by=created_at_asc", status=400)
        await call(client, "GET", f"{P}/dedicated-connections?status=bogus", status=400)
    run(s)


# --- VPC v2 writes ---------------------------------------------------------------------------
def test_vpc_and_private_network_create_delete() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        v = "/vpc/v2/regions/fr-par"
        vpc = await call(client, "POST", f"{v}/vpcs",
                         body={"name": "prod", "enable_routing": True,
                               "enable_transitivity": False, "project_id": None})
        assert vpc["private_network_count"] == 0 and vpc["routing_enabled"] is True
        pn = await call(client, "POST", f"{v}/private-networks",
                        body={"vpc_id": vpc["id"], "name": "pn", "subnets": [],
                              "default_route_propagation_enabled": False})
        assert [s["subnet"] for s in pn["subnets"]] == ["198.18.16.0/24", "2001:db8:300::/64"]
        err = await call(client, "POST", f"{v}/private-networks",
                         body={"vpc_id": vpc["id"], "subnets": ["198.18.16.128/25",
                                                               "192.0.2.0/24", "8.8.8.0/24",
                                                               "10.0.0.1/24"]}, status=400)
        assert [d["argument_name"] for d in err["details"]] == [
            "subnets.0", "subnets.1", "subnets.2", "subnets.3"]
        await call(client, "POST", f"{v}/private-networks", body={"name": "x"}, status=400)
        await call(client, "POST", f"{v}/private-networks", body={"vpc_id": "nope"},
                   status=404)
        err = await call(client, "DELETE", f"{v}/vpcs/{vpc['id']}", status=412)
        assert err["precondition"] == "resource_still_in_use"
        assert await call(client, "DELETE", f"{v}/private-networks/{pn['id']}",
                          status=204) is None
        await call(client, "DELETE", f"{v}/private-networks/{pn['id']}", status=404)
        await call(client, "POST", f"{P}/links/link-0/attach-vpc", body={"vpc_id": vpc["id"]})
        await call(client, "DELETE", f"{v}/vpcs/{vpc['id']}", status=412)  # a link uses it
        await call(client, "POST", f"{P}/links/link-0/detach-vpc")
        await call(client, "DELETE", "/vpc/v2/regions/nl-ams/vpcs/" + vpc["id"], status=404)
        assert await call(client, "DELETE", f"{v}/vpcs/{vpc['id']}", status=204) is None
        assert vpc["id"] not in ctrl.inv.vpcs
    run(s)


def test_openapi_served_without_token() -> None:
    async def s(client: Any, ctrl: FakeController) -> None:
        doc = await call(client, "GET", "/openapi.json", headers={})
        assert doc["openapi"].startswith("3.1")
        await call(client, "POST", "/openapi.json", headers={}, status=401)
    run(s)


def test_cli_partner_verbs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`interlink-lab partner ...` end to end against the served app (lab/cli/partner.py)."""
    from click.testing import CliRunner

    from lab.cli import common
    from lab.cli.main import cli
    from lab.control.client import Client

    ctrl = FakeController(seed=False)
    base = {"pop_id": TH2, "bandwidth_mbps": 50, "partner_id": LINKT}
    with ApiServer(ctrl, TOKEN) as server:
        monkeypatch.setattr(common, "make_client", lambda lab: Client(
            f"http://127.0.0.1:{server.port}", TOKEN, lab=lab, timeout=10))
        client = Client(f"http://127.0.0.1:{server.port}", TOKEN, timeout=10)
        a = client.post(f"{P}/links", {**base, "name": "a"})
        runner = CliRunner()
        got = runner.invoke(cli, ["partner", "approve"])
        assert got.exit_code == 0 and "status provisioning" in got.output, got.output
        client.post(f"{P}/links", {**base, "name": "b"})
        got = runner.invoke(cli, ["partner", "approve"])
        assert got.exit_code == 1 and "name one" in got.output
        got = runner.invoke(cli, ["partner", "refuse", "b", "--reason", "full", "--json"])
        assert json.loads(got.output)["partner"]["disapproved_reason"] == "full"
        c = client.post(f"{P}/links", {**base, "name": "c"})
        got = runner.invoke(cli, ["partner", "expire", c["partner"]["pairing_key"]])
        assert "status expired" in got.output
        got = runner.invoke(cli, ["partner", "approve", a["id"]])
        assert got.exit_code == 1 and "precondition failed" in got.output


def test_request_size_limits() -> None:
    """A body over MAX_BODY_BYTES is 413 and a list over MAX_POLICY_ENTRIES 400, both in
    Scaleway's error shape, and neither changes anything."""
    async def scenario(client: TestClient[web.Request, web.Application],
                       ctrl: FakeController) -> None:
        before = await call(client, "GET", f"{P}/routing-policies")
        huge = json.dumps({"name": "huge", "prefix_filter_in": ["10.0.0.0/8"],
                           "tags": ["x" * (MAX_BODY_BYTES + 1)]})
        err = await call(client, "POST", f"{P}/routing-policies", huge, status=413)
        assert err == {"type": "request_entity_too_large", "max_size": MAX_BODY_BYTES,
                       "message": f"the request body is larger than {MAX_BODY_BYTES} bytes"}
        many = [f"10.{i // 256}.{i % 256}.0/24" for i in range(MAX_POLICY_ENTRIES + 1)]
        assert len(json.dumps(many)) < MAX_BODY_BYTES
        err = await call(client, "POST", f"{P}/routing-policies",
                         {"name": "many", "prefix_filter_out": many}, status=400)
        assert err["type"] == "invalid_arguments"
        assert err["details"] == [{
            "argument_name": "prefix_filter_out", "reason": "constraint",
            "help_message": f"{MAX_POLICY_ENTRIES + 1} prefixes: at most "
                            f"{MAX_POLICY_ENTRIES} per list"}]
        assert await call(client, "GET", f"{P}/routing-policies") == before
        ok = await call(client, "POST", f"{P}/routing-policies",
                        {"name": "max", "prefix_filter_in": many[:MAX_POLICY_ENTRIES]})
        assert len(ok["prefix_filter_in"]) == MAX_POLICY_ENTRIES
        err = await call(client, "PATCH", f"{P}/routing-policies/{ok['id']}",
                         {"prefix_filter_in": many}, status=400)
        assert err["details"][0]["argument_name"] == "prefix_filter_in"
        err = await call(client, "PATCH", f"{P}/routing-policies/{ok['id']}", huge, status=413)
        assert err["type"] == "request_entity_too_large"
        got = await call(client, "GET", f"{P}/routing-policies/{ok['id']}")
        assert got == ok
    run(scenario)
