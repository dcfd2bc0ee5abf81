"""Bring a lab up and down: namespaces, the controller daemon, and the wait for `active`.

``up`` fails loudly and leaves nothing behind; ``down`` removes every trace it can find by name
(state dir, the daemon by PID, every process inside the lab's namespaces, the namespaces).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.drivers.procs import stop_process
from controller.drivers.speaker import exabgp_executable
from controller.drivers.speaker_forkserver import Forkserver, ForkserverError

# `down` lives in its own light module (the verb imports only it); re-exported for callers
from lab.control.down import DownResult as DownResult
from lab.control.down import down as down
from lab.control.down import lab_runtimes
from lab.control.labdir import LabError, check_lab_name, lab_dir, pid_alive, read_json, write_json
from lab.control.polling import WaitTimeout, wait_for
from lab.dataplane.build import build
from lab.dataplane.nodes import runtime
from lab.dataplane.probes import ping_fast
from lab.dataplane.state import state_root
from lab.dataplane.sync import sync
from lab.dataplane.teardown import existing_namespaces
from lab.routers import registry
from lab.scenario import file
from lab.scenario.addressing import build_topology
from lab.scenario.document import ScenarioFileError
from lab.scenario.model import (
    DEFAULT_RUNTIME,
    HOLD_TIME_RULE,
    RUNTIME_NAMES,
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    valid_hold_time,
)
from lab.scenario.parse import load_scenario
from lab.scenario.topology import Topology

REQUIRED_BINARIES = ("ip", "bridge", "iptables", "ip6tables", "ping")
# The controller's start-up (store, speakers, API), whatever `up --timeout` says: that one
# bounds the wait for the links and the traffic.
CONTROLLER_START_S = 30.0
Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def preflight() -> None:
    if os.geteuid() != 0:
        raise LabError("interlink-lab needs root (network namespaces): run it with sudo")
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        raise LabError(f"missing programs: {', '.join(missing)}; run `make setup`")
    if not Path(exabgp_executable()).exists():  # Scaleway's side is ExaBGP, whatever the kinds
        raise LabError(f"ExaBGP not found next to {sys.executable}; run `make setup`")


def is_up(lab: str) -> bool:
    d = lab_dir(lab)
    pid_file = d / "controller.pid"
    if pid_file.exists():
        try:
            if pid_alive(int(pid_file.read_text())):
                return True
        except ValueError:
            pass
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = read_json(d / "lab.json")
    return any(existing_namespaces(lab, rt) for rt in lab_runtimes(lab, info))


@dataclass
class UpResult:
    lab: str
    url: str
    timings: dict[str, float] = field(default_factory=dict)


def _api(url: str, token: str, path: str) -> Any:
    req = urllib.request.Request(url + path, headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())


def _wait(what: str, check: Callable[[], Any], timeout: float, on_fail: Callable[[], str]) -> Any:
    """Poll ``check`` until it returns a truthy value; a LabError saying why after ``timeout``.
    A LabError from ``check`` (the controller exited) ends the wait at once."""
    fatal: list[LabError] = []

    def guarded() -> Any:
        try:
            return check()
        except LabError as exc:  # wait_for would take it for "not yet"
            fatal.append(exc)
            return True

    try:
        got = wait_for(guarded, what, timeout, interval=0.02)
    except WaitTimeout:
        raise LabError(f"timed out after {timeout:g}s waiting for {what}: {on_fail()}") from None
    if fatal:
        raise fatal[0]
    return got


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text().strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(text) or "(empty log)"


def _prestart_forkserver(workdir: Path) -> None:
    """The speakers' forkserver (controller.drivers.speaker_forkserver), started before the
    namespaces and the controller: its ~0.35 s of imports overlap theirs, and the first
    speakers fork at once. Best effort: the controller starts it, or execs, if this fails."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(ForkserverError):
        Forkserver.in_dir(workdir).spawn()


