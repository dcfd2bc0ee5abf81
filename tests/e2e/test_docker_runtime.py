"""The docker node runtime end to end: what is specific to containers (the core checks of the
default lab run on both runtimes in test_lab.py).

Containers are named and labelled as containerlab names them, their namespaces usable with
`ip netns exec`, the lab's programs live inside them, a killed container is noticed and
started again, the controller restarts without losing routes, and `down` removes the lab's
containers and nothing else (a container of the user's own keeps running).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from node_runtimes import docker_unavailable

from lab.control import lifecycle
from lab.control.handle import RunningLab
from lab.control.polling import assert_stays, wait_for
from lab.dataplane.nodes import runtime
from lab.dataplane.nodes.docker import LAB_LABEL, DockerRuntime
from lab.testing.plugin import LabFactory

pytestmark = [pytest.mark.docker, pytest.mark.matrix,
              pytest.mark.skipif(docker_unavailable() is not None,
                                 reason=docker_unavailable() or "")]

CLI = [str(Path(sys.executable).with_name("interlink-lab"))]
VPC_ONPREM_V4 = "198.51.100.0/24"


def cli(lab: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--lab", lab, *args], capture_output=True, text=True,
                          timeout=60, check=False)


def docker() -> DockerRuntime:
    rt = runtime("docker")
    assert isinstance(rt, DockerRuntime)
    return rt


@pytest.fixture(scope="module")
def user_container() -> Iterator[Any]:
    """A container of the user's own, started before the lab: `down` must leave it alone."""
    rt = docker()
    rt.client()  # the engine (the user's, or the lab's private one)
    image = rt.default_image or _lab_image()
    c = rt.client().containers.run(image, ["sleep", "infinity"], detach=True,
                                   network_mode="none", name=f"user-own-{secrets.token_hex(3)}",
                                   labels={"containerlab": "users-own"})
    try:
        yield c
    finally:
        c.remove(force=True)


def _lab_image() -> str:
    from lab.dataplane.docker import images
    from lab.dataplane.state import state_root

    return images.ensure(docker().client(), state_root() / "images", None)


@pytest.fixture(scope="module")
def lab(user_container: Any) -> Iterator[RunningLab]:
    with LabFactory() as make:
        yield make("basic", hold_time=3, runtime_name="docker")


def test_nodes_are_containers_named_and_labelled_like_containerlab(lab: RunningLab) -> None:
    rt = docker()
    for node in lab.topo.nodes:
        handle = f"clab-{lab.name}-{node.name}"
        assert node.netns == handle
        c = rt.container(handle)
        assert c is not None and c.status == "running", handle
        assert c.labels["containerlab"] == lab.name
        assert c.labels["clab-node-name"] == node.name
        assert c.labels[LAB_LABEL] == lab.name
        assert c.labels["interlink-lab.role"] == node.role
        assert c.attrs["HostConfig"]["NetworkMode"] == "none"
    # containerlab's habit: the namespace by the container's name
    out = subprocess.run(["ip", "netns", "exec", f"clab-{lab.name}-vpc-router", "ip", "-j",
                          "route"], capture_output=True, text=True, check=True).stdout
    assert VPC_ONPREM_V4 in {r["dst"] for r in json.loads(out)}


