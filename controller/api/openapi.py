"""OpenAPI 3.1 document of the controller's HTTP API (pure), served at ``GET /openapi.json``.

It describes exactly what ``controller.api.http`` serves: InterLink v1beta1, the VPC v2 subset,
and what the app's extensions (the lab's routes) add with ``document(*extensions)``, built
with the helpers here (``op``, ``ref``, ``request_body``...). Response schemas are strict
(``additionalProperties: false``, every always-present field required) so that
tests/unit/test_openapi.py catches any drift between the document and the answers; list query
parameters come from ``controller.core.listing``.
"""

from __future__ import annotations

import functools
from typing import Any

from controller.core import listing
from controller.core.catalog import CONNECTION_STATUSES
from controller.core.limits import MAX_BODY_BYTES, MAX_POLICY_ENTRIES
from controller.core.model import REGIONS, VLAN_MAX, VLAN_MIN

Json = dict[str, Any]
P = "/interlink/v1beta1/regions/{region}"
VPC_P = "/vpc/v2/regions/{region}"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None,
        strict: bool = True, **extra: Any) -> Json:
    props = {**required, **(optional or {})}
    out: Json = {"type": "object", "properties": props, "required": sorted(required),
                 **extra}
    if strict:
        out["additionalProperties"] = False
    return out


S: Json = {"type": "string"}
INT: Json = {"type": "integer"}
B: Json = {"type": "boolean"}
TS: Json = {"type": "string", "pattern": TIMESTAMP}
STRS: Json = {"type": "array", "items": S}
PREFIXES: Json = {"type": "array", "items": S, "maxItems": MAX_POLICY_ENTRIES}
INTS: Json = {"type": "array", "items": INT}


def _nullable(schema: Json) -> Json:
    # Request fields: null means "not given" (controller.api.http docstring).
    return {"anyOf": [schema, {"type": "null"}]}


def request_body(required: dict[str, Any], optional: dict[str, Any] | None = None) -> Json:
    return obj(required, {k: _nullable(v) for k, v in (optional or {}).items()})