def spawn_daemon(lab: str, gate: int | None = None) -> int:
    """Start the lab's controller daemon; its PID. ``gate``: the read end of a pipe the
    daemon waits on after its imports (~0.7 s) and before it reads the lab: one byte lets it
    start, end of file (``up`` failed) lets it exit. ``up`` starts it so while the nodes
    are built."""
    d = lab_dir(lab)
    argv = [sys.executable, "-m", "lab.daemon.main", "--lab", lab]
    if gate is not None:
        argv += ["--gate", str(gate)]
    log = open(d / "controller.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True, pass_fds=() if gate is None else (gate,))
    log.close()
    (d / "controller.pid").write_text(str(proc.pid))
    return proc.pid


def with_router(scenario: Scenario, router: str | None) -> Scenario:
    """Every customer of the scenario on the given router kind (lab.routers.registry)."""
    if router is None:
        return scenario
    try:
        registry.get(router)
    except registry.UnknownRouterKind as exc:
        raise LabError(str(exc)) from None
    customers = tuple(dataclasses.replace(c, router=router) for c in scenario.customers)
    return dataclasses.replace(scenario, customers=customers)


def with_runtime(scenario: Scenario, runtime: str | None) -> Scenario:
    """The scenario's nodes on the given runtime (`up --runtime` wins over the file's)."""
    if runtime is None:
        return scenario
    if runtime not in RUNTIME_NAMES:
        raise LabError(f"unknown runtime {runtime!r} (one of {', '.join(RUNTIME_NAMES)})")
    return dataclasses.replace(scenario, runtime=runtime)


def use_images(info: dict[str, Any]) -> None:
    """A container lab's default image, as ``up`` resolved it (lab.json), for the runtime of
    this process (the daemon creates the nodes of links added later)."""
    if info.get("runtime", DEFAULT_RUNTIME) != DEFAULT_RUNTIME and info.get("image"):
        runtime("docker").default_image = info["image"]  # type: ignore[attr-defined]


def prepare_containers(topo: Topology, progress: Progress) -> str:
    """The engine (the user's, or a private one started for the lab) and every image the
    lab's nodes need (the lab's own image built where missing): the default image's ref."""
    from lab.dataplane.docker import engine, images  # only container labs pay the import

    if topo.runtime == "containerlab":
        raise LabError("--runtime containerlab deploys an exported containerlab file: `"
                       "interlink-lab export containerlab SCENARIO -o lab.clab.yml`, then `up "
                       "--runtime containerlab lab.clab.yml` (needs the containerlab binary)")
    try:
        client = engine.connect(state_root(), progress)
        own = {img for _, img in topo.images}
        default = topo.image or images.ensure(client, state_root() / "images", progress)
        for ref in sorted(own | {default}):
            if not images.image_exists(client, ref):
                raise LabError(f"image {ref!r} does not exist locally (there is no registry "
                               "here: build or `docker load` it first)")
    except (engine.EngineError, images.ImageError) as exc:
        raise LabError(str(exc)) from None
    runtime("docker").default_image = default  # type: ignore[attr-defined]
    return default


def check_routers(topo: Topology) -> None:
    """Each customer's router kind is known, installed, and can hold its sessions."""
    for c in topo.customers:
        try:
            kind = registry.get(c.router)
        except registry.UnknownRouterKind as exc:
            raise LabError(f"customer {c.name!r}: {exc}") from None
        reason = kind.refusal(c)
        if reason is not None:
            raise LabError(reason)
        if not kind.available():
            raise LabError(f"customer {c.name!r}: the {kind.name} router is not installed; "
                           "run `make setup`")


def is_containerlab_file(ref: str) -> bool:
    return ref.endswith((".clab.yml", ".clab.yaml"))


def up(scenario_ref: str = "basic", lab: str = "ilab", hold_time: int | None = None,
       timeout: float = 30.0, progress: Progress = _quiet,
       wait_ready: bool | None = None, router: str | None = None,
       runtime_name: str | None = None, adopt: bool = False) -> UpResult:
    """Build the lab and wait until it works: links active, then traffic flowing.

    ``timeout`` bounds each wait for the links and the traffic (the controller's start-up
    has its own, CONTROLLER_START_S). ``wait_ready``: None follows the scenario's ``ready:``;
    False returns as soon as the controller API answers (for scenarios whose sessions are
    meant to stay down).
    """
    if is_containerlab_file(scenario_ref):
        return up_containerlab(Path(scenario_ref), hold_time=hold_time, timeout=timeout,
                               progress=progress, router=router, runtime_name=runtime_name)
    check_lab_name(lab)
    if hold_time is not None and not valid_hold_time(hold_time):
        raise LabError(f"--hold-time {HOLD_TIME_RULE}, not {hold_time}")
    scenario = load_checked(scenario_ref)
    preflight()
    if hold_time is not None:
        scenario = type(scenario)(**{**scenario.__dict__, "hold_time": hold_time})
    scenario = with_runtime(with_router(scenario, router), runtime_name)
    if wait_ready is None:
        wait_ready = scenario.ready
    topo = build_topology(scenario, lab)
    check_routers(topo)
    if topo.images and topo.runtime == DEFAULT_RUNTIME:
        raise LabError("a customer `image` needs a container runtime: `up --runtime docker`")
    with contextlib.ExitStack() as engine_held:
        if topo.runtime != DEFAULT_RUNTIME and not adopt:
            from lab.dataplane.docker import engine

            # another lab's `down` leaves the private engine up until our containers exist
            engine_held.enter_context(engine.lease(state_root()))
        # under the lease: for a docker lab this lists its containers, on an engine another
        # lab's `down` would otherwise stop in the meantime (seen in CI: its socket gone)
        if not adopt and is_up(lab):
            raise LabError(f"lab {lab!r} is already up; run `interlink-lab --lab {lab} down` "
                           "first")
        return _up(scenario_ref, scenario, topo, lab, timeout=timeout, progress=progress,
                   router=router, wait_ready=wait_ready, adopt=adopt, engine_held=engine_held)


def _up(scenario_ref: str, scenario: Scenario, topo: Topology, lab: str, *, timeout: float,
        progress: Progress, router: str | None, wait_ready: bool, adopt: bool,
        engine_held: contextlib.ExitStack) -> UpResult:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    image = None
    if topo.runtime != DEFAULT_RUNTIME and not adopt:
        image = prepare_containers(topo, progress)
    elif adopt:
        image = adopt_containers(topo)
        timings["images"] = time.monotonic() - t0
    d = lab_dir(lab)
    try:
        d.mkdir(parents=True, exist_ok=True)
        # Searchable but not listable: FRR's daemons (user frr) need to reach their directory;
        # the files holding the API secret are 0600 themselves.
        os.chmod(d, 0o711)
        info = {
            "lab": lab, "scenario": scenario.name, "scenario_path": _scenario_path(scenario_ref),
            "hold_time": scenario.hold_time, "token": str(uuid.uuid4()), "router": router,
            "runtime": topo.runtime, "image": image,
            "namespaces": list(topo.netns_names), "created_at": time.time(),
        }
        # Written before the nodes exist: an interrupted `up` leaves what `down` needs.
        write_json(d / "lab.json", info)
        if topo.runtime == DEFAULT_RUNTIME:  # it imports ExaBGP while the rest starts
            _prestart_forkserver(d / "speakers")
        (d / "api.json").unlink(missing_ok=True)
        # the controller imports while the nodes are built; it reads the lab once told to
        gate, go = os.pipe()
        try:
            pid = spawn_daemon(lab, gate=gate)
        finally:
            os.close(gate)
        starter = os.fdopen(go, "wb", buffering=0)  # closed unwritten: the daemon exits
        what = "namespaces" if topo.runtime == DEFAULT_RUNTIME else "containers"
        if adopt:  # the nodes exist: what they lack (VLANs, switch, sysctls) is added
            progress(f"attaching {len(topo.nodes)} {what}")
            sync(None, topo)
        else:
            progress(f"building {len(topo.nodes)} {what}")
            build(topo)
        engine_held.close()  # the containers exist: they keep the engine up now
        timings["namespaces"] = time.monotonic() - t0
        progress("starting controller and BGP speakers")
        with starter:
            starter.write(b"g")
        info = _wait("the controller API", lambda: _api_ready(d, pid), CONTROLLER_START_S,
                     lambda: _log_tail(d / "controller.log"))
        timings["controller"] = time.monotonic() - t0
        if wait_ready:
            progress("waiting for the BGP sessions")
            _wait("links to become active", lambda: _all_active(info), timeout,
                  lambda: _link_summary(info))
            timings["active"] = time.monotonic() - t0
            progress("checking traffic")
            wait_traffic(scenario, topo, timeout)
            timings["traffic"] = time.monotonic() - t0
    except BaseException:
        down(lab)
        raise
    return UpResult(lab=lab, url=info["url"], timings=timings)


def adopt_containers(topo: Topology) -> str | None:
    """Attach to running containers (deployed from an exported containerlab file): every
    node of the topology must be one; their network namespaces are exposed under /run/netns
    (containerlab does it too; our own deploy did). The nodes' image, for lab.json."""
    from lab.dataplane.docker import engine

    nodes = runtime("docker")
    try:
        missing = [h for h in topo.netns_names if not nodes.adopt(h)]  # type: ignore[attr-defined]
    except engine.EngineError as exc:
        raise LabError(str(exc)) from None
    if missing:
        raise LabError(f"lab {topo.lab!r} has no running container for: {', '.join(missing)} "
                       "(deployed from this lab's exported containerlab file?)")
    described = nodes.describe(topo.netns_names[0])
    image = described.get("image")
    nodes.default_image = image  # type: ignore[attr-defined]
    return str(image) if image else None


def containerlab_lab(ref: str) -> str:
    """The lab an exported containerlab file deploys: its ``name``."""
    from lab.scenario.containerlab import ClabError, load

    try:
        return load(Path(ref)).name
    except ClabError as exc:
        raise LabError(str(exc)) from None


def up_containerlab(path: Path, *, progress: Progress = _quiet, router: str | None = None,
                    runtime_name: str | None = None, **options: Any) -> UpResult:
    """Deploy an exported containerlab file (the docker runtime does what `containerlab
    deploy` does; `--runtime containerlab` runs containerlab itself), then attach."""
    from lab.dataplane.clab_deploy import ClabDeployError, deploy
    from lab.scenario.containerlab import ClabError, load

    try:
        clab = load(path)
    except ClabError as exc:
        raise LabError(str(exc)) from None
    scenario_ref = clab.scenario
    if scenario_ref is None:
        raise LabError(f"{path}: no node carries the label interlink-lab.scenario (export one "
                       "with `interlink-lab export containerlab`)")
    lab = clab.name
    check_lab_name(lab)
    preflight()
    if is_up(lab):
        raise LabError(f"lab {lab!r} is already up; run `interlink-lab --lab {lab} down` first")
    rt = runtime_name or "docker"
    if rt == DEFAULT_RUNTIME:
        raise LabError("a containerlab file needs a container runtime: --runtime docker")
    topo = build_topology(with_runtime(load_checked(scenario_ref), "docker"), lab)
    if rt == "containerlab":
        _containerlab_deploy(path, progress)
    else:
        image = prepare_containers(topo, progress)
        runtime("docker").default_image = image  # type: ignore[attr-defined]
        progress(f"deploying {path.name}: {len(clab.nodes)} containers, {len(clab.links)} links")
        try:
            report = deploy(clab, runtime("docker"))
        except ClabDeployError as exc:
            raise LabError(str(exc)) from None
        if report.failures:
            down(lab)
            raise LabError(f"{path}: exec failed: {report.failures[0]}")
    # containerlab's nodes are Docker containers: the docker runtime drives them from here.
    return up(scenario_ref, lab, router=router, runtime_name="docker", adopt=True,
              progress=progress, **options)


def _containerlab_deploy(path: Path, progress: Progress) -> None:
    """`containerlab deploy -t FILE` (untested here: no containerlab binary on this machine's
    package sources)."""
    binary = shutil.which("containerlab")
    if binary is None:
        raise LabError("--runtime containerlab needs the `containerlab` binary on PATH (it is "
                       "not available from this machine's package sources); `--runtime docker`"
                       " deploys the same file without it")
    progress(f"containerlab deploy -t {path}")
    p = subprocess.run([binary, "deploy", "-t", str(path)], capture_output=True, text=True,
                       check=False)
    if p.returncode:
        raise LabError(f"containerlab deploy failed: {(p.stderr or p.stdout).strip()[-400:]}")


def attach(lab: str, timeout: float = 30.0, progress: Progress = _quiet) -> UpResult:
    """`attach --containerlab LAB`: the controller adopts a deployed topology's running
    containers (their labels say the scenario) and drives the Scaleway side."""
    from lab.dataplane.docker import engine

    check_lab_name(lab)
    try:
        scenario_ref = runtime("docker").lab_scenario(lab)  # type: ignore[attr-defined]
    except engine.EngineError as exc:
        raise LabError(str(exc)) from None
    if scenario_ref is None:
        raise LabError(f"no running container of containerlab lab {lab!r} carries the label "
                       "interlink-lab.scenario (deploy an exported file first)")
    return up(scenario_ref, lab, timeout=timeout, progress=progress, runtime_name="docker",
              adopt=True)


def load_checked(scenario_ref: str) -> Scenario:
    """The scenario, validated as `validate` does: errors say FILE:LINE:COL."""
    try:
        file.load(scenario_ref, registry.names())
    except ScenarioFileError as exc:
        raise LabError("invalid scenario:\n  " + "\n  ".join(str(i) for i in exc.issues)
                       ) from None
    try:
        return load_scenario(scenario_ref)
    except ScenarioError as exc:  # what the file check let through (should not happen)
        raise LabError(str(exc)) from None


def start_controller(lab: str, timeout: float = CONTROLLER_START_S) -> dict[str, Any]:
    """(Re)start the controller of a lab whose namespaces exist (after a crash or a stop).

    The new controller resumes from the store, adopts the running speakers and re-creates
    whatever the data plane is missing.
    """
    check_lab_name(lab)
    preflight()
    d = lab_dir(lab)
    if not (d / "lab.json").exists():
        raise LabError(f"lab {lab!r} is not up; run `interlink-lab up`")
    pid_file = d / "controller.pid"
    with contextlib.suppress(OSError, ValueError):
        if pid_alive(int(pid_file.read_text())):
            raise LabError(f"the controller of lab {lab!r} is already running")
    (d / "api.json").unlink(missing_ok=True)
    pid = spawn_daemon(lab)
    info: dict[str, Any] = _wait("the controller API", lambda: _api_ready(d, pid), timeout,
                                 lambda: _log_tail(d / "controller.log"))
    return info


def stop_controller(lab: str) -> bool:
    """Stop only the controller (SIGTERM); speakers and namespaces keep running."""
    d = lab_dir(check_lab_name(lab))
    try:
        pid = int((d / "controller.pid").read_text())
    except (OSError, ValueError):
        return False
    return stop_process(pid, timeout=5.0)


def _scenario_path(ref: str) -> str:
    p = Path(ref)
    if p.exists():
        return str(p.resolve())
    return str(SCENARIO_DIR / f"{ref}.yaml")


def _api_ready(d: Path, pid: int) -> dict[str, Any] | None:
    if not pid_alive(pid):
        raise LabError(f"controller exited: {_log_tail(d / 'controller.log')}")
    path = d / "api.json"
    if not path.exists():
        return None
    info: dict[str, Any] = read_json(path)
    return info if info.get("pid") == pid else None


def _links(info: dict[str, Any]) -> list[dict[str, Any]]:
    links: list[dict[str, Any]] = _api(
        info["url"], info["token"], "/interlink/v1beta1/regions/fr-par/links?page_size=1000"
    )["links"]
    return links


def _all_active(info: dict[str, Any]) -> bool:
    links = _links(info)
    return bool(links) and all(lk["status"] == "active" for lk in links)


def _link_summary(info: dict[str, Any]) -> str:
    try:
        return "; ".join(f"{lk['name']}: {lk['status']} (v4 {lk['bgp_v4_status']}, "
                         f"v6 {lk['bgp_v6_status']})" for lk in _links(info))
    except Exception as exc:  # the summary must never hide the timeout itself
        return f"could not read links: {exc}"


def traffic_pairs(scenario: Scenario, topo: Topology) -> list[tuple[str, str]]:
    """(source netns, destination) that must answer once up: for each link meant to carry
    traffic (VPC, propagation on), its customer's on-prem host -> its VPC's first instance,
    in each family that has a routing policy attached."""
    pairs = []
    for spec in scenario.links:
        if not (spec.vpc and spec.enable_route_propagation):
            continue
        families = {scenario.policy(p).is_ipv6 for p in spec.routing_policies}
        src = topo.customer(spec.customer).lan_host_netns
        for instance in topo.vpc(spec.vpc).instances[:1]:
            for addr in instance.addresses:
                if (":" in addr) in families:
                    pairs.append((src, addr))
    return list(dict.fromkeys(pairs))


def wait_traffic(scenario: Scenario, topo: Topology, timeout: float) -> None:
    # Short per-try timeouts: right after `active` the routes may still be on their way,
    # and a first echo lost then cost the whole try (0.2 s of the default lab's 1.6 s up).
    # A reply in the lab takes well under 1 ms; a slower one is only tried again.
    for src, dst in traffic_pairs(scenario, topo):
        _wait(f"ping {dst} from {src}", functools.partial(ping_fast, src, dst, timeout=0.05),
              timeout, functools.partial(str, f"{dst} unreachable"))


