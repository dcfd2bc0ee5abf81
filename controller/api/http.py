"""HTTP API of the controller: Scaleway InterLink v1beta1 + a VPC v2 subset.

Thin layer: parse the request, call the controller, map its errors to Scaleway's JSON error
shapes (``controller.api.middleware``). The surface is described by the OpenAPI document
served, without authentication, at ``GET /openapi.json`` (``controller.api.openapi``).
Choices where Scaleway is silent:
- an unknown region in the path is 400 invalid_arguments (argument ``region``): the region is
  a parameter of the request, and 404 would read as "the resource does not exist";
- a resource of another region than the path's is 404, as it would be on Scaleway; a
  ``region`` in a create body must equal the path's (the SDK never sends one);
- unknown query parameters are ignored (a newer SDK may add filters);
- request bodies: unknown fields are rejected (400 ``invalid_arguments``, reason
  ``unknown``), so a typo never silently does nothing. A field set to ``null`` counts as not
  given. This accepts exactly what the official SDK (scaleway 2.12.0) sends: it omits unset
  optional fields, except ``project_id``, which its create requests always send (``null``
  when the client has no default project); checked by tests/unit/test_sdk.py;
- GET/DELETE bodies are ignored (the SDK sends ``{}``).

Extensions (``ApiExtension``, the lab's ``/lab/v1/...`` routes) are served by the same app,
with the same token and error shapes, and add their part to the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from controller.api import openapi
from controller.api.middleware import Handler, auth_middleware, errors_middleware, json_response
from controller.core import listing
from controller.core.limits import MAX_BODY_BYTES, OFFLOAD_BODY_BYTES
from controller.core.model import REGIONS, ArgumentError, NotFound

P = "/interlink/v1beta1/regions/{region}"
VPC_P = "/vpc/v2/regions/{region}"
OPENAPI_PATH = "/openapi.json"
PUBLIC_PATHS = frozenset({OPENAPI_PATH})  # served without the token

Json = dict[str, Any]


class ControllerApi(Protocol):
    """What the API needs from the controller (``Controller.api``, controller.service.operations).

    Methods raise model.ArgumentError / NotFound / PreconditionFailed / TransientState for
    client errors. Lists return every item of every region (the API filters); catalog list
    items may carry hidden ``_`` facets (``controller.core.catalog``).
    """

    async def list_links(self) -> list[Json]: ...
    async def get_link(self, link_id: str) -> Json: ...
    async def create_link(self, body: Json, region: str) -> Json: ...
    async def delete_link(self, link_id: str) -> Json: ...
    async def update_link(self, link_id: str, body: Json) -> Json: ...
    async def attach_vpc(self, link_id: str, body: Json) -> Json: ...
    async def detach_vpc(self, link_id: str) -> Json: ...
    async def attach_routing_policy(self, link_id: str, body: Json) -> Json: ...
    async def detach_routing_policy(self, link_id: str, body: Json) -> Json: ...
    async def set_routing_policy(self, link_id: str, body: Json) -> Json: ...
    async def enable_route_propagation(self, link_id: str) -> Json: ...
    async def disable_route_propagation(self, link_id: str) -> Json: ...
    async def link_stats(self, link_id: str) -> Json: ...

    async def list_policies(self) -> list[Json]: ...
    async def get_policy(self, policy_id: str) -> Json: ...
    async def create_policy(self, body: Json, region: str) -> Json: ...
    async def update_policy(self, policy_id: str, body: Json) -> Json: ...
    async def delete_policy(self, policy_id: str) -> None: ...

    async def list_pops(self) -> list[Json]: ...
    async def get_pop(self, pop_id: str) -> Json: ...
    async def list_partners(self) -> list[Json]: ...
    async def get_partner(self, partner_id: str) -> Json: ...
    async def list_dedicated_connections(self) -> list[Json]: ...
    async def get_dedicated_connection(self, connection_id: str) -> Json: ...

    async def list_vpcs(self) -> list[Json]: ...
    async def get_vpc(self, vpc_id: str) -> Json: ...
    async def create_vpc(self, body: Json, region: str) -> Json: ...
    async def delete_vpc(self, vpc_id: str) -> None: ...
    async def list_private_networks(self) -> list[Json]: ...
    async def get_private_network(self, pn_id: str) -> Json: ...
    async def create_private_network(self, body: Json, region: str) -> Json: ...
    async def delete_private_network(self, pn_id: str) -> None: ...


class ApiExtension(Protocol):
    """Routes another layer serves from the controller's app, and their OpenAPI part:
    ``{"paths": {...}, "schemas": {...}}`` (either may be missing)."""

    def routes(self, app: web.Application) -> None: ...
    def openapi(self) -> Json: ...


# --- request helpers -----------------------------------------------------------------------
def region_of(request: web.Request) -> str:
    region = request.match_info["region"]
    if region not in REGIONS:
        raise ArgumentError.one("region", "constraint",
                                f"unknown region; one of {', '.join(REGIONS)}")
    return region


async def json_body(request: web.Request) -> Json:
    """The JSON object body of a POST/PATCH; an empty body is ``{}``."""
    raw = await request.read()  # at most MAX_BODY_BYTES (client_max_size), else 413
    if not raw.strip():
        return {}
    try:
        if len(raw) > OFFLOAD_BODY_BYTES:  # ~10 ms per MiB: not on the event loop
            body = await asyncio.get_running_loop().run_in_executor(None, json.loads, raw)
        else:
            body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArgumentError.one("body", "format", f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ArgumentError.one("body", "format", "must be a JSON object")
    return body


async def create_body(request: web.Request) -> tuple[Json, str]:
    """(body, region) of a create: the region comes from the path; a conflicting one in the
    body is an error, an equal one is dropped."""
    region = region_of(request)
    body = await json_body(request)
    if body.get("region") not in (None, region):
        raise ArgumentError.one("region", "constraint", "must match the region of the path")
    body.pop("region", None)
    return body, region


def _in_region(obj: Json, region: str, resource: str, obj_id: str) -> Json:
    # Objects without a region (none today) are visible from every region.
    if obj.get("region", region) != region:
        raise NotFound(resource, obj_id)
    return obj


class Routes:
    def __init__(self, ctrl: ControllerApi, document: Json):
        self.ctrl, self.document = ctrl, document

    async def _link(self, request: web.Request) -> tuple[str, Json]:
        """Checks region + existence before any mutation, so a wrong region changes nothing."""
        region = region_of(request)
        link_id = request.match_info["id"]
        return link_id, _in_region(await self.ctrl.get_link(link_id), region, "link", link_id)

    async def _policy(self, request: web.Request) -> tuple[str, Json]:
        region = region_of(request)
        pid = request.match_info["id"]
        return pid, _in_region(await self.ctrl.get_policy(pid), region, "routing_policy", pid)

    @staticmethod
    def _list(request: web.Request, items: list[Json], spec: listing.ListSpec,
              key: str) -> web.Response:
        region = region_of(request)
        items = [it for it in items if it.get("region", region) == region]
        page, total = listing.run(items, request.query.items(), spec)
        return json_response({key: page, "total_count": total})

    # --- links -------------------------------------------------------------------------------
    async def list_links(self, request: web.Request) -> web.Response:
        return self._list(request, await self.ctrl.list_links(), listing.LINKS, "links")

    async def get_link(self, request: web.Request) -> web.Response:
        _, link = await self._link(request)
        return json_response(link)

    async def create_link(self, request: web.Request) -> web.Response:
        body, region = await create_body(request)
        return json_response(await self.ctrl.create_link(body, region))

    async def delete_link(self, request: web.Request) -> web.Response:
        link_id, _ = await self._link(request)
        return json_response(await self.ctrl.delete_link(link_id))

    async def update_link(self, request: web.Request) -> web.Response:
        link_id, _ = await self._link(request)
        body = await json_body(request)
        return json_response(await self.ctrl.update_link(link_id, body))

    def link_action_with_body(self, method: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            link_id, _ = await self._link(request)
            body = await json_body(request)
            return json_response(await getattr(self.ctrl, method)(link_id, body))
        return handler

    def link_action(self, method: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            link_id, _ = await self._link(request)
            await json_body(request)  # the body is "{}"; a malformed one is still an error
            return json_response(await getattr(self.ctrl, method)(link_id))
        return handler

    async def link_stats(self, request: web.Request) -> web.Response:
        link_id, _ = await self._link(request)
        return json_response(await self.ctrl.link_stats(link_id))

    # --- routing policies -----------------------------------------------------------------
    async def list_policies(self, request: web.Request) -> web.Response:
        return self._list(request, await self.ctrl.list_policies(), listing.POLICIES,
                          "routing_policies")

    async def get_policy(self, request: web.Request) -> web.Response:
        _, policy = await self._policy(request)
        return json_response(policy)

    async def create_policy(self, request: web.Request) -> web.Response:
        body, region = await create_body(request)
        return json_response(await self.ctrl.create_policy(body, region))

    async def update_policy(self, request: web.Request) -> web.Response:
        pid, _ = await self._policy(request)
        body = await json_body(request)
        return json_response(await self.ctrl.update_policy(pid, body))

    async def delete_policy(self, request: web.Request) -> web.Response:
        pid, _ = await self._policy(request)
        await self.ctrl.delete_policy(pid)
        return web.Response(status=204)

    # --- catalog: PoPs, partners, dedicated connections ---------------------------------------
    def catalog_list(self, method: str, spec: listing.ListSpec, key: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            return self._list(request, await getattr(self.ctrl, method)(), spec, key)
        return handler

    def catalog_get(self, method: str, resource: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            region = region_of(request)
            obj_id = request.match_info["id"]
            obj = await getattr(self.ctrl, method)(obj_id)
            obj = _in_region(obj, region, resource, obj_id)
            return json_response({k: v for k, v in obj.items() if not k.startswith("_")})
        return handler

    # --- VPC v2 subset -----------------------------------------------------------------------
    async def list_vpcs(self, request: web.Request) -> web.Response:
        return self._list(request, await self.ctrl.list_vpcs(), listing.VPCS, "vpcs")

    async def _vpc(self, request: web.Request) -> tuple[str, Json]:
        region = region_of(request)
        vid = request.match_info["id"]
        return vid, _in_region(await self.ctrl.get_vpc(vid), region, "vpc", vid)

    async def get_vpc(self, request: web.Request) -> web.Response:
        _, vpc = await self._vpc(request)
        return json_response(vpc)

    async def create_vpc(self, request: web.Request) -> web.Response:
        body, region = await create_body(request)
        return json_response(await self.ctrl.create_vpc(body, region))

    async def delete_vpc(self, request: web.Request) -> web.Response:
        vid, _ = await self._vpc(request)
        await self.ctrl.delete_vpc(vid)
        return web.Response(status=204)

    async def create_private_network(self, request: web.Request) -> web.Response:
        body, region = await create_body(request)
        return json_response(await self.ctrl.create_private_network(body, region))

    async def delete_private_network(self, request: web.Request) -> web.Response:
        region = region_of(request)
        pid = request.match_info["id"]
        _in_region(await self.ctrl.get_private_network(pid), region, "private_network", pid)
        await self.ctrl.delete_private_network(pid)
        return web.Response(status=204)

    async def list_private_networks(self, request: web.Request) -> web.Response:
        return self._list(request, await self.ctrl.list_private_networks(),
                          listing.PRIVATE_NETWORKS, "private_networks")

    async def get_private_network(self, request: web.Request) -> web.Response:
        region = region_of(request)
        pid = request.match_info["id"]
        pn = await self.ctrl.get_private_network(pid)
        return json_response(_in_region(pn, region, "private_network", pid))

    async def openapi(self, request: web.Request) -> web.Response:
        return json_response(self.document)


def make_app(ctrl: ControllerApi, token: str,
             extensions: Sequence[ApiExtension] = (),
             pages: Sequence[str] = ()) -> web.Application:
    """The controller's aiohttp app, with the routes of ``extensions`` (the lab's).
    ``pages`` are paths a browser opens: the token may come once as ``?token=``, then from
    a cookie (``auth_middleware``)."""
    if not token:
        raise ValueError("an API token is required")
    middlewares = [errors_middleware, auth_middleware(token, PUBLIC_PATHS, frozenset(pages))]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY_BYTES)
    r = Routes(ctrl, openapi.document(*(ext.openapi() for ext in extensions)))
    add = app.router.add_route

    add("GET", f"{P}/links", r.list_links)
    add("POST", f"{P}/links", r.create_link)
    add("GET", f"{P}/links/{{id}}", r.get_link)
    add("DELETE", f"{P}/links/{{id}}", r.delete_link)
    add("PATCH", f"{P}/links/{{id}}", r.update_link)
    add("GET", f"{P}/links/{{id}}/stats", r.link_stats)  # lab extra: route counters
    for verb, method in (("attach-vpc", "attach_vpc"),
                         ("attach-routing-policy", "attach_routing_policy"),
                         ("detach-routing-policy", "detach_routing_policy"),
                         ("set-routing-policy", "set_routing_policy")):
        add("POST", f"{P}/links/{{id}}/{verb}", r.link_action_with_body(method))
    for verb, method in (("detach-vpc", "detach_vpc"),
                         ("enable-route-propagation", "enable_route_propagation"),
                         ("disable-route-propagation", "disable_route_propagation")):
        add("POST", f"{P}/links/{{id}}/{verb}", r.link_action(method))

    add("GET", f"{P}/routing-policies", r.list_policies)
    add("POST", f"{P}/routing-policies", r.create_policy)
    add("GET", f"{P}/routing-policies/{{id}}", r.get_policy)
    add("PATCH", f"{P}/routing-policies/{{id}}", r.update_policy)
    add("DELETE", f"{P}/routing-policies/{{id}}", r.delete_policy)

    for path, key, spec, resource in (
            ("pops", "pops", listing.POPS, "pop"),
            ("partners", "partners", listing.PARTNERS, "partner"),
            ("dedicated-connections", "connections", listing.DEDICATED_CONNECTIONS,
             "dedicated_connection")):
        add("GET", f"{P}/{path}", r.catalog_list(f"list_{resource}s", spec, key))
        add("GET", f"{P}/{path}/{{id}}", r.catalog_get(f"get_{resource}", resource))

    add("GET", f"{VPC_P}/vpcs", r.list_vpcs)
    add("POST", f"{VPC_P}/vpcs", r.create_vpc)
    add("GET", f"{VPC_P}/vpcs/{{id}}", r.get_vpc)
    add("DELETE", f"{VPC_P}/vpcs/{{id}}", r.delete_vpc)
    add("GET", f"{VPC_P}/private-networks", r.list_private_networks)
    add("POST", f"{VPC_P}/private-networks", r.create_private_network)
    add("GET", f"{VPC_P}/private-networks/{{id}}", r.get_private_network)
    add("DELETE", f"{VPC_P}/private-networks/{{id}}", r.delete_private_network)

    add("GET", OPENAPI_PATH, r.openapi)
    for ext in extensions:
        ext.routes(app)
    return app