def test_speakers_run_inside_their_container(lab: RunningLab) -> None:
    rt = docker()
    handle = lab.netns("scw-interlink")
    pid = lab.speaker_pid(f"scw-{lab.link()['id'][:8]}")
    init = rt.init_pid(handle)
    for ns in ("mnt", "net", "pid", "uts"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{init}/ns/{ns}"), ns
    top = rt.client().api.top(handle)
    pids = {int(p[top["Titles"].index("PID")]) for p in top["Processes"]}
    assert pid in pids, "docker top lists the speaker"
    # the container's own filesystem: its hostname, its Python
    assert rt.run(handle, ["cat", "/etc/hostname"]).stdout.strip() == "scw-interlink"
    assert Path(f"/proc/{pid}/exe").resolve().name.startswith("python3")


def test_inspect_shows_runtime_container_and_image(lab: RunningLab) -> None:
    r = cli(lab.name, "inspect", "--json")
    assert r.returncode == 0, r.stderr
    nodes = {n["name"]: n for n in json.loads(r.stdout)["nodes"]}
    for name, n in nodes.items():
        c = docker().container(n["netns"])
        assert c is not None
        assert (n["runtime"], n["running"], n["container_id"]) == ("docker", True, c.id[:12])
        assert n["image"] == c.attrs["Config"]["Image"], name


def test_controller_restart_keeps_routes(lab: RunningLab) -> None:
    assert lifecycle.stop_controller(lab.name)
    assert_stays(lambda: VPC_ONPREM_V4 in lab.routes("vpc-router"),
                 "VPC route while the controller is down", 1.0)
    lifecycle.start_controller(lab.name)
    assert lab.link()["status"] == "active"
    assert lab.ping("onprem-host", "vpc-instance", 4)


def test_docker_kill_is_noticed_and_start_node_brings_it_back(lab: RunningLab) -> None:
    handle = lab.netns("customer-router")
    docker().client().api.kill(handle)  # as the user would: `docker kill`
    # The sessions die on the wire: the hold timer (3 s) bounds it.
    lab.wait_for(lambda: lab.link()["status"] == "all_down", "link all_down", timeout=10)
    r = cli(lab.name, "status")
    assert "customer-router: node is down" in r.stdout, r.stdout
    r = cli(lab.name, "fault", "start-node", "customer-router")
    assert r.returncode == 0, r.stderr
    lab.wait_status("active", timeout=30)
    lab.wait_for(lambda: lab.ping("onprem-host", "vpc-instance", 4)
                 and lab.ping("onprem-host", "vpc-instance", 6), "traffic back")


def test_stop_node_of_the_vpc_router_then_restore(lab: RunningLab) -> None:
    r = cli(lab.name, "fault", "stop-node", "vpc-router")
    assert r.returncode == 0, r.stderr
    assert not docker().exists(lab.netns("vpc-router"))
    assert not lab.ping("onprem-host", "vpc-instance", 4)
    faults = json.loads(cli(lab.name, "fault", "list", "--json").stdout)["faults"]
    assert {"kind": "stop-node", "node": "vpc-router"} in faults
    r = cli(lab.name, "fault", "stop-node", "vpc-router")
    assert r.returncode != 0 and "already stopped" in r.stderr, r.stderr
    r = cli(lab.name, "fault", "restore")
    assert r.returncode == 0 and "started node vpc-router" in r.stdout, (r.stdout, r.stderr)
    # A new namespace: the VPC table is applied again, traffic flows.
    lab.wait_for(lambda: VPC_ONPREM_V4 in lab.routes("vpc-router"), "VPC table re-applied")
    lab.wait_for(lambda: lab.ping("onprem-host", "vpc-instance", 4), "traffic back")


def test_down_removes_the_labs_containers_and_nothing_else(user_container: Any) -> None:
    rt = docker()
    with LabFactory() as make:
        lab = make("basic", hold_time=3, runtime_name="docker")
        assert rt.lab_nodes(lab.name)
    assert rt.client().containers.list(all=True, filters={"label": f"{LAB_LABEL}={lab.name}"}
                                       ) == []
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"clab-{lab.name}-")]
    user_container.reload()
    assert user_container.status == "running"


def test_stop_node_needs_a_container_runtime() -> None:
    with LabFactory() as make:
        lab = make("basic", hold_time=3)
        r = cli(lab.name, "fault", "stop-node", "vpc-router")
    assert r.returncode != 0 and "needs a container runtime" in r.stderr, r.stderr