def schemas() -> Json:
    link_statuses = list(listing.LINK_STATUSES)
    bgp = {"type": "string", "enum": list(listing.BGP_STATUSES)}
    owner = {"project_id": S, "organization_id": S, "region": {"enum": list(REGIONS)}}
    stats_family = obj({
        "session": {"enum": ["up", "down"]}, "received": INT, "accepted": INT, "rejected": INT,
        "rejected_reasons": {"type": "object", "additionalProperties": INT},
        "advertised": INT, "installed": INT})
    error_detail = obj({"argument_name": S, "reason": {
        "enum": ["required", "format", "constraint", "unknown"]}, "help_message": S})

    def listing_of(key: str, item: str) -> Json:
        return obj({key: {"type": "array", "items": ref(item)}, "total_count": INT})

    return {
        "BgpConfig": obj({"asn": INT, "ipv4": S, "ipv6": S}),
        "PartnerHost": obj({"partner_id": S, "pairing_key": S, "l3_connectivity": B,
                            "disapproved_reason": S}),
        "SelfHost": obj({"connection_id": S}),
        "Link": obj({
            "id": S, "name": S, "pop_id": S, "bandwidth_mbps": INT,
            "vlan": {"type": "integer", "minimum": VLAN_MIN, "maximum": VLAN_MAX},
            "scw_bgp_config": ref("BgpConfig"), "peer_bgp_config": ref("BgpConfig"),
            "status": {"enum": link_statuses}, "bgp_v4_status": bgp, "bgp_v6_status": bgp,
            "enable_route_propagation": B, "tags": STRS, "created_at": TS, "updated_at": TS,
            **owner,
        }, {"vpc_id": S, "routing_policy_v4_id": S, "routing_policy_v6_id": S,
            "partner": ref("PartnerHost"), "self": ref("SelfHost")}),
        "LinkStats": obj({"link_id": S, "ipv4": stats_family, "ipv6": stats_family}),
        "RoutingPolicy": obj({
            "id": S, "name": S, "is_ipv6": B, "prefix_filter_in": STRS,
            "prefix_filter_out": STRS, "tags": STRS, "created_at": TS, "updated_at": TS,
            **owner}),
        "Pop": obj({
            "id": S, "name": S, "hosting_provider_name": S, "address": S, "city": S,
            "logo_url": S, "available_link_bandwidths_mbps": INTS, "display_name": S,
            "region": {"enum": list(REGIONS)}}),
        "Partner": obj({
            "id": S, "name": S, "contact_email": S, "logo_url": S, "portal_url": S,
            "l3_connectivity": B, "region": {"enum": list(REGIONS)}, "created_at": TS,
            "updated_at": TS}),
        "Range": obj({"start": INT, "end": INT}),
        "DedicatedConnection": obj({
            "id": S, "name": S, "status": {"enum": list(CONNECTION_STATUSES)}, "tags": STRS,
            "pop_id": S, "bandwidth_mbps": INT, "available_link_bandwidths": INTS,
            "created_at": TS, "updated_at": TS, "demarcation_info": S,
            "vlan_range": ref("Range"), **owner}),
        "VPC": obj({
            "id": S, "name": S, "tags": STRS, "is_default": B, "private_network_count": INT,
            "routing_enabled": B, "custom_routes_propagation_enabled": B,
            "transitivity_enabled": B, "object_storage_private_access_enabled": B,
            "created_at": TS, "updated_at": TS, **owner}),
        "Subnet": obj({
            "id": S, "subnet": S, "project_id": S, "private_network_id": S, "vpc_id": S,
            "region": {"enum": list(REGIONS)}, "created_at": TS, "updated_at": TS}),
        "PrivateNetwork": obj({
            "id": S, "name": S, "vpc_id": S, "tags": STRS,
            "subnets": {"type": "array", "items": ref("Subnet")}, "dhcp_enabled": B,
            "default_route_propagation_enabled": B, "has_object_storage_private_access": B,
            "created_at": TS, "updated_at": TS, **owner}),
        "ListLinksResponse": listing_of("links", "Link"),
        "ListRoutingPoliciesResponse": listing_of("routing_policies", "RoutingPolicy"),
        "ListPopsResponse": listing_of("pops", "Pop"),
        "ListPartnersResponse": listing_of("partners", "Partner"),
        "ListDedicatedConnectionsResponse": listing_of("connections", "DedicatedConnection"),
        "ListVPCsResponse": listing_of("vpcs", "VPC"),
        "ListPrivateNetworksResponse": listing_of("private_networks", "PrivateNetwork"),
        # --- request bodies ---
        "CreateLinkRequest": request_body({"name": S, "pop_id": S, "bandwidth_mbps": INT}, {
            "project_id": S, "tags": STRS, "partner_id": S, "connection_id": S,
            "peer_asn": INT, "vlan": INT, "routing_policy_v4_id": S, "routing_policy_v6_id": S,
            "region": S}),
        "UpdateLinkRequest": request_body({}, {"name": S, "tags": STRS, "peer_asn": INT}),
        "AttachVpcRequest": request_body({"vpc_id": S}),
        "RoutingPolicyIdRequest": request_body({"routing_policy_id": S}),
        "EmptyRequest": obj({}),
        "CreateRoutingPolicyRequest": request_body({"name": S}, {
            "is_ipv6": B, "project_id": S, "tags": STRS, "prefix_filter_in": PREFIXES,
            "prefix_filter_out": PREFIXES, "region": S}),
        "UpdateRoutingPolicyRequest": request_body({}, {
            "name": S, "tags": STRS, "prefix_filter_in": PREFIXES,
            "prefix_filter_out": PREFIXES}),
        "CreateVPCRequest": request_body({}, {
            "name": S, "project_id": S, "tags": STRS, "enable_routing": B,
            "enable_transitivity": B, "region": S}),
        "CreatePrivateNetworkRequest": request_body({"vpc_id": S}, {
            "name": S, "project_id": S, "tags": STRS, "subnets": STRS,
            "default_route_propagation_enabled": B, "region": S}),
        # --- errors ---
        "InvalidArgumentsError": obj({"type": {"const": "invalid_arguments"}, "message": S,
                                      "details": {"type": "array", "items": error_detail}}),
        "DeniedAuthenticationError": obj({"type": {"const": "denied_authentication"},
                                          "method": S, "reason": S}),
        "NotFoundError": obj({"type": {"const": "not_found"}, "message": S, "resource": S,
                              "resource_id": S}),
        "TransientStateError": obj({"type": {"const": "transient_state"}, "message": S,
                                    "resource": S, "resource_id": S, "current_state": S}),
        "PreconditionFailedError": obj({"type": {"const": "precondition_failed"},
                                        "precondition": S, "help_message": S}),
        "InternalError": obj({"type": {"const": "internal_error"}, "message": S}),
        "RequestEntityTooLargeError": obj({"type": {"const": "request_entity_too_large"},
                                           "message": S, "max_size": INT}),
    }


