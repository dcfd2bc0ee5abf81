"""The lab's node image, built locally without a registry (I/O).

``debootstrap`` makes a minimal Debian root file system, ``docker import`` turns it into a
base image, then ``docker build --network host`` (node.Dockerfile) installs FRR, BIRD, Python,
iproute2 and the tools with ``apt-get`` and ExaBGP from a wheel prepared on the host. Each
image is tagged by a hash of its inputs and carries it in a label, so a build happens only
when an input changed; tags are set only by a successful build.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker

NODE_IMAGE = "interlink-lab/node"
BASE_IMAGE = "interlink-lab/debian"
INPUTS_LABEL = "interlink-lab.inputs"
SUITE = "bookworm"
MIRROR = os.environ.get("ILAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("frr", "bird2", "python3", "python3-pip", "iproute2", "iptables", "tcpdump",
            "iperf3", "procps", "iputils-ping", "util-linux")
DOCKERFILE = Path(__file__).with_name("node.Dockerfile")
Progress = Callable[[str], None] | None


class ImageError(RuntimeError):
    """An image could not be built, or does not exist."""


def exabgp_version() -> str:
    return importlib.metadata.version("exabgp")


def base_hash(suite: str = SUITE, mirror: str = MIRROR) -> str:
    return hashlib.sha256(f"debootstrap minbase {suite} {mirror}".encode()).hexdigest()


def inputs_hash(dockerfile: str | None = None, packages: tuple[str, ...] = PACKAGES,
                exabgp: str | None = None, suite: str = SUITE) -> str:
    """The node image's identity: everything its build reads (pure given its arguments)."""
    text = dockerfile if dockerfile is not None else DOCKERFILE.read_text()
    parts = [text, " ".join(packages), f"exabgp=={exabgp or exabgp_version()}",
             base_hash(suite)]
    return hashlib.sha256("\n--\n".join(parts).encode()).hexdigest()


def tag_of(repo: str, digest: str) -> str:
    return f"{repo}:{digest[:12]}"


def node_image_ref() -> str:
    """The ref of the node image the current inputs make."""
    return tag_of(NODE_IMAGE, inputs_hash())


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    import docker.errors

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as e:
        raise ImageError(f"asking the engine for image {ref!r}: {e}") from None


def ensure(client: docker.DockerClient, cache_dir: Path, progress: Progress = None) -> str:
    """The node image's ref, built first if missing (with progress)."""
    ref = node_image_ref()
    if image_exists(client, ref):
        return ref
    return build(client, cache_dir, progress)


def build(client: docker.DockerClient, cache_dir: Path, progress: Progress = None,
          force: bool = False) -> str:
    """Build the base (if missing or ``force``) and the node image; returns the node ref."""
    say = progress or (lambda _m: None)
    t0 = time.monotonic()
    base = tag_of(BASE_IMAGE, base_hash())
    if force or not image_exists(client, base):
        _build_base(client, base, cache_dir, say)
    ref = node_image_ref()
    with tempfile.TemporaryDirectory(prefix="ilab-image-") as ctx:
        wheels = Path(ctx) / "wheels"
        _exabgp_wheel(wheels)
        shutil.copy(DOCKERFILE, Path(ctx) / "Dockerfile")
        say(f"building {ref} (apt-get inside: {', '.join(PACKAGES)})")
        _docker_build(client, ctx, ref, base, say)
    say(f"image {ref} built in {time.monotonic() - t0:.0f}s")
    return ref


def _build_base(client: docker.DockerClient, ref: str, cache_dir: Path,
                say: Callable[[str], None]) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed: `make setup` installs it")
    cache_dir.mkdir(parents=True, exist_ok=True)
    rootfs = cache_dir / f"rootfs-{SUITE}"
    tarball = cache_dir / f"rootfs-{SUITE}.tar"
    shutil.rmtree(rootfs, ignore_errors=True)
    t0 = time.monotonic()
    say(f"debootstrap {SUITE} (minbase) from {MIRROR}")
    p = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR],
                       capture_output=True, text=True, check=False)
    if p.returncode:
        shutil.rmtree(rootfs, ignore_errors=True)
        raise ImageError(f"debootstrap failed: {_last(p.stdout + p.stderr)}")
    say(f"debootstrap done in {time.monotonic() - t0:.0f}s; docker import as {ref}")
    try:
        p = subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."],
                           capture_output=True, text=True, check=False)
        if p.returncode:
            raise ImageError(f"packing the root file system: {_last(p.stderr)}")
        repo, tag = ref.split(":")
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tag)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        tarball.unlink(missing_ok=True)
    if not image_exists(client, ref):
        raise ImageError(f"docker import did not produce {ref}")


def _exabgp_wheel(dest: Path) -> None:
    """ExaBGP's wheel, the version the host runs: from pip's cache or the package index."""
    dest.mkdir(parents=True)
    version = exabgp_version()
    p = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "-d", str(dest), f"exabgp=={version}"],
                       capture_output=True, text=True, check=False)
    if p.returncode or not list(dest.glob("*.whl")):
        raise ImageError(f"could not get the exabgp {version} wheel: {_last(p.stderr)}")


def _docker_build(client: docker.DockerClient, ctx: str, ref: str, base: str,
                  say: Callable[[str], None]) -> None:
    import docker.errors

    lines: list[str] = []
    try:
        for chunk in client.api.build(
                path=ctx, tag=ref, network_mode="host", rm=True, forcerm=True, decode=True,
                buildargs={"BASE": base, "PACKAGES": " ".join(PACKAGES)},
                labels={INPUTS_LABEL: inputs_hash()}):
            if "error" in chunk:
                raise ImageError(f"docker build of {ref} failed: {chunk['error'].strip()}; "
                                 f"last output: {_last(''.join(lines))}")
            text: Any = chunk.get("stream")
            if text:
                lines.append(text)
                if text.startswith("Step "):
                    say(text.strip())
    except docker.errors.DockerException as e:
        raise ImageError(f"docker build of {ref}: {e}") from None


def _last(text: str, n: int = 3) -> str:
    return " | ".join(t for t in text.strip().splitlines()[-n:]) or "(no output)"


def lab_images(client: docker.DockerClient) -> list[dict[str, Any]]:
    """The lab's images on the engine (node and base), newest first."""
    out = []
    for repo in (NODE_IMAGE, BASE_IMAGE):
        for img in client.images.list(name=repo):
            for tag in img.tags:
                out.append({"ref": tag, "id": img.short_id.removeprefix("sha256:"),
                            "size_mb": round(img.attrs.get("Size", 0) / 1e6),
                            "created": img.attrs.get("Created", ""),
                            "inputs": (img.labels or {}).get(INPUTS_LABEL, ""),
                            "current": tag in (node_image_ref(), tag_of(BASE_IMAGE,
                                                                        base_hash()))})
    return sorted(out, key=lambda i: i["created"], reverse=True)
