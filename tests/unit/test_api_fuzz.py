"""Property-based fuzzing of the API from its OpenAPI document (hypothesis).

Requests are drawn from the document: an operation, path parameters from a pool of real and
bogus ids, query parameters of lists, and bodies with the documented keys (right and wrong
types, nulls, unknown keys). Properties: never a 5xx, every answer is JSON with a documented
status, and a rejected request (4xx) leaves the inventory exactly as it was.

Hand-written strategies rather than schemathesis: the property "nothing changed after a 4xx"
needs the inventory between two calls, and the fixed seed keeps CI deterministic.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fakes import (
    CONN_DC3,
    CONN_TH2,
    DC3,
    FRANCEIX,
    LINKT,
    PA3,
    TH2,
    TOKEN,
    ApiServer,
    FakeController,
    lab_routes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.http import openapi

DOC = openapi.document(*(ext.openapi() for ext in lab_routes(FakeController())))
SKIP = {("get", "/lab/v1/events"), ("get", "/openapi.json")}  # a stream; static
OPS = sorted((m, t) for t, item in DOC["paths"].items() for m in item if (m, t) not in SKIP)
EXAMPLES = int(os.environ.get("ILAB_FUZZ_EXAMPLES", "400"))


class Fuzzed(FakeController):
    def __init__(self) -> None:
        super().__init__()
        # Known ids to draw from: existing and created ones (gathered as answers come).
        self.ids: set[str] = {"link-0", "link-1", "link-2", "vpc-1", "pn-1", TH2, PA3, DC3,
                              LINKT, FRANCEIX, CONN_TH2, CONN_DC3}

    async def link_stats(self, link_id: str) -> dict[str, Any]:
        self.inv.link(link_id)  # the base class raises a deliberate 500 for link-1
        return {"link_id": link_id}


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer(Fuzzed(), TOKEN) as s:
        yield s


def ids(ctrl: Fuzzed) -> st.SearchStrategy[str]:
    known = sorted(ctrl.ids | {pk for lk in list(ctrl.inv.links.values()) if lk.partner
                               for pk in [lk.partner.pairing_key]})
    # An index, not sampled_from(known): the pool grows, the drawing must stay the same shape.
    return st.one_of(st.integers(0, 255).map(lambda i: known[i % len(known)]), st.just("nope"),
                     st.text(st.characters(codec="ascii", exclude_characters="/?#%"),
                             min_size=1, max_size=8))


def scalar(ctrl: Fuzzed) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(-2, 5000), st.sampled_from([
            1499, 1500, 2451, 3000, 3099, 3899, 3900, 12876, 39801, 4294967294, 4294967295,
            50, 100, 1000, 25000]),
        ids(ctrl), st.sampled_from(["", "x" * 300, "10.0.0.0/8", "10.0.0.1/8", "::/0",
                                    "2001:db8:200::/64", "198.51.100.0/24", "fr-par", "nl-ams",
                                    "192.0.2.0/24", "fd00::/64", "169.254.0.0/31"]))


def value(ctrl: Fuzzed, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly of the documented type, sometimes anything."""
    schema = schema.get("anyOf", [schema])[0]
    kind = schema.get("type")
    if kind == "array":
        right: st.SearchStrategy[Any] = st.lists(scalar(ctrl).filter(
            lambda v: isinstance(v, str)), max_size=4)
    elif kind == "integer":
        right = st.integers(-2, 5000) | st.sampled_from([1500, 3000, 3899, 64512, 12876])
    elif kind == "boolean":
        right = st.booleans()
    else:
        right = ids(ctrl) | scalar(ctrl)
    return st.one_of(right, right, right, scalar(ctrl), st.lists(scalar(ctrl), max_size=2),
                     st.dictionaries(st.text(max_size=3), scalar(ctrl), max_size=2))


