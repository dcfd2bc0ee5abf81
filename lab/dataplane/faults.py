"""Cut / restore a BGP session inside a namespace (I/O), two ways:

- BGP only (default): tcp/179 to and from one peer is dropped; every other packet keeps
  flowing, so the data plane is untouched while the session dies after its hold time;
- whole link (``ifname`` given): every packet of that family in or out of the interface is
  dropped, a silent failure of the circuit that BGP only notices when its hold timer expires.

The rules carry the comment `ilab-cut:<peer>` so `restore` removes exactly them.
"""

from __future__ import annotations

import ipaddress
import re
import shutil

from lab.dataplane.nodes import runtime_for
from lab.dataplane.nodes.base import NodeError

COMMENT_PREFIX = "ilab-cut:"
_COMMENT_RE = re.compile(r'--comment "?' + re.escape(COMMENT_PREFIX) + r'([0-9A-Fa-f:.]+)"?')


class FaultError(RuntimeError):
    pass


def _peer(peer_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_interface(peer_address).ip  # accepts "169.254.0.17/31" too
    except ValueError:
        raise FaultError(f"not an IP address: {peer_address!r}") from None


def iptables(version: int, suffix: str = "",
             error: type[Exception] = FaultError) -> str:
    """``iptables``/``ip6tables`` (+ ``suffix``: ``-restore``), or ``error`` if missing."""
    name = ("iptables" if version == 4 else "ip6tables") + suffix
    if shutil.which(name) is None:
        raise error(f"`{name}` not found: install the iptables package (the nft backend "
                    "works inside network namespaces)")
    return name



def in_node(netns: str, cmd: list[str], stdin: str | None = None,
            error: type[Exception] = FaultError) -> str:
    """Run a host tool on node ``netns``'s tables; its stdout, or ``error`` saying why not."""
    nodes = runtime_for(netns)
    if not nodes.exists(netns):
        raise error(f"network namespace {netns!r} does not exist")
    try:
        # The host's iptables on the node's netfilter tables: works whatever the node runs.
        p = nodes.run_tool(netns, cmd, input=stdin, timeout=None)
    except NodeError as e:
        raise error(str(e)) from None
    if p.returncode:
        raise error(f"{' '.join(cmd)} in {netns}: {(p.stderr or p.stdout).strip()}")
    return str(p.stdout)



def _rules(netns: str, version: int) -> list[str]:
    return in_node(netns, [iptables(version), "-w", "-t", "filter", "-S"]).splitlines()


def _cut_rules(peer: str, tag: str, ifname: str | None = None) -> list[str]:
    tail = f"-m comment --comment {tag} -j DROP"
    if ifname is not None:
        return [f"-I {chain} {flag} {ifname} {tail}" for chain, flag in (
            ("INPUT", "-i"), ("OUTPUT", "-o"), ("FORWARD", "-i"), ("FORWARD", "-o"))]
    return [f"-I INPUT -s {peer} -p tcp --sport 179 {tail}",
            f"-I INPUT -s {peer} -p tcp --dport 179 {tail}",
            f"-I OUTPUT -d {peer} -p tcp --dport 179 {tail}",
            f"-I OUTPUT -d {peer} -p tcp --sport 179 {tail}"]


def _tagged(line: str, tag: str) -> bool:
    # Exact match: the tag of 169.254.0.1 must not match the rules of 169.254.0.17.
    return re.search(rf'--comment "?{re.escape(tag)}"?( |$)', line) is not None


def parse_cuts(lines: list[str]) -> dict[str, str]:
    """Pure: ``iptables -S`` lines -> {peer: "bgp"|"link"} of the cuts they hold. A BGP cut's
    rules match tcp/179; a link cut's match the interface only."""
    out: dict[str, str] = {}
    for line in lines:
        m = _COMMENT_RE.search(line)
        if m:
            bgp = re.search(r"(^| )-p tcp( |$)", line) is not None
            out[m.group(1)] = "bgp" if bgp or out.get(m.group(1)) == "bgp" else "link"
    return out


def cut_modes(netns: str) -> dict[str, str]:
    """{peer: mode} of the peers (v4 and v6) whose traffic is currently dropped in `netns`."""
    out: dict[str, str] = {}
    for version in (4, 6):
        out.update(parse_cuts(_rules(netns, version)))
    return dict(sorted(out.items()))


def active_cuts(netns: str) -> list[str]:
    """Peers (v4 and v6) whose BGP traffic is currently dropped in `netns`."""
    return list(cut_modes(netns))


def cut(netns: str, peer_address: str, ifname: str | None = None) -> bool:
    """Drop tcp/179 to and from `peer_address` in `netns` (or, with `ifname`, all of that
    family's traffic through the interface). Returns False if already cut."""
    ip = _peer(peer_address)
    tag = COMMENT_PREFIX + str(ip)
    if any(_tagged(line, tag) for line in _rules(netns, ip.version)):
        return False
    if ifname is not None and not re.fullmatch(r"[A-Za-z0-9_.@-]{1,15}", ifname):
        raise FaultError(f"not an interface name: {ifname!r}")
    script = "*filter\n" + "\n".join(_cut_rules(str(ip), tag, ifname)) + "\nCOMMIT\n"
    in_node(netns, [iptables(ip.version, "-restore"), "-w", "--noflush"], script)
    return True


def restore(netns: str, peer_address: str) -> bool:
    """Remove the rules `cut` added for that peer. Returns False if there were none."""
    ip = _peer(peer_address)
    tag = COMMENT_PREFIX + str(ip)
    deletes = [line.replace("-A ", "-D ", 1) for line in _rules(netns, ip.version)
               if line.startswith("-A ") and _tagged(line, tag)]
    if not deletes:
        return False
    script = "*filter\n" + "\n".join(deletes) + "\nCOMMIT\n"
    in_node(netns, [iptables(ip.version, "-restore"), "-w", "--noflush"], script)
    return True
