"""lab.control.client (synchronous) against the real API app served from a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from test_api import TOKEN, FakeController, lab_routes  # tests/unit is on sys.path (rootdir)

from controller.api.http import make_app
from lab.control.client import ApiError, Client, P
from lab.control.labdir import LabError


class Server:
    def __init__(self) -> None:
        self.ctrl = FakeController()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(make_app(self.ctrl, TOKEN, lab_routes(self.ctrl)))
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self.runner = runner
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def publish(self, event: dict[str, Any]) -> None:
        def put() -> None:
            for q in self.ctrl.queues:
                q.put_nowait(event)
        self.loop.call_soon_threadsafe(put)

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    s.start()
    yield s
    s.stop()


def client(server: Server, token: str = TOKEN) -> Client:
    return Client(f"http://127.0.0.1:{server.port}", token, lab="ilab", timeout=10)


def test_requests_and_helpers(server: Server) -> None:
    c = client(server)
    assert [lk["name"] for lk in c.links()] == ["first", "second", "third"]
    assert c.link("second")["id"] == "link-1"
    pol = c.post(f"{P}/routing-policies", {"name": "cli-pol", "prefix_filter_in": ["10.0.0.0/8"]})
    assert c.policy("cli-pol")["id"] == pol["id"]
    assert c.delete(f"{P}/routing-policies/{pol['id']}") is None
    assert c.vpc("vpc")["id"] == "vpc-1"
    assert c.private_networks()[0]["id"] == "pn-1"


def test_errors(server: Server) -> None:
    c = client(server)
    with pytest.raises(ApiError) as ei:
        c.patch(f"{P}/links/link-0", {"vlan": 1})
    assert ei.value.status == 400 and ei.value.type == "invalid_arguments"
    assert str(ei.value) == "invalid argument(s): vlan: unknown field"
    with pytest.raises(ApiError, match=r"^link nope not found$"):
        c.get(f"{P}/links/nope")
    with pytest.raises(ApiError, match="authentication denied"):
        client(server, "wrong").links()


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Client(f"http://127.0.0.1:{port}", TOKEN, lab="gone")
    with pytest.raises(LabError, match=r"^controller of lab gone is not responding"):
        c.links()
    with pytest.raises(LabError, match="not responding"):
        list(c.events(timeout=1))


def test_events_stream_and_timeout(server: Server) -> None:
    c = client(server)

    def feed() -> None:
        for _ in range(200):
            if server.ctrl.queues:
                break
            time.sleep(0.01)
        for i in range(3):
            server.publish({"type": "status", "n": i})

    threading.Thread(target=feed, daemon=True).start()
    got = []
    for ev in c.events(timeout=5):
        got.append(ev["n"])
        if len(got) == 3:
            break
    assert got == [0, 1, 2]
    start = time.monotonic()
    assert list(c.events(timeout=0.3)) == []  # nothing happens: ends at the deadline
    assert time.monotonic() - start < 3