ERRORS = {
    "400": ("invalid arguments (every bad argument listed)", "InvalidArgumentsError"),
    "401": ("missing or wrong X-Auth-Token", "DeniedAuthenticationError"),
    "404": ("no such resource in this region", "NotFoundError"),
    "409": ("the resource is in a transient state", "TransientStateError"),
    "412": ("the operation is not possible in the resource's state", "PreconditionFailedError"),
    "413": (f"the request body is larger than {MAX_BODY_BYTES} bytes",
            "RequestEntityTooLargeError"),
    "500": ("internal error (details in the controller log)", "InternalError"),
}
READ_ERRORS = ("400", "401", "404", "500")
WRITE_ERRORS = ("400", "401", "404", "409", "412", "413", "500")


def json_content(schema: Json) -> Json:
    return {"application/json": {"schema": schema}}


def op(summary: str, ok: str | None, *, body: str | None = None, status: str = "200",
       errors: tuple[str, ...] = READ_ERRORS, params: list[Json] | None = None,
       tag: str = "interlink") -> Json:
    """One operation: its ``ok`` answer (a component name, None: empty), ``errors`` codes."""
    responses: Json = {}
    if ok is None:
        responses[status] = {"description": "done, empty body"}
    else:
        responses[status] = {"description": "OK", "content": json_content(ref(ok))}
    for code in errors:
        desc, schema = ERRORS[code]
        responses[code] = {"description": desc, "content": json_content(ref(schema))}
    out: Json = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": False, "content": json_content(ref(body))}
    return out


REGION_PARAM = {"name": "region", "in": "path", "required": True,
                "schema": {"type": "string", "enum": list(REGIONS)}}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": S}


def _list_params(spec: listing.ListSpec) -> list[Json]:
    out: list[Json] = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "page_size", "in": "query",
         "schema": {"type": "integer", "minimum": 1, "maximum": listing.MAX_PAGE_SIZE}},
        {"name": "order_by", "in": "query",
         "schema": {"type": "string", "enum": list(spec.orders),
                    "default": spec.default_order}},
    ]
    for f in spec.filters:
        one: Json = {"type": f.kind}
        if f.choices:
            one["enum"] = list(f.choices)
        schema = {"type": "array", "items": one} if f.multi else one
        param: Json = {"name": f.name, "in": "query", "schema": schema}
        if f.multi:
            param.update(style="form", explode=True)
        out.append(param)
    return out


