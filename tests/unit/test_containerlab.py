"""containerlab topologies (lab.scenario.containerlab): exported files are valid for
containerlab's 0.79 schema, parse back to the lab's topology, the shipped ones in
containerlab/ are in sync, and documents the lab cannot deploy are refused clearly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from lab.cli.export import default_image, scenario_ref
from lab.cli.main import cli
from lab.scenario import containerlab
from lab.scenario.addressing import build_topology
from lab.scenario.containerlab import ClabError, export, parse, validate_schema
from lab.scenario.model import SCENARIO_DIR
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
IMAGE = "interlink-lab/node:latest"


def _topology(name: str, lab: str = "ilab") -> Topology:
    return build_topology(load_scenario(name), lab)


def _basic_doc() -> dict[str, Any]:
    return export(_topology("basic"), "basic", IMAGE)


def test_schema_is_draft7_without_formats() -> None:
    text = containerlab.SCHEMA_PATH.read_text()
    assert json.loads(text)["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert jsonschema.validators.validator_for(containerlab.schema()) is \
        jsonschema.Draft7Validator
    assert '"format"' not in text  # nothing for a format checker to check


@pytest.mark.parametrize("name", SHIPPED)
def test_export_is_schema_valid_and_round_trips(name: str) -> None:
    topo = _topology(name)
    doc = export(topo, name, IMAGE)
    assert validate_schema(doc) == []
    clab = parse(doc)
    assert clab.name == "ilab" and clab.scenario == name
    assert [n.name for n in clab.nodes] == sorted(n.name for n in topo.nodes)
    assert len(clab.links) == len(topo.veths)
    assert [(str(lk.a), str(lk.b)) for lk in clab.links] == [
        (f"{v.a.node}:{v.a.ifname}", f"{v.b.node}:{v.b.ifname}") for v in topo.veths]
    for n in topo.nodes:
        node = clab.node(n.name)
        assert (node.kind, node.network_mode, node.image, node.role) == (
            "linux", "none", IMAGE, n.role)
        assert dict(node.labels)[containerlab.LABEL_KEY] == n.key
        assert node.binds == ()
        # Every plain interface's address, none of a VLAN sub-interface (attach's).
        vlan_ifs = {v.ifname for v in topo.vlans if v.node == n.name}
        want = {(a.ifname, a.cidr) for a in topo.addresses
                if a.node == n.name and a.ifname not in vlan_ifs}
        got = {(argv[5], argv[3]) for argv in node.exec_argv() if argv[1] == "addr"}
        assert got == want
        routes = {(argv[3], argv[5]) for argv in node.exec_argv() if argv[1] == "route"}
        assert routes == {(r.prefix, r.via) for r in topo.routes if r.node == n.name}
    # The text is the document, with comments, and the same every time.
    text = containerlab.render(topo, name, IMAGE)
    assert yaml.safe_load(text) == doc
    assert text == containerlab.render(topo, name, IMAGE)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_are_in_sync(name: str) -> None:
    path = ROOT / "containerlab" / f"{name}.clab.yml"
    assert path.exists(), f"{path} missing: run `make containerlab`"
    assert path.read_text() == containerlab.render(_topology(name), name, default_image()), \
        f"{path} is stale: run `make containerlab`"
    assert containerlab.load(path).scenario == name


def test_no_stray_shipped_files() -> None:
    files = sorted(p.name for p in (ROOT / "containerlab").glob("*.clab.yml"))
    assert files == [f"{s}.clab.yml" for s in SHIPPED]


def test_vlan_parts_are_noted_not_executed() -> None:
    text = containerlab.render(_topology("basic"), "basic", IMAGE)
    assert "# attach adds il0.2451 (VLAN 2451 on il0, tc-BPF): 169.254.0.17/31" in text
    assert "# attach adds switch br0" in text
    assert "il0.2451" not in json.dumps(_basic_doc())


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    *parents, last = path.split("/")
    target = d
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target[p]
    if value is _DEL:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return d


_DEL = object()
CR = "topology/nodes/customer-router"


@pytest.mark.parametrize(("path", "value", "message"), [
    ("name", "Bad_Lab", r"name: 'Bad_Lab' is not a lab name"),
    ("name", _DEL, r"name: missing"),
    ("prefix", "", r"prefix: must be 'clab'"),
    ("topology/kinds", {"linux": {}}, r"'kinds' not supported .*write settings on each node"),
    ("topology/nodes", {}, r"topology.nodes: must be a non-empty mapping"),
    (f"{CR}/kind", "nokia_srlinux", r"customer-router.kind: must be 'linux'"),
    (f"{CR}/network-mode", "host", r"network-mode: must be 'none', not 'host'"),
    (f"{CR}/network-mode", _DEL, r"network-mode: must be 'none', not None"),
    (f"{CR}/startup-config", "x.cfg", r"'startup-config' not supported by interlink-lab"),
    (f"{CR}/exec", ["ip addr add 'x"], r"customer-router.exec\[0\]: cannot be split"),
    (f"{CR}/exec", [], r"exec: must be a non-empty list"),
    (f"{CR}/labels", {"a": ""}, r"labels.a: must be a non-empty string"),
    (f"{CR}/binds", ["cfg:/etc/x"], r"relative host path 'cfg'"),
    (f"{CR}/binds", ["/etc/x"], r"is not HOST:NODE\[:MODE\]"),
    ("topology/links/0/endpoints", ["onprem-host:eth0"], r"must be two \"node:iface\""),
    ("topology/links/0/endpoints", ["nobody:eth0", "customer-router:lan0"],
     r"no node 'nobody' in topology.nodes"),
    ("topology/links/0/endpoints", ["host:veth9", "customer-router:lan0"],
     r"links to the host .* not deployable"),
    ("topology/links/0/endpoints", ["onprem-host:a-very-long-ifname", "customer-router:x"],
     r"at most 15 characters"),
    ("topology/links/1/endpoints", ["onprem-host:eth0", "partner:cust0"],
     r"links\[1\]: endpoint onprem-host:eth0 already used by topology.links\[0\]"),
    ("topology/links/0", {"type": "veth", "endpoints": [
        {"node": "onprem-host", "interface": "eth0"},
        {"node": "customer-router", "interface": "lan0"}]}, r"only brief veth links"),
    ("topology/links/0/mtu", 10, r"mtu: must be an integer 68..65535"),
    # The subset lets it through, containerlab's schema does not.
    ("mgmt/skip-when-unused", "yes", r"schema: mgmt/skip-when-unused: 'yes' is not of type"),
    ("mgmt/network", "clab", r"'network' not supported .*no management network"),
])
def test_bad_documents(path: str, value: Any, message: str) -> None:
    with pytest.raises(ClabError, match=message):
        parse(_set(_basic_doc(), path, value), source="t.clab.yml")


def test_binds_resolve_against_the_file(tmp_path: Path) -> None:
    doc = _set(_basic_doc(), f"{CR}/binds", ["cfg/frr:/etc/frr:ro", "/abs:/x"])
    (node,) = [n for n in parse(doc, base=tmp_path).nodes if n.name == "customer-router"]
    assert [(b.source, b.target, b.mode) for b in node.binds] == [
        (str(tmp_path / "cfg/frr"), "/etc/frr", "ro"), ("/abs", "/x", "")]


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ClabError, match="cannot read"):
        containerlab.load(tmp_path / "none.clab.yml")
    bad = tmp_path / "bad.clab.yml"
    bad.write_text("name: [\n")
    with pytest.raises(ClabError, match="invalid YAML"):
        containerlab.load(bad)


def test_cli_export(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["--lab", "x1", "export", "containerlab", "redundant"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.output == containerlab.render(_topology("redundant", "x1"), "redundant",
                                             default_image())
    out = tmp_path / "b.clab.yml"
    res = CliRunner().invoke(cli, ["export", "containerlab", "-o", str(out), "--image",
                                   "reg.example/node:1", "--lab", "x2"])
    assert res.exit_code == 0, res.output
    clab = containerlab.load(out)
    assert clab.name == "x2" and {n.image for n in clab.nodes} == {"reg.example/node:1"}
    assert clab.scenario == "basic"
    res = CliRunner().invoke(cli, ["export", "containerlab", "nope"])
    assert res.exit_code == 1 and "nope" in res.output


def test_scenario_ref() -> None:
    assert scenario_ref("basic") == "basic"
    assert scenario_ref(str(SCENARIO_DIR / "redundant.yaml")) == "redundant"
    assert scenario_ref("some/dir/x.yaml") == str(Path("some/dir/x.yaml").resolve())
