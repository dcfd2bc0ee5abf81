"""The ``docker`` node runtime: a node is a container named ``clab-<lab>-<node>`` (containerlab's
naming and labels), ``network_mode: none``, whose network namespace is exposed as
``/var/run/netns/clab-<lab>-<node>`` so the lab wires it like any namespace (I/O).

Containers are created and removed through the Docker SDK; the lab's programs are run *inside*
them by entering the container's namespaces (mount, UTS, IPC, network, PID) and joining its
cgroups: they see the container's own ``/etc`` and ``/run``, ``docker top`` lists them, and
``docker kill`` takes them down with the container. This costs ~10 ms per program where
``docker exec`` costs three API round trips, gives the program's host PID directly, and works
as well for containers someone else created (containerlab). The netns link is a symlink to the
init's namespace, as containerlab makes it: a dead container's namespace (and its veths) goes
with it, and ``exists`` says so.

Every container binds the lab's directory (``<state root>/<lab>``) and the project's source tree
at the same paths (the speakers' bridge runs from it), plus the node's own ``NodeOptions.binds``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from controller.drivers.nsenter import NETNS_DIR
from controller.drivers.procs import process_alive, stop_process
from lab.dataplane.nodes.base import (
    Mount,
    NodeError,
    NodeOptions,
    NodeProcess,
    NodeRuntime,
    RemoveReport,
)
from lab.scenario.model import node_handle

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LAB_LABEL = "interlink-lab.lab"  # ours: `down` removes only containers carrying it
ROLE_LABEL = "interlink-lab.role"
PROJECT_ROOT = Path(__file__).resolve().parents[3]  # holds controller/ and lab/
NODE_PYTHON = "/usr/bin/python3"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSENTER = ["nsenter", "-m", "-u", "-i", "-n", "-p"]


def _tail(path: Path, size: int = 800) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class DockerRuntime(NodeRuntime):
    name = "docker"
    can_stop_nodes = True

    def __init__(self) -> None:
        self._client: docker.DockerClient | None = None
        self._socket = ""  # the engine's unix socket: gone means the engine stopped
        self._lock = threading.Lock()
        self._init_pids: dict[str, int] = {}  # handle -> the container's init (host PID)
        self._users: dict[tuple[str, int, str], tuple[int, int]] = {}
        self._host_pids: dict[tuple[str, int], int] = {}  # (pid ns, pid in it) -> host PID
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # nsenter wrappers to reap
        self.state_root: Path | None = None  # bound in every container (set by the lab)
        self.default_image: str | None = None  # the image of nodes with none of their own

    # -- the engine -----------------------------------------------------------------------

    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is not None and self._socket and not os.path.exists(self._socket):
                self._client = None  # its engine stopped (a private one, released): again
            if self._client is None:
                from lab.dataplane.docker import engine  # the engine costs nothing to netns labs

                self._client = engine.connect(self._state_root())
                url = (engine.which(self._state_root()) or {}).get("url", "")
                self._socket = url.removeprefix("unix://") if url.startswith("unix://") else ""
            return self._client

    def _state_root(self) -> Path:
        if self.state_root is None:
            from lab.dataplane.state import state_root

            self.state_root = state_root()
        return self.state_root

    # -- naming -------------------------------------------------------------------------

    def handle(self, lab: str, node: str) -> str:
        return node_handle(self.name, lab, node)

    def lab_nodes(self, lab: str) -> list[str]:
        cs = self.client().containers.list(all=True, filters={"label": f"{LAB_LABEL}={lab}"})
        return sorted(c.name for c in cs)

    def container(self, handle: str) -> Container | None:
        import docker.errors

        try:
            return self.client().containers.get(handle)
        except docker.errors.NotFound:
            return None

    # -- life cycle ---------------------------------------------------------------------

    def exists(self, handle: str) -> bool:
        # The link resolves only while the container's init lives.
        return os.path.exists(self.netns_path(handle))

    def create(self, handles: Sequence[str],
               options: Mapping[str, NodeOptions] | None = None) -> None:
        options = options or {}
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(handles)))) as pool:
            results = list(pool.map(lambda h: self._create_one(h, options.get(h, NodeOptions())),
                                    handles))
        errors = [e for e in results if e]
        if errors:
            raise NodeError("; ".join(errors))

    def _create_one(self, handle: str, opts: NodeOptions) -> str | None:
        import docker.errors

        try:
            c = self.container(handle)
            if c is not None and c.status == "running":
                return f"container {handle} is already running"
            if c is not None:
                # Stopped (``fault stop-node``, a crash): made anew with what it was made
                # with. Not ``start``: Docker 20.10 (Debian 12's) can deadlock its network
                # controller restarting a container whose sandbox is gone (moby#46661).
                lab, _ = _lab_and_node(handle, opts)
                opts = _options_of(c, opts, {str(PROJECT_ROOT), str(self._state_root() / lab)})
                c.remove(force=True)
            c = self._run(handle, opts)
            self._expose(handle, c)
        except docker.errors.ImageNotFound:
            return (f"{handle}: image {opts.image or self.default_image!r} does not exist "
                    "locally (no registry here: `make images` builds the lab's own)")
        except docker.errors.DockerException as e:
            return f"{handle}: {_docker_message(e)}"
        except (OSError, NodeError) as e:
            return f"{handle}: {e}"
        return None

    def _run(self, handle: str, opts: NodeOptions) -> Container:
        image = opts.image or self.default_image
        if image is None:
            raise NodeError("no image for the node (the lab sets the default image)")
        lab, node = _lab_and_node(handle, opts)
        labels = {"containerlab": lab, "clab-node-name": node, "clab-node-kind": "linux",
                  "clab-node-type": "", "clab-node-group": "", "clab-topo-file": "",
                  LAB_LABEL: lab, ROLE_LABEL: opts.role, **dict(opts.labels)}
        # The lab's own directory only: the state root also holds the private engine's
        # files, whose namespace mounts, copied into a container, would keep other
        # containers' namespaces (and their veths) alive after they stopped.
        labdir = self._state_root() / lab
        labdir.mkdir(parents=True, exist_ok=True)
        volumes = {str(labdir): {"bind": str(labdir), "mode": "rw"},
                   str(PROJECT_ROOT): {"bind": str(PROJECT_ROOT), "mode": "ro"}}
        for m in opts.binds:
            volumes[str(m.source)] = {"bind": m.target, "mode": "rw"}
        c: Container = self.client().containers.run(
            image, ["sleep", "infinity"], name=handle, hostname=node, detach=True,
            init=True, network_mode="none", cap_add=["NET_ADMIN", "NET_RAW"], labels=labels,
            volumes=volumes,
            # Docker turns IPv6 off in a container without a network of its own.
            sysctls={"net.ipv6.conf.all.disable_ipv6": "0",
                     "net.ipv6.conf.default.disable_ipv6": "0"},
            # a container that exits is removed only by the lab (down), so it can be read
            auto_remove=False)
        return c

    def _expose(self, handle: str, c: Container) -> None:
        c.reload()
        pid = int(c.attrs["State"]["Pid"])
        if not pid:
            raise NodeError(f"container {handle} is not running: {c.status}")
        os.makedirs(NETNS_DIR, exist_ok=True)
        link = self.netns_path(handle)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(f"/proc/{pid}/ns/net", link)
        self._init_pids[handle] = pid

    def adopt(self, handle: str) -> bool:
        """Expose a running container made elsewhere (containerlab, our deploy); False if
        there is none by that name or it is not running."""
        c = self.container(handle)
        if c is None or c.status != "running":
            return False
        if not self.exists(handle):
            self._expose(handle, c)
        return True

    def lab_scenario(self, lab: str) -> str | None:
        """The scenario a deployed containerlab lab was exported from (its nodes' label)."""
        cs = self.client().containers.list(filters={"label": f"containerlab={lab}"})
        refs = {c.labels.get("interlink-lab.scenario") for c in cs} - {None}
        return next(iter(sorted(refs))) if refs else None

    def init_pid(self, handle: str) -> int:
        """The host PID of the container's init (whose namespaces programs enter)."""
        pid = self._init_pids.get(handle)
        if pid is not None and process_alive(pid):
            return pid
        try:  # from the link: no API call (a CLI process, a restarted controller)
            target = os.readlink(self.netns_path(handle))
            pid = int(target.split("/")[2])
        except (OSError, ValueError, IndexError):
            raise NodeError(f"node {handle} does not exist") from None
        if not process_alive(pid):
            raise NodeError(f"container {handle} is not running")
        self._init_pids[handle] = pid
        return pid

    def pids(self, handles: Iterable[str]) -> dict[str, list[int]]:
        from lab.dataplane.nodes import runtime

        out = runtime("netns").pids(handles)  # by network namespace, as for any node
        for handle, pids in out.items():
            infra = self._infra(handle)
            out[handle] = [p for p in pids if p not in infra and not self._wrapper(p)]
        return out

    def _infra(self, handle: str) -> set[int]:
        """The container's init and its ``sleep``: the container itself, not a program."""
        try:
            init = self.init_pid(handle)
        except NodeError:
            return set()
        try:
            kids = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        except OSError:
            kids = []
        return {init, *map(int, kids)}

    @staticmethod
    def _wrapper(pid: int) -> bool:
        """An nsenter of ours: it waits for its program and goes with it."""
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == "nsenter"
        except OSError:
            return False

    def remove(self, handles: Iterable[str], grace: float = 1.0) -> RemoveReport:
        t0 = time.perf_counter()
        names = list(handles)
        # Programs first get SIGTERM (a BGP daemon says goodbye), then the container goes.
        victims = self.pids([h for h in names if self.exists(h)])
        terminated = []
        for pids in victims.values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                    terminated.append(pid)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(process_alive(p) for p in terminated):
            self._reap()  # a wrapper of ours waits as a zombie otherwise
            time.sleep(0.01)
        killed = tuple(p for p in terminated if process_alive(p))

        def drop(handle: str) -> tuple[str, str | None]:
            import docker.errors

            try:
                self.client().api.remove_container(handle, force=True)
                state = "removed"
            except docker.errors.NotFound:
                state = "missing"
            except docker.errors.DockerException as e:
                return handle, _docker_message(e)
            finally:
                self._init_pids.pop(handle, None)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.netns_path(handle))
            return handle, state

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            results = list(pool.map(drop, names))
        self._reap()
        errors = [f"{h}: {r}" for h, r in results if r not in ("removed", "missing")]
        if errors:
            raise NodeError("could not remove: " + "; ".join(errors))
        return RemoveReport(removed=tuple(h for h, r in results if r == "removed"),
                            missing=tuple(h for h, r in results if r == "missing"),
                            terminated=tuple(terminated), killed=killed,
                            seconds=time.perf_counter() - t0)

    def describe(self, handle: str) -> dict[str, object]:
        c = self.container(handle)
        if c is None:
            return {"runtime": self.name, "running": False, "state": "missing"}
        return {"runtime": self.name, "running": self.exists(handle), "state": c.status,
                "container_id": c.id[:12], "image": c.attrs["Config"]["Image"]}

    def stop_node(self, handle: str, timeout: float = 1.0) -> None:
        """Kill the container (``fault stop-node``): its programs and namespace go with it."""
        import docker.errors

        try:
            self.client().api.kill(handle)
        except docker.errors.DockerException as e:
            raise NodeError(f"{handle}: {_docker_message(e)}") from None
        deadline = time.monotonic() + timeout + 5
        while self.exists(handle):
            if time.monotonic() > deadline:
                raise NodeError(f"container {handle} still running after docker kill")
            time.sleep(0.01)
        self._init_pids.pop(handle, None)

    # -- programs -----------------------------------------------------------------------

    def _enter_argv(self, handle: str, argv: Sequence[str], cwd: Path | None = None) -> list[str]:
        cmd = [*NSENTER, "-t", str(self.init_pid(handle))]
        if cwd is not None:
            cmd.append(f"--wdns={cwd}")  # --wd would keep a host directory unreachable inside
        return [*cmd, "--", *argv]

    def _join_cgroups(self, handle: str) -> Any:
        """A preexec hook putting the child in the container's cgroups (``docker top``,
        ``docker stats`` and the container's limits see it)."""
        procs = []
        try:
            for line in Path(f"/proc/{self.init_pid(handle)}/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                for ctrl in (controllers.split(",") if controllers else ["unified"]):
                    name = ctrl.removeprefix("name=")
                    f = Path("/sys/fs/cgroup") / name / path.lstrip("/") / "cgroup.procs"
                    if f.exists():
                        procs.append(str(f))
        except OSError:
            pass

        def hook() -> None:
            me = str(os.getpid())
            for f in procs:
                with contextlib.suppress(OSError), open(f, "w") as fh:
                    fh.write(me)
        return hook

    def _env(self, handle: str, env: Mapping[str, str] | None) -> dict[str, str]:
        return {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}

    def _bind(self, handle: str, mounts: Sequence[Mount]) -> None:
        # Container-wide (its own mount namespace): vtysh / birdc in `docker exec` see them.
        for m in mounts:
            script = ('mkdir -p "$2" && { ! mountpoint -q "$2" || umount -l "$2"; } '
                      '&& mount --bind "$1" "$2"')
            p = self.run(handle, ["sh", "-c", script, "sh", str(m.source), m.target])
            if p.returncode:
                raise NodeError(f"binding {m.source} on {m.target} in {handle}: "
                                f"{p.stderr.strip()}")

    def run(self, handle: str, argv: Sequence[str], *, input: str | None = None,
            timeout: float | None = 10.0) -> subprocess.CompletedProcess[str]:
        cmd = self._enter_argv(handle, argv)
        try:
            p = subprocess.run(cmd, input=input, capture_output=True, text=True, check=False,
                               timeout=timeout, env=self._env(handle, None))
        except subprocess.TimeoutExpired:
            raise NodeError(f"{argv[0]} in {handle} did not finish within {timeout}s") from None
        except OSError as e:
            raise NodeError(f"{argv[0]} in {handle}: {e}") from None
        if p.returncode and "nsenter:" in p.stderr and "failed to execute" in p.stderr:
            raise NodeError(f"{argv[0]} not found in {handle}")
        return subprocess.CompletedProcess(list(argv), p.returncode, p.stdout, p.stderr)

    def start(self, handle: str, argv: Sequence[str], *, log_path: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None,
              mounts: Sequence[Mount] = ()) -> int:
        self._bind(handle, mounts)
        cmd = self._enter_argv(handle, argv, cwd)
        self._reap()
        with open(log_path, "ab") as logf:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                        stderr=subprocess.STDOUT, env=self._env(handle, env),
                                        start_new_session=True, close_fds=True,
                                        preexec_fn=self._join_cgroups(handle))
            except OSError as exc:
                raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        self._children[proc.pid] = proc
        return self._program_pid(proc, handle, argv,
                                 lambda: f"; log {log_path}:\n{_tail(log_path)}")

    @staticmethod
    def _program_pid(proc: subprocess.Popen[bytes], handle: str, argv: Sequence[str],
                     more: Any = lambda: "") -> int:
        # nsenter forks to enter the PID namespace: the program is its only child.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            except OSError:
                kids = []
            if kids:
                return int(kids[0])
            if proc.poll() is not None:
                raise NodeError(f"{argv[0]} exited at once in {handle} (exit "
                                f"{proc.returncode}){more()}")
            time.sleep(0.001)
        raise NodeError(f"{argv[0]} did not start in {handle} within 5 s")

    def spawn(self, handle: str, argv: Sequence[str], *, stdout: int | IO[bytes],
              stderr: int | IO[bytes]) -> NodeProcess:
        cmd = self._enter_argv(handle, argv)
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout,
                                    stderr=stderr, env=self._env(handle, None),
                                    start_new_session=True, close_fds=True,
                                    preexec_fn=self._join_cgroups(handle))
        except OSError as exc:
            raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        try:
            pid = self._program_pid(proc, handle, argv)
        except NodeError:
            if proc.poll() is None:  # no program after 5 s: the wrapper goes
                proc.kill()
                proc.wait()
                raise
            pid = proc.pid  # it ended at once: its status and output are the caller's to read
        return NodeProcess(proc, pid)

    def start_daemon(self, handle: str, argv: Sequence[str], *, log_path: Path,
                     env: Mapping[str, str] | None = None, cwd: Path | None = None,
                     mounts: Sequence[Mount] = (), timeout: float = 10.0) -> None:
        self._bind(handle, mounts)
        cmd = self._enter_argv(handle, argv, cwd)
        with open(log_path, "ab") as logf:
            try:
                proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                      stderr=subprocess.STDOUT, env=self._env(handle, env),
                                      timeout=timeout, start_new_session=True, close_fds=True,
                                      preexec_fn=self._join_cgroups(handle))
            except subprocess.TimeoutExpired:
                raise NodeError(f"{argv[0]} did not daemonise within {timeout}s") from None
            except OSError as exc:
                raise NodeError(f"cannot run {argv[0]} in {handle}: {exc}") from None
        if proc.returncode != 0:
            raise NodeError(f"{Path(argv[0]).name} failed to start (exit {proc.returncode}) "
                            f"in {handle}; log {log_path}:\n{_tail(log_path)}")

    def attach(self, handle: str, argv: Sequence[str]) -> int:
        return subprocess.run(self._enter_argv(handle, argv), check=False,
                              env=self._env(handle, None)).returncode

    def stop(self, handle: str, pid: int, timeout: float = 1.0) -> bool:
        was_running = stop_process(pid, timeout)
        self._reap()
        return was_running

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]

    # -- what the node's filesystem holds -------------------------------------------------

    def python(self, handle: str) -> str:
        return NODE_PYTHON

    def host_pid(self, handle: str, pid: int) -> int | None:
        """From the container's PID namespace to the host's: the process whose innermost
        NSpid is ``pid`` and whose PID namespace is the container's (remembered: the
        watchers ask often)."""
        try:
            ns = os.readlink(f"/proc/{self.init_pid(handle)}/ns/pid")
        except (OSError, NodeError):
            return None
        known = self._host_pids.get((ns, pid))
        if known is not None and _ns_pid(known, ns) == pid:
            return known
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                    continue
                for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                    if line.startswith("NSpid:"):
                        if int(line.split()[-1]) == pid:
                            self._host_pids[(ns, pid)] = int(entry)
                            return int(entry)
                        break
            except (OSError, ValueError):
                continue
        return None

    def user_ids(self, handle: str, user: str) -> tuple[int, int]:
        key = (handle, self.init_pid(handle), user)
        if key not in self._users:
            p = self.run(handle, ["getent", "passwd", user])
            fields = p.stdout.strip().split(":")
            if p.returncode or len(fields) < 4:
                raise NodeError(f"no user {user!r} in {handle}'s image")
            self._users[key] = (int(fields[2]), int(fields[3]))
        return self._users[key]