def paths() -> Json:
    r, ri = [REGION_PARAM], [REGION_PARAM, ID_PARAM]
    w = WRITE_ERRORS
    out: Json = {
        f"{P}/links": {
            "get": op("List links", "ListLinksResponse",
                      params=r + _list_params(listing.LINKS)),
            "post": op("Create a link (hosted: partner_id, self-hosted: connection_id)",
                       "Link", body="CreateLinkRequest", errors=w, params=r)},
        f"{P}/links/{{id}}": {
            "get": op("Get a link", "Link", params=ri),
            "patch": op("Update a link", "Link", body="UpdateLinkRequest", errors=w,
                        params=ri),
            "delete": op("Delete a link (answers it, status deleted or deprovisioning)",
                         "Link", errors=w, params=ri)},
        f"{P}/links/{{id}}/stats": {
            "get": op("Lab extra: route counters of a link", "LinkStats", params=ri)},
    }
    for verb, body in (("attach-vpc", "AttachVpcRequest"),
                       ("detach-vpc", "EmptyRequest"),
                       ("attach-routing-policy", "RoutingPolicyIdRequest"),
                       ("detach-routing-policy", "RoutingPolicyIdRequest"),
                       ("set-routing-policy", "RoutingPolicyIdRequest"),
                       ("enable-route-propagation", "EmptyRequest"),
                       ("disable-route-propagation", "EmptyRequest")):
        out[f"{P}/links/{{id}}/{verb}"] = {
            "post": op(verb.replace("-", " ").capitalize(), "Link", body=body, errors=w,
                       params=ri)}
    out[f"{P}/routing-policies"] = {
        "get": op("List routing policies", "ListRoutingPoliciesResponse",
                  params=r + _list_params(listing.POLICIES)),
        "post": op("Create a routing policy", "RoutingPolicy",
                   body="CreateRoutingPolicyRequest", errors=w, params=r)}
    out[f"{P}/routing-policies/{{id}}"] = {
        "get": op("Get a routing policy", "RoutingPolicy", params=ri),
        "patch": op("Update a routing policy (a given list replaces the whole list)",
                    "RoutingPolicy", body="UpdateRoutingPolicyRequest", errors=w, params=ri),
        "delete": op("Delete a routing policy (412 while a link uses it)", None,
                     status="204", errors=w, params=ri)}
    for path, what, spec, item, lst in (
            ("pops", "PoPs", listing.POPS, "Pop", "ListPopsResponse"),
            ("partners", "partners", listing.PARTNERS, "Partner", "ListPartnersResponse"),
            ("dedicated-connections", "dedicated connections", listing.DEDICATED_CONNECTIONS,
             "DedicatedConnection", "ListDedicatedConnectionsResponse")):
        out[f"{P}/{path}"] = {"get": op(f"List {what}", lst, params=r + _list_params(spec))}
        out[f"{P}/{path}/{{id}}"] = {"get": op(f"Get one of the {what}", item, params=ri)}
    out[f"{VPC_P}/vpcs"] = {
        "get": op("List VPCs", "ListVPCsResponse", params=r + _list_params(listing.VPCS),
                  tag="vpc"),
        "post": op("Create a VPC", "VPC", body="CreateVPCRequest", errors=w, params=r,
                   tag="vpc")}
    out[f"{VPC_P}/vpcs/{{id}}"] = {
        "get": op("Get a VPC", "VPC", params=ri, tag="vpc"),
        "delete": op("Delete a VPC (412 while it has private networks or links)", None,
                     status="204", errors=w, params=ri, tag="vpc")}
    out[f"{VPC_P}/private-networks"] = {
        "get": op("List private networks", "ListPrivateNetworksResponse",
                  params=r + _list_params(listing.PRIVATE_NETWORKS), tag="vpc"),
        "post": op("Create a private network (subnets allocated when none given)",
                   "PrivateNetwork", body="CreatePrivateNetworkRequest", errors=w,
                   params=r, tag="vpc")}
    out[f"{VPC_P}/private-networks/{{id}}"] = {
        "get": op("Get a private network", "PrivateNetwork", params=ri, tag="vpc"),
        "delete": op("Delete a private network", None, status="204", errors=w, params=ri,
                     tag="vpc")}
    out["/openapi.json"] = {"get": {
        "summary": "This document (no authentication)", "tags": ["lab"], "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1",
                              "content": json_content({"type": "object"})}}}}
    return out


def document(*extensions: Json) -> Json:
    """The OpenAPI document, with the ``paths`` and ``schemas`` of ``extensions`` (do not
    mutate: the parts are shared)."""
    base = _base()
    paths, schemas = dict(base["paths"]), dict(base["components"]["schemas"])
    for ext in extensions:
        paths.update(ext.get("paths", {}))
        schemas.update(ext.get("schemas", {}))
    return {**base, "paths": paths, "components": {**base["components"], "schemas": schemas}}


@functools.cache
def _base() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "interlink-lab controller API",
            "version": "0.1.0",
            "description": (
                "A local stand-in for Scaleway InterLink v1beta1 and a VPC v2 subset, plus "
                "lab-only routes. Unknown body fields are rejected (400, reason unknown); "
                "null body fields count as not given; unknown query parameters are ignored. "
                f"Limits: a request body is at most {MAX_BODY_BYTES} bytes (else 413); a "
                f"routing policy's prefix_filter_in and prefix_filter_out hold at most "
                f"{MAX_POLICY_ENTRIES} prefixes each (else 400)."),
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "tags": [{"name": "interlink"}, {"name": "vpc"}, {"name": "lab"}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header",
                                          "name": "X-Auth-Token"}},
            "schemas": schemas(),
        },
    }
