"""The controller's events as a stream (``GET /lab/v1/events``): NDJSON, one event per line,
flushed per event, until the client goes away or the server shuts down."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from controller.api.middleware import dumps
from controller.api.openapi import ERRORS, json_content, ref

Json = dict[str, Any]
EVENTS_PATH = "/lab/v1/events"
# How often an idle event stream checks whether its client went away.
EVENTS_POLL_S = 1.0
# Put into a stream's queue to end it (compared by identity).
_CLOSE: Json = {}


class EventSource(Protocol):
    async def subscribe(self) -> asyncio.Queue[Json]: ...
    async def unsubscribe(self, queue: asyncio.Queue[Json]) -> None: ...


class EventsApi:
    def __init__(self, source: EventSource):
        self.source = source
        self.streams: set[asyncio.Queue[Json]] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", EVENTS_PATH, self.events)
        app.on_shutdown.append(self.on_shutdown)

    def openapi(self) -> Json:
        return {"paths": {EVENTS_PATH: {"get": {
            "summary": "Lab: status changes as they happen (NDJSON, one event per line)",
            "tags": ["lab"], "responses": {
                "200": {"description": "an endless stream",
                        "content": {"application/x-ndjson": {"schema": {"type": "object"}}}},
                "401": {"description": ERRORS["401"][0],
                        "content": json_content(ref("DeniedAuthenticationError"))}}}}}}

    async def on_shutdown(self, app: web.Application) -> None:
        # Open event streams would otherwise hold the server's graceful shutdown for its
        # whole timeout (they never end by themselves).
        for queue in self.streams:
            queue.put_nowait(_CLOSE)

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-cache"})
        queue = await self.source.subscribe()
        self.streams.add(queue)
        try:
            await resp.prepare(request)  # sends the headers at once: clients see 200 now
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), EVENTS_POLL_S)
                except TimeoutError:
                    # aiohttp does not cancel handlers on disconnect: poll the transport.
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                if event is _CLOSE:
                    await resp.write_eof()
                    break
                await resp.write((dumps(event) + "\n").encode())
        except ConnectionError:
            pass  # the client left while we were writing
        finally:
            self.streams.discard(queue)
            await self.source.unsubscribe(queue)
        return resp