def test_exported_containerlab_file_is_deployed_by_the_docker_runtime(tmp_path: Path) -> None:
    """The shipped file itself, renamed to a lab of its own: deployed without containerlab,
    attached, active with traffic; then `down` leaves nothing."""
    name = "cl" + secrets.token_hex(2)
    text = (Path(__file__).parents[2] / "containerlab" / "basic.clab.yml").read_text()
    path = tmp_path / f"{name}.clab.yml"
    path.write_text(text.replace("name: ilab", f"name: {name}").replace(
        "interlink-lab.lab: ilab", f"interlink-lab.lab: {name}"))
    try:
        r = subprocess.run([*CLI, "up", "--runtime", "docker", str(path)], capture_output=True,
                           text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        out = json.loads(cli(name, "status", "--json").stdout)
        assert [lk["status"] for lk in out] == ["active"]
        rt = docker()
        c = rt.container(f"clab-{name}-customer-router")
        assert c is not None and c.labels["containerlab"] == name
    finally:
        lifecycle.down(name)
    assert docker().lab_nodes(name) == []


def test_attach_adopts_a_deployed_topology(tmp_path: Path) -> None:
    """What `containerlab deploy` leaves (nodes, links, exec'd addresses), adopted by attach."""
    from lab.dataplane.clab_deploy import deploy
    from lab.scenario.containerlab import load

    name = "ca" + secrets.token_hex(2)
    text = (Path(__file__).parents[2] / "containerlab" / "basic.clab.yml").read_text()
    path = tmp_path / f"{name}.clab.yml"
    path.write_text(text.replace("name: ilab", f"name: {name}").replace(
        "interlink-lab.lab: ilab", f"interlink-lab.lab: {name}"))
    try:
        report = deploy(load(path), docker())
        assert report.ok, report.failures
        r = subprocess.run([*CLI, "attach", "--containerlab", name], capture_output=True,
                           text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        out = json.loads(cli(name, "status", "--json").stdout)
        assert [lk["status"] for lk in out] == ["active"]
    finally:
        lifecycle.down(name)
    assert docker().lab_nodes(name) == []


def test_clear_errors(tmp_path: Path) -> None:
    """One line each, nothing left behind: an image that does not exist, the containerlab
    runtime without its binary, an engine named by DOCKER_HOST that does not answer."""
    name = "ce" + secrets.token_hex(2)
    bad = tmp_path / "bad-image.yaml"
    bad.write_text((Path(__file__).parents[2] / "lab" / "scenarios" / "basic.yaml").read_text()
                   + "\nimage: nope/does-not-exist:1\n")
    r = cli(name, "up", "--runtime", "docker", str(bad))
    assert r.returncode == 1 and "image 'nope/does-not-exist:1' does not exist" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert docker().lab_nodes(name) == []

    if shutil.which("containerlab") is None:  # as on this machine: not in its packages
        r = subprocess.run([*CLI, "--lab", name, "up", "--runtime", "containerlab",
                            str(Path(__file__).parents[2] / "containerlab" / "basic.clab.yml")],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 1 and "needs the `containerlab` binary" in r.stderr, r.stderr

    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}
    r = subprocess.run([*CLI, "--lab", name, "up", "--runtime", "docker"], capture_output=True,
                       text=True, timeout=60, check=False, env=env)
    assert r.returncode == 1 and "does not answer" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_an_interrupted_up_leaves_what_down_cleans() -> None:
    """`up` killed (SIGKILL) while it creates the containers: the next `down` removes them."""
    name = "ci" + secrets.token_hex(2)
    rt = docker()
    proc = subprocess.Popen([*CLI, "--lab", name, "up", "--runtime", "docker"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: rt.lab_nodes(name), "the first container of the lab", timeout=30,
                 interval=0.01)
    finally:
        proc.kill()
        proc.wait()
    r = cli(name, "down")
    assert r.returncode == 0, r.stderr
    assert rt.lab_nodes(name) == []
    assert not [n for n in os.listdir("/run/netns") if n.startswith(f"clab-{name}-")]


@pytest.mark.parametrize("kind, command, expect", [
    ("frr", ["vtysh", "-c", "show bgp summary"], "169.254.0.16"),
    ("bird", ["birdc", "show", "protocols"], "Established"),
])
def test_docker_exec_reaches_the_customer_daemon(kind: str, command: list[str],
                                                 expect: str) -> None:
    """`docker exec clab-<lab>-customer-router vtysh|birdc ...` with the daemon's defaults."""
    with LabFactory() as make:
        lab = make("basic", hold_time=3, router=kind, runtime_name="docker")
        c = docker().container(lab.netns("customer-router"))
        assert c is not None
        code, out = c.exec_run(command)
        assert code == 0 and expect in out.decode(), out.decode()


def test_a_customer_image_of_the_users_own(tmp_path: Path) -> None:
    """`customer: {image: ...}`: that node runs the user's image (here: the lab's, retagged,
    as no registry is reachable), the others the lab's."""
    rt = docker()
    lab_image = _lab_image()
    user_image = "my/frr:" + secrets.token_hex(3)
    rt.client().images.get(lab_image).tag(user_image)
    scenario = tmp_path / "own-image.yaml"
    scenario.write_text((Path(__file__).parents[2] / "lab" / "scenarios" / "basic.yaml")
                        .read_text().replace("  router: exabgp",
                                             f"  router: frr\n  image: {user_image}"))
    try:
        with LabFactory() as make:
            lab = make(str(scenario), hold_time=3, runtime_name="docker")
            nodes = {n["name"]: n for n in json.loads(
                cli(lab.name, "inspect", "--json").stdout)["nodes"]}
            assert nodes["customer-router"]["image"] == user_image
            assert nodes["vpc-router"]["image"] == lab_image
            assert lab.link()["status"] == "active"
    finally:
        rt.client().images.remove(user_image)
