"""The topology picture: the model (lab.scenario.graph), its Mermaid and dot forms (golden
files), `interlink-lab graph`, and the controller's page and JSON with their token rules."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from fakes import TOKEN, FakeController

from controller.api.http import make_app
from controller.api.middleware import token_cookie
from lab.cli import common
from lab.cli import graph as graph_cli
from lab.cli.main import cli
from lab.daemon import graph_page
from lab.daemon.graph_api import GRAPH_PATH, PAGE_PATH, GraphApi
from lab.scenario import graph
from lab.scenario.addressing import build_topology
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology

LINK_ID = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BASIC_STATUS = {"link-lab": {"id": LINK_ID, "name": "link-lab", "status": "limited_connectivity",
                             "bgp_v4_status": "up", "bgp_v6_status": "down",
                             "bandwidth_mbps": 1000}}
needs_assets = pytest.mark.skipif(
    not (graph_page.WEB_DIR / graph_page.SCRIPTS["cytoscape.min.js"]).exists(),
    reason="the page's libraries are not installed (make setup: npm ci in lab/daemon/web)")


def topo(scenario: str = "basic") -> Topology:
    return build_topology(load_scenario(scenario), "ilab")


def basic() -> graph.Graph:
    return graph.build_graph(topo(), BASIC_STATUS)


# --- the model -------------------------------------------------------------------------------
def test_nodes_carry_asns_addresses_vlans_and_vpcs() -> None:
    g = basic()
    nodes = {n.id: n for n in g.nodes}
    assert nodes["customer-router"].asn == 64512
    assert nodes["scw-interlink"].asn == 12876
    assert nodes["partner"].asn is None and "VLAN 2451" in nodes["partner"].notes
    assert "il0.2451 169.254.0.17/31" in nodes["customer-router"].addresses
    assert nodes["vpc-router"].notes == ("VPC vpc-lab", "subnet 203.0.113.0/24",
                                         "subnet 2001:db8:200::/64")
    assert [s for s in g.sides] == ["customer", "partner", "scaleway"]


def test_wires_run_from_the_customer_side_with_their_vlans() -> None:
    wires = [e for e in basic().edges if e.kind == "wire"]
    assert [(e.source, e.target) for e in wires] == [
        ("onprem-host", "customer-router"), ("customer-router", "partner"),
        ("partner", "scw-interlink"), ("scw-interlink", "vpc-router"),
        ("vpc-router", "vpc-instance")]
    assert wires[2].label == "scw0 — pe0 · 802.1Q 2451" and wires[2].vlans == (2451,)


@pytest.mark.parametrize(("status", "colour"), [
    ("active", "#2e7d32"), ("limited_connectivity", "#ef6c00"), ("all_down", "#c62828"),
    ("configuring", graph.GREY), ("requested", graph.GREY), (None, graph.GREY)])
def test_interlinks_are_coloured_by_status(status: str | None, colour: str) -> None:
    state = {"link-lab": {"id": LINK_ID, "status": status}} if status else {}
    g = graph.build_graph(topo(), state)
    assert g.edge("link:link-lab").colour == colour
    assert g.edge("link:link-lab").status == (status or graph.UNKNOWN)


def test_sessions_are_coloured_by_state() -> None:
    g = basic()
    assert g.edge("bgp:link-lab:ipv4").colour == graph.BGP_COLOURS["up"]
    assert g.edge("bgp:link-lab:ipv6").colour == graph.BGP_COLOURS["down"]
    assert g.edge("bgp:link-lab:ipv4").link_id == LINK_ID
    disabled = graph.build_graph(topo(), {"link-lab": {"bgp_v4_status": "disabled"}})
    assert disabled.edge("bgp:link-lab:ipv4").colour == graph.GREY


def test_without_a_lab_there_is_no_status() -> None:
    g = graph.build_graph(topo())
    assert not g.live
    assert {e.status for e in g.edges} == {None}
    assert g.edge("link:link-lab").text == "link-lab · VLAN 2451"


def test_several_links_and_customers() -> None:
    g = graph.build_graph(topo("multi-tenant"))
    links = [e for e in g.edges if e.kind == "interlink"]
    assert len(links) >= 2 and len({e.source for e in links}) >= 2
    ids = [e.id for e in g.edges]
    assert len(ids) == len(set(ids))


def test_json_round_trip() -> None:
    g = basic()
    data = json.loads(json.dumps(graph.to_json(g)))
    assert graph.from_json(data) == g
    assert data["colours"]["interlink"]["all_down"] == "#c62828"
    edge = next(e for e in data["edges"] if e["id"] == "link:link-lab")
    assert edge["colour"] == "#ef6c00" and edge["link_id"] == LINK_ID


# --- text forms ------------------------------------------------------------------------------
def test_mermaid_golden(golden: Callable[[str, str], None]) -> None:
    golden("graph/basic.mmd", graph.mermaid(basic()))


def test_dot_golden(golden: Callable[[str, str], None]) -> None:
    golden("graph/basic.dot", graph.dot(basic()))
    golden("graph/redundant.dot", graph.dot(graph.build_graph(topo("redundant"))))


def test_mermaid_escapes_and_ids() -> None:
    g = graph.Graph(lab="l", scenario="s", sides=("customer",), nodes=(
        graph.GraphNode(id="a-b", role="customer-router", side="customer",
                        notes=('say "hi" <b>',)),), edges=())
    text = graph.mermaid(g)
    assert 'n_a_b["a-b<br/>say #quot;hi#quot; #lt;b#gt;"]' in text


def test_dot_quotes() -> None:
    assert graph._q('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_lays_out_the_dot() -> None:
    svg = graph_cli.svg(graph.dot(basic()))
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert 'id="link:link&#45;lab"' in svg and "#ef6c00" in svg  # dot writes '-' as &#45;


# --- the verb --------------------------------------------------------------------------------
def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_unknown_format_is_one_line() -> None:
    res = invoke("graph", "basic", "--format", "png")
    assert res.exit_code == 1
    assert res.output == ("interlink-lab: error: unknown graph format 'png': "
                          "one of mermaid, dot, svg, html\n")


def test_cli_scenario_mermaid_and_dot(tmp_path: Path) -> None:
    res = invoke("graph", "basic")
    assert res.exit_code == 0 and res.output.startswith("flowchart LR\n")
    out = tmp_path / "g.dot"
    assert invoke("graph", "basic", "--format", "dot", "-o", str(out)).exit_code == 0
    assert out.read_text() == graph.dot(graph.build_graph(topo()))


def test_cli_svg_without_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there
    res = invoke("graph", "basic", "--format", "svg")
    assert res.exit_code == 1
    assert res.output.startswith("interlink-lab: error: the svg format needs Graphviz's `dot`")


class FakeClient:
    url, token = "http://127.0.0.1:9", "tok"

    def get(self, path: str) -> Any:
        assert path == GRAPH_PATH
        return graph.to_json(basic())


def test_cli_running_lab_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "make_client", lambda lab: FakeClient())
    res = invoke("graph", "--format", "dot")
    assert res.exit_code == 0 and res.output == graph.dot(basic())
    assert json.loads(invoke("graph", "--json").output)["live"] is True
    res = invoke("graph", "--url")
    assert res.output == "http://127.0.0.1:9/lab/graph?token=tok\n"


@needs_assets
def test_cli_html_is_self_contained() -> None:
    res = invoke("graph", "basic", "--format", "html")
    assert res.exit_code == 0
    page = res.output
    assert "window.ILAB_GRAPH = " in page and "cytoscape" in page
    assert 'src="' not in page and 'href="' not in page  # nothing to fetch
    # the only closing script tags are the elements' own
    assert page.count("</script>") == page.count("<script>") == len(graph_page.SCRIPTS) + 1


# --- the controller's page and JSON ------------------------------------------------------------
def _app() -> web.Application:
    async def links() -> list[dict[str, Any]]:
        return [BASIC_STATUS["link-lab"], {"id": "not-wired", "status": "requested"}]

    api = GraphApi("ilab", topo, links, {LINK_ID: "link-lab"}.get)
    return make_app(FakeController(), TOKEN, [api], pages=[PAGE_PATH])


def run(scenario: Callable[[TestClient[web.Request, web.Application]], Any]) -> None:
    async def main() -> None:
        async with TestClient(TestServer(_app())) as client:
            await scenario(client)
    asyncio.run(main())


def test_graph_json_needs_the_token() -> None:
    async def scenario(client: TestClient[web.Request, web.Application]) -> None:
        assert (await client.get(GRAPH_PATH)).status == 401
        resp = await client.get(GRAPH_PATH, headers={"X-Auth-Token": TOKEN})
        assert resp.status == 200
        assert await resp.json() == graph.to_json(basic())
    run(scenario)


@needs_assets
def test_page_token_once_then_a_cookie() -> None:
    async def scenario(client: TestClient[web.Request, web.Application]) -> None:
        resp = await client.get(PAGE_PATH)
        assert resp.status == 401 and "interlink-lab graph --url" in await resp.text()
        assert (await client.get(PAGE_PATH, params={"token": "wrong"})).status == 401
        resp = await client.get(PAGE_PATH, params={"token": TOKEN, "x": "1"},
                                allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"{PAGE_PATH}?x=1"
        jar = SimpleCookie(resp.headers["Set-Cookie"])
        name = token_cookie(TOKEN)
        morsel = jar[name]
        assert morsel.value == TOKEN and morsel["httponly"] and morsel["path"] == "/"
        assert morsel["samesite"] == "Strict"
        cookie = {"Cookie": f"{name}={TOKEN}"}
        page = await client.get(PAGE_PATH, headers=cookie)
        assert page.status == 200 and page.content_type == "text/html"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
        assert (await client.get(GRAPH_PATH, headers=cookie)).status == 200
        js = await client.get(f"{PAGE_PATH}/cytoscape.min.js", headers=cookie)
        assert js.status == 200 and js.content_type == "text/javascript"
        assert (await client.get(f"{PAGE_PATH}/nope.js", headers=cookie)).status == 404
        # a cookie never authorises a change, nor does a query token off the pages
        post = await client.post("/lab/v1/partner/approve", headers=cookie)
        assert post.status == 401
        client.session.cookie_jar.clear()
        assert (await client.get(GRAPH_PATH, params={"token": TOKEN})).status == 401
        # another lab's cookie name: the token of this one does not leak across labs
        assert token_cookie("other") != name
    run(scenario)


def test_page_assets_missing_is_said(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(graph_page, "WEB_DIR", tmp_path)
    with pytest.raises(graph_page.AssetsMissing, match="npm ci"):
        graph_page.live_page("ilab")
