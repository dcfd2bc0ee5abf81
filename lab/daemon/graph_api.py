"""The topology picture over HTTP: ``GET /lab/v1/graph`` (the model of lab.scenario.graph, with
the links' live status) and the page drawing it, ``GET /lab/graph`` (lab.daemon.graph_page),
which follows ``/lab/v1/events``. The page is opened once with ``?token=`` and then holds the
token in a cookie (controller.api.middleware.auth_middleware)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from controller.api.middleware import json_response
from controller.api.openapi import ERRORS, json_content, ref
from lab.daemon import graph_page
from lab.scenario.graph import build_graph, to_json
from lab.scenario.topology import Topology

Json = dict[str, Any]
GRAPH_PATH = "/lab/v1/graph"
PAGE_PATH = graph_page.PAGE_PATH
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


class GraphApi:
    def __init__(self, lab: str, topology: Callable[[], Topology],
                 links: Callable[[], Awaitable[list[Json]]],
                 link_name: Callable[[str], str | None]):
        """``topology``: the lab's current one; ``links``: the controller's link JSONs;
        ``link_name``: a link id -> its topology name (None: not wired)."""
        self.lab, self.topology, self.links, self.link_name = lab, topology, links, link_name

    def routes(self, app: web.Application) -> None:
        app.router.add_get(GRAPH_PATH, self.h_graph)
        app.router.add_get(PAGE_PATH, self.h_page)
        app.router.add_get(PAGE_PATH + "/{asset}", self.h_asset)

    def openapi(self) -> Json:
        return {"paths": {GRAPH_PATH: {"get": {
            "summary": "Lab: the topology as a graph (nodes, wires, InterLinks and BGP "
                       "sessions with their status)",
            "tags": ["lab"], "responses": {
                "200": {"description": "the graph", "content": json_content(
                    {"type": "object", "required": ["lab", "nodes", "edges"]})},
                "401": {"description": ERRORS["401"][0],
                        "content": json_content(ref("DeniedAuthenticationError"))}}}}}}

    async def model(self) -> Json:
        status = {}
        for link in await self.links():
            name = self.link_name(str(link.get("id")))
            if name is not None:
                status[name] = link
        return to_json(build_graph(self.topology(), status))

    async def h_graph(self, request: web.Request) -> web.Response:
        return json_response(await self.model())

    async def h_page(self, request: web.Request) -> web.Response:
        try:
            text = graph_page.live_page(self.lab)
        except graph_page.AssetsMissing as exc:
            return web.Response(text=str(exc), status=503, headers=NO_STORE)
        return web.Response(text=text, content_type="text/html",
                            headers={**NO_STORE, "Content-Security-Policy": graph_page.CSP})

    async def h_asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        if name not in graph_page.ASSETS:
            raise web.HTTPNotFound()
        try:
            body = graph_page.asset(name)
        except graph_page.AssetsMissing as exc:
            return web.Response(text=str(exc), status=503, headers=NO_STORE)
        kind = graph_page.CONTENT_TYPES[name[name.rindex("."):]]
        return web.Response(body=body, content_type=kind,
                            headers={"Cache-Control": "max-age=3600",
                                     "X-Content-Type-Options": "nosniff"})
