"""The partner's side of a hosted link, played by the lab (``/lab/v1/...``): approve or refuse
a pairing key, or let a request expire unanswered. On Scaleway the partner does this on its
own side; the lab serves it next to the controller's API (same token, same error shapes).
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from controller.api.http import json_body
from controller.api.middleware import json_response
from controller.api.openapi import ID_PARAM, S, op, request_body
from controller.core.bodies import check_keys
from controller.core.model import ArgumentError

Json = dict[str, Any]
ERRORS = ("400", "401", "404", "409", "412", "500")


class PartnerSide(Protocol):
    """The controller's operations these routes call."""

    async def approve_link(self, pairing_key: str) -> Json: ...
    async def refuse_link(self, pairing_key: str, reason: str | None) -> Json: ...
    async def expire_link(self, link_id: str) -> Json: ...


def _required_str(body: Json, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ArgumentError.one(key, "required", f"{key} is required (a non-empty string)")
    return value


class PartnerApi:
    def __init__(self, ctrl: PartnerSide):
        self.ctrl = ctrl

    def routes(self, app: web.Application) -> None:
        app.router.add_route("POST", "/lab/v1/partner/approve", self.approve)
        app.router.add_route("POST", "/lab/v1/partner/refuse", self.refuse)
        app.router.add_route("POST", "/lab/v1/links/{id}/expire", self.expire)

    def openapi(self) -> Json:
        return {
            "paths": {
                "/lab/v1/partner/approve": {"post": op(
                    "Lab: the partner accepts a pairing key (requested -> provisioning)",
                    "Link", body="PartnerApproveRequest", errors=ERRORS, tag="lab")},
                "/lab/v1/partner/refuse": {"post": op(
                    "Lab: the partner refuses a pairing key (requested -> refused)", "Link",
                    body="PartnerRefuseRequest", errors=ERRORS, tag="lab")},
                "/lab/v1/links/{id}/expire": {"post": op(
                    "Lab: a request expires unanswered (requested -> expired)", "Link",
                    body="EmptyRequest", errors=ERRORS, params=[ID_PARAM], tag="lab")},
            },
            "schemas": {
                "PartnerApproveRequest": request_body({"pairing_key": S}),
                "PartnerRefuseRequest": request_body({"pairing_key": S}, {"reason": S}),
            },
        }

    async def approve(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        check_keys(body, {"pairing_key"})
        return json_response(await self.ctrl.approve_link(_required_str(body, "pairing_key")))

    async def refuse(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        check_keys(body, {"pairing_key", "reason"})
        key = _required_str(body, "pairing_key")
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ArgumentError.one("reason", "format", "must be a string")
        return json_response(await self.ctrl.refuse_link(key, reason))

    async def expire(self, request: web.Request) -> web.Response:
        link_id = request.match_info["id"]
        check_keys(await json_body(request), set())
        return json_response(await self.ctrl.expire_link(link_id))
