"""The controller's events as a stream (``GET /lab/v1/events``): NDJSON, one event per line,
flushed per event, until the client goes away or the server shuts down.

``?since=`` (an event id, a duration such as ``5m``, an ISO time:
``controller.core.feed.parse_since``) starts with the kept events it admits; ``?follow=0``
ends the stream after them. Without ``since`` the stream holds only what happens from now on
(what the live graph page expects: it fetches the current state first).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from aiohttp import web

from controller.api.middleware import dumps
from controller.api.openapi import ERRORS, json_content, ref
from controller.core.feed import Since, parse_since
from controller.core.model import ArgumentError

Json = dict[str, Any]
EVENTS_PATH = "/lab/v1/events"
# How often an idle event stream checks whether its client went away.
EVENTS_POLL_S = 1.0
# Put into a stream's queue to end it (compared by identity).
_CLOSE: Json = {}


class EventSource(Protocol):
    async def subscribe(self, since: Since | None = None) -> asyncio.Queue[Json]: ...
    async def unsubscribe(self, queue: asyncio.Queue[Json]) -> None: ...
    def replay(self, since: Since) -> list[Json]: ...


def stream_args(query: Any, now: float) -> tuple[Since | None, bool]:
    """``since`` and ``follow`` of a request's query; ArgumentError (400) says what is wrong.
    ``follow=0`` without ``since`` replays everything kept."""
    since = None
    if "since" in query:
        try:
            since = parse_since(str(query["since"]), now)
        except ValueError as exc:
            raise ArgumentError.one("since", "format", str(exc)) from None
    raw = str(query.get("follow", "1")).lower()
    if raw not in ("1", "0", "true", "false", "yes", "no"):
        raise ArgumentError.one("follow", "format", "must be 1 or 0 (true or false)")
    follow = raw in ("1", "true", "yes")
    if not follow and since is None:
        since = Since(id=0)
    return since, follow


class EventsApi:
    def __init__(self, source: EventSource):
        self.source = source
        self.streams: set[asyncio.Queue[Json]] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("GET", EVENTS_PATH, self.events)
        app.on_shutdown.append(self.on_shutdown)

    def openapi(self) -> Json:
        return {"paths": {EVENTS_PATH: {"get": {
            "summary": "Lab: the controller's events (NDJSON, one event per line): statuses, "
                       "sessions, routes, policies, propagation, faults",
            "tags": ["lab"],
            "parameters": [
                {"name": "since", "in": "query", "required": False,
                 "schema": {"type": "string"},
                 "description": "replay the kept events after this id, or from this "
                                "duration back (5m) or ISO time, then follow"},
                {"name": "follow", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["1", "0", "true", "false"]},
                 "description": "0: end after the replay"}],
            "responses": {
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
        since, follow = stream_args(request.query, time.time())
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                           "Cache-Control": "no-cache"})
        if not follow:
            assert since is not None
            await resp.prepare(request)
            kept = self.source.replay(since)
            try:
                # One write for the lot: up to the ring's size, a few MB.
                if kept:
                    await resp.write("".join(dumps(ev) + "\n" for ev in kept).encode())
                await resp.write_eof()
            except ConnectionError:
                pass
            return resp
        queue = await (self.source.subscribe(since) if since is not None
                       else self.source.subscribe())
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