def plausible(ctrl: Fuzzed, key: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value that could well be accepted, so that successful writes change the state."""
    cidrs = ["10.1.0.0/16", "10.2.0.0/24", "172.16.0.0/20", "2001:db8:400::/64",
             "fd12:3456::/64", "198.51.100.0/24"]
    by_key: dict[str, st.SearchStrategy[Any]] = {
        "name": st.sampled_from(["a", "b", "link", "zz"]),
        "pop_id": st.sampled_from([TH2, TH2, PA3, DC3]),
        "partner_id": st.sampled_from([LINKT, FRANCEIX]),
        "connection_id": st.just(CONN_TH2),
        "bandwidth_mbps": st.sampled_from([50, 100, 1000]),
        "vlan": st.integers(1500, 1503) | st.integers(3000, 3002),
        "peer_asn": st.sampled_from([64512, 65000, 4200000000]),
        "tags": st.lists(st.sampled_from(["a", "b"]), max_size=2),
        "subnets": st.lists(st.sampled_from(cidrs), max_size=2, unique=True),
        "prefix_filter_in": st.lists(st.sampled_from(cidrs), max_size=2),
        "prefix_filter_out": st.lists(st.sampled_from(cidrs), max_size=2),
        "reason": st.just("busy"),
        "region": st.just("fr-par"),
        "is_ipv6": st.just(False),
    }
    if key in by_key:
        return by_key[key]
    kind = schema.get("anyOf", [schema])[0].get("type")
    if kind == "boolean":
        return st.booleans()
    return ids(ctrl)


def _schema(ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[1]
    schema: dict[str, Any] = DOC["components"]["schemas"][name]
    return schema


@st.composite
def requests(draw: st.DrawFn, ctrl: Fuzzed) -> tuple[str, str, Any]:
    method, template = draw(st.sampled_from(OPS))
    op = DOC["paths"][template][method]
    path = template.replace("{region}", draw(st.sampled_from(
        ["fr-par", "fr-par", "fr-par", "fr-par", "nl-ams", "xx-yyy"])))
    path = re.sub(r"\{id\}", lambda _: quote(draw(ids(ctrl)), safe=""), path)
    query = []
    for p in op.get("parameters", []):
        if p["in"] == "query" and draw(st.integers(0, 5)) == 0:
            v = draw(value(ctrl, p["schema"]))
            for one in (v if isinstance(v, list) else [v]):
                query.append((p["name"], "" if one is None else str(one)))
    if query:
        path += "?" + urlencode(query)
    body: Any = None
    if "requestBody" in op:
        schema = _schema(op["requestBody"]["content"]["application/json"]["schema"])
        keys = sorted(schema["properties"])
        chosen = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
        good = draw(st.booleans())
        body = {k: draw(plausible(ctrl, k, schema["properties"][k]) if good
                        else value(ctrl, schema["properties"][k])) for k in chosen}
        # Required keys usually there, so that deep validation paths are reached.
        for k in schema["required"]:
            if draw(st.integers(0, 4)):
                body.setdefault(k, draw(plausible(ctrl, k, schema["properties"][k]) if good
                                        else value(ctrl, schema["properties"][k])))
        if not good and draw(st.integers(0, 4)) == 0:
            body[draw(st.text(min_size=1, max_size=5))] = 1
        if draw(st.integers(0, 19)) == 0:
            body = draw(st.sampled_from([[], "x", 3, None]))
    return method.upper(), path, body


def send(server: ApiServer, method: str, path: str, body: Any) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"X-Auth-Token": TOKEN,
                                                       "Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_fuzz_no_5xx_and_rejections_change_nothing(server: ApiServer) -> None:
    ctrl: Fuzzed = server.ctrl

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        method, path, body = data.draw(requests(ctrl))
        before = copy.deepcopy(ctrl.inv)
        status, raw = send(server, method, path, body)
        assert status < 500, (method, path, body, raw)
        if status == 204:
            assert raw == b""
            return
        answer = json.loads(raw)
        if status >= 400:
            assert ctrl.inv == before, ("a rejected request changed the inventory",
                                        method, path, body, answer)
            assert isinstance(answer.get("type"), str)
        elif isinstance(answer, dict) and isinstance(answer.get("id"), str):
            ctrl.ids.add(answer["id"])

    check()
