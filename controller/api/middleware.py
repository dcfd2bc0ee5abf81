"""The app's responses: sorted-key JSON, Scaleway's error shapes for the controller's
exceptions (exact shapes of interlink.md), and the token check."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from controller.core.limits import MAX_BODY_BYTES
from controller.core.model import ArgumentError, NotFound, PreconditionFailed, TransientState

log = logging.getLogger(__name__)
Json = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- responses -------------------------------------------------------------------------------
def dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


# Exactly what Scaleway's API sends: Scaleway's official SDKs compare the header verbatim
# (the TypeScript one refuses ``application/json; charset=utf-8``, aiohttp's default).
JSON_CONTENT_TYPE = "application/json"


def json_response(data: Any, status: int = 200) -> web.Response:
    # body= bytes with content_type= keeps aiohttp from appending "; charset=utf-8"
    return web.Response(body=dumps(data).encode(), status=status,
                        content_type=JSON_CONTENT_TYPE)


def error_body(exc: Exception) -> tuple[int, Json]:
    """Scaleway's JSON error shape for a controller exception (exact shapes of interlink.md)."""
    if isinstance(exc, ArgumentError):
        return 400, {"type": "invalid_arguments", "message": "invalid argument(s)",
                     "details": exc.details}
    if isinstance(exc, NotFound):
        return 404, {"type": "not_found", "message": "resource is not found",
                     "resource": exc.resource, "resource_id": exc.resource_id}
    if isinstance(exc, PreconditionFailed):
        return 412, {"type": "precondition_failed", "precondition": exc.precondition,
                     "help_message": exc.help_message}
    if isinstance(exc, TransientState):
        return 409, {"type": "transient_state", "message": str(exc),
                     "resource": exc.resource, "resource_id": exc.resource_id,
                     "current_state": exc.current_state}
    return 500, {"type": "internal_error", "message": "internal error (see the controller log)"}


DENIED = {"type": "denied_authentication", "method": "api_key", "reason": "not_found"}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ArgumentError, NotFound, PreconditionFailed, TransientState) as exc:
        status, body = error_body(exc)
        return json_response(body, status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return json_response({"type": "not_found", "message": "no such endpoint",
                                  "resource": "endpoint", "resource_id": request.path}, 404)
        if exc.status == 413:  # aiohttp's client_max_size (controller.core.limits)
            return json_response({"type": "request_entity_too_large",
                                  "message": f"the request body is larger than "
                                             f"{MAX_BODY_BYTES} bytes",
                                  "max_size": MAX_BODY_BYTES}, 413)
        if exc.status == 405:
            return json_response({"type": "method_not_allowed",
                                  "message": f"{request.method} is not allowed on "
                                             f"{request.path}"}, 405)
        return json_response({"type": "http_error", "message": exc.reason}, exc.status)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        status, body = error_body(RuntimeError())
        return json_response(body, status)


def token_cookie(token: str) -> str:
    """The cookie a browser keeps the token in. Cookies are not kept apart by port, so each
    lab on 127.0.0.1 names its own (from its token: the name reveals nothing usable)."""
    return "ilab_" + hashlib.sha256(token.encode()).hexdigest()[:16]


PAGE_DENIED = ("<!doctype html><title>interlink-lab: token needed</title>"
               "<p>This page needs the lab's token: open the address that "
               "<code>interlink-lab graph --url</code> prints (it carries "
               "<code>?token=</code> once; the page then keeps it in a cookie).</p>")


def auth_middleware(token: str, public_paths: frozenset[str],
                    pages: frozenset[str] = frozenset()) -> Middleware:
    """Every request needs the token, except a GET of ``public_paths``.

    A browser cannot send a header when it opens a page: a GET of one of ``pages`` may carry
    ``?token=`` instead, once; it is answered by a redirect to the same page without it (out
    of the address bar, the history and referrers) that sets the token as an HttpOnly,
    SameSite=Strict cookie. That cookie is taken for GETs only: GETs change nothing, so a
    page of another site or port cannot act on the lab with it."""
    expected = token.encode()
    cookie = token_cookie(token)

    def valid(given: str) -> bool:
        # Constant time: the token is the only thing protecting the lab's control plane.
        return hmac.compare_digest(given.encode(), expected)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET":
            if request.path in public_paths:
                return await handler(request)
            if request.path in pages and "token" in request.query:
                if not valid(request.query["token"]):
                    return web.Response(text=PAGE_DENIED, status=401, content_type="text/html")
                query = {k: v for k, v in request.query.items() if k != "token"}
                resp = web.Response(status=303, headers={
                    "Location": str(request.rel_url.with_query(query)),
                    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
                resp.set_cookie(cookie, token, path="/", httponly=True, samesite="Strict")
                return resp
            if valid(request.cookies.get(cookie, "")):
                return await handler(request)
            if request.path in pages:
                return web.Response(text=PAGE_DENIED, status=401, content_type="text/html")
        if not valid(request.headers.get("X-Auth-Token", "")):
            return json_response(DENIED, 401)
        return await handler(request)

    return check
