"""The served OpenAPI document matches the app: every route documented and vice versa, and
every answer of a scripted session (successes and errors) valid against its schema."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fakes import CONN_TH2, LINKT, TH2, TOKEN, FakeController, H, lab_routes
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from controller.api.http import make_app, openapi

P = "/interlink/v1beta1/regions/fr-par"
V = "/vpc/v2/regions/fr-par"
URI = "urn:interlink-lab:openapi"
DOC = openapi.document(*(ext.openapi() for ext in lab_routes(FakeController())))
REGISTRY: Registry = Registry().with_resource(
    URI, Resource.from_contents(DOC, default_specification=DRAFT202012))
jsonschema.Draft202012Validator.check_schema(
    {"$defs": DOC["components"]["schemas"]})  # every component is a valid JSON Schema


def validate(instance: Any, pointer: str) -> None:
    validator = jsonschema.Draft202012Validator({"$ref": f"{URI}#{pointer}"},
                                                registry=REGISTRY)
    validator.validate(instance)


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")


def _regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$")


OPS = {(m, t): _regex(t) for t, item in DOC["paths"].items() for m in item}


def operation(method: str, path: str) -> tuple[str, str]:
    path = path.split("?")[0]
    found = [(m, t) for (m, t), rx in OPS.items() if m == method.lower() and rx.match(path)]
    # A literal segment wins over a parameter (/links/{id} vs /links/{id}/stats is no issue).
    assert found, f"{method} {path} is not documented"
    return min(found, key=lambda op: op[1].count("{"))


def test_every_route_documented_and_vice_versa() -> None:
    ctrl = FakeController()
    app = make_app(ctrl, TOKEN, lab_routes(ctrl))
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    documented = set(OPS)
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the app does not serve"


def test_document_parameters_follow_the_paths() -> None:
    for template, item in DOC["paths"].items():
        names = set(re.findall(r"\{([a-z_]+)\}", template))
        for op in item.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, template


class Recorder:
    def __init__(self, client: TestClient[web.Request, web.Application]):
        self.client = client
        self.seen: set[tuple[str, str, str]] = set()

    async def __call__(self, method: str, path: str, body: Any = None, status: int = 200,
                       headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body)
        resp = await self.client.request(method, path, data=data,
                                         headers=H if headers is None else headers)
        text = await resp.text()
        assert resp.status == status, (method, path, resp.status, text)
        m, template = operation(method, path)
        op = DOC["paths"][template][m]
        code = str(resp.status)
        assert code in op["responses"], f"{method} {template}: {code} is not documented"
        base = f"/paths/{_escape(template)}/{m}"
        if "content" in op["responses"][code]:
            assert resp.content_type == "application/json"
            answer = json.loads(text)
            validate(answer, f"{base}/responses/{code}/content/application~1json/schema")
        else:
            assert text == ""
            answer = None
        if body is not None and resp.status < 300 and "requestBody" in op:
            # What the server accepted, the document accepts too.
            validate(body, f"{base}/requestBody/content/application~1json/schema")
        self.seen.add((m, template, code))
        return answer


def test_scripted_session_matches_the_document() -> None:
    async def main() -> set[tuple[str, str, str]]:
        ctrl = FakeController()
        async with TestClient(TestServer(make_app(ctrl, TOKEN, lab_routes(ctrl)))) as client:
            c = Recorder(client)
            await c("GET", "/openapi.json", headers={})
            await c("GET", f"{P}/links", status=401, headers={})
            # Catalog.
            for path in ("pops", "partners", "dedicated-connections"):
                await c("GET", f"{P}/{path}?page_size=2")
                await c("GET", f"{P}/{path}/nope", status=404)
            await c("GET", f"{P}/pops/{TH2}")
            await c("GET", f"{P}/partners/{LINKT}")
            await c("GET", f"{P}/dedicated-connections/{CONN_TH2}")
            await c("GET", f"{P}/pops?order_by=bogus", status=400)
            # VPC v2.
            vpc = await c("POST", f"{V}/vpcs", {"name": "v", "enable_routing": True,
                                               "project_id": None})
            pn = await c("POST", f"{V}/private-networks", {"vpc_id": vpc["id"]})
            await c("POST", f"{V}/private-networks", {"vpc_id": vpc["id"], "subnets": ["x"]},
                    status=400)
            await c("GET", f"{V}/vpcs?is_default=false")
            await c("GET", f"{V}/vpcs/{vpc['id']}")
            await c("GET", f"{V}/private-networks?vpc_id={vpc['id']}")
            await c("GET", f"{V}/private-networks/{pn['id']}")
            await c("DELETE", f"{V}/vpcs/{vpc['id']}", status=412)
            await c("DELETE", f"{V}/private-networks/{pn['id']}", status=204)
            await c("DELETE", f"{V}/vpcs/{vpc['id']}", status=204)
            await c("GET", f"{V}/vpcs/{vpc['id']}", status=404)
            # Routing policies.
            p4 = await c("POST", f"{P}/routing-policies",
                         {"name": "p4", "prefix_filter_in": ["10.0.0.0/8"], "tags": ["a"]})
            await c("POST", f"{P}/routing-policies", {"name": "p", "is_ipv6": "yes"},
                    status=400)
            await c("GET", f"{P}/routing-policies?ipv6=False")
            await c("GET", f"{P}/routing-policies/{p4['id']}")
            await c("PATCH", f"{P}/routing-policies/{p4['id']}", {"name": "p4b"})
            # Links.
            lk = await c("POST", f"{P}/links", {"name": "l", "pop_id": TH2, "partner_id": LINKT,
                                                "bandwidth_mbps": 50, "project_id": None})
            await c("POST", f"{P}/links", {"name": "l", "pop_id": "nope", "partner_id": LINKT,
                                           "bandwidth_mbps": 50}, status=404)
            await c("POST", "/lab/v1/partner/approve", {"pairing_key": "nope"}, status=404)
            await c("POST", "/lab/v1/partner/refuse",
                    {"pairing_key": lk["partner"]["pairing_key"], "reason": "full"})
            await c("POST", f"/lab/v1/links/{lk['id']}/expire", {}, status=412)
            await c("POST", "/lab/v1/partner/approve", {}, status=400)
            await c("DELETE", f"{P}/links/{lk['id']}")
            sh = await c("POST", f"{P}/links", {"name": "s", "pop_id": TH2, "vlan": 3050,
                                                "connection_id": CONN_TH2,
                                                "bandwidth_mbps": 100})
            lk = await c("POST", f"{P}/links", {"name": "h", "pop_id": TH2, "partner_id": LINKT,
                                                "bandwidth_mbps": 50})
            await c("POST", f"/lab/v1/links/{lk['id']}/expire", {})
            await c("POST", "/lab/v1/partner/approve",
                    {"pairing_key": lk["partner"]["pairing_key"]}, status=412)
            link = f"{P}/links/{sh['id']}"
            await c("GET", f"{P}/links?kind=self_hosted&order_by=status_desc")
            await c("GET", link)
            await c("PATCH", link, {"tags": ["x"], "peer_asn": 65001})
            await c("POST", f"{link}/attach-vpc", {"vpc_id": "vpc-1"})
            await c("POST", f"{link}/attach-routing-policy", {"routing_policy_id": p4["id"]})
            await c("POST", f"{link}/set-routing-policy", {"routing_policy_id": p4["id"]})
            await c("DELETE", f"{P}/routing-policies/{p4['id']}", status=412)
            await c("POST", f"{link}/enable-route-propagation", {})
            await c("POST", f"{link}/disable-route-propagation", {})
            await c("POST", f"{link}/detach-routing-policy", {"routing_policy_id": p4["id"]})
            await c("POST", f"{link}/detach-vpc", {})
            await c("POST", f"{link}/detach-vpc", {}, status=412)
            await c("GET", f"{P}/links/link-0/stats")
            await c("GET", f"{P}/links/link-1/stats", status=500)
            await c("DELETE", f"{P}/routing-policies/{p4['id']}", status=204)
            await c("DELETE", link)
            return c.seen

    seen = asyncio.run(main())
    ops = {(m, t) for m, t, _ in seen}
    missing = set(OPS) - ops - {("get", "/lab/v1/events")}  # a stream: tests/unit/test_api
    assert missing == set(), f"operations the session never called: {sorted(missing)}"
    assert {code for _, _, code in seen} >= {"200", "204", "400", "401", "404", "412", "500"}


def test_transient_state_answer_matches_the_document() -> None:
    async def main() -> None:
        ctrl = FakeController()
        ctrl.inv.links["link-0"].lifecycle = "deprovisioning"
        async with TestClient(TestServer(make_app(ctrl, TOKEN, lab_routes(ctrl)))) as client:
            await Recorder(client)("DELETE", f"{P}/links/link-0", status=409)
    asyncio.run(main())