def _options_of(c: Container, given: NodeOptions, implied: set[str]) -> NodeOptions:
    """The options a container of ours was created with (labels, image, binds other than the
    ``implied`` ones every container gets)."""
    labels = dict(c.labels or {})
    own = {"containerlab", "clab-node-name", "clab-node-kind", "clab-node-type",
           "clab-node-group", "clab-topo-file", LAB_LABEL, ROLE_LABEL}
    binds = []
    for b in (c.attrs.get("HostConfig") or {}).get("Binds") or []:
        src, _, rest = b.partition(":")
        target = rest.split(":")[0]
        if src not in implied:
            binds.append(Mount(Path(src), target))
    return NodeOptions(role=labels.get(ROLE_LABEL, given.role),
                       image=c.attrs["Config"]["Image"] or given.image,
                       binds=tuple(binds) or given.binds,
                       labels=tuple(sorted((k, v) for k, v in labels.items() if k not in own))
                       or given.labels)


def _ns_pid(host_pid: int, ns: str) -> int | None:
    """What ``host_pid`` is in PID namespace ``ns`` (None: gone, or not in it)."""
    try:
        if os.readlink(f"/proc/{host_pid}/ns/pid") != ns:
            return None
        for line in Path(f"/proc/{host_pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def _lab_and_node(handle: str, opts: NodeOptions) -> tuple[str, str]:
    labels = dict(opts.labels)
    if "containerlab" in labels and "clab-node-name" in labels:
        return labels["containerlab"], labels["clab-node-name"]
    rest = handle.removeprefix("clab-")
    lab, _, node = rest.partition("-")
    return lab, node


def _docker_message(e: Exception) -> str:
    explanation = getattr(e, "explanation", None)
    return str(explanation or e).strip().splitlines()[0]
