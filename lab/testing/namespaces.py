"""Test helpers without pytest: two network namespaces joined by veth pairs.

For tests of your own that need a real kernel link between two namespaces (a BGP daemon on
each side, kernel routes via a real next hop, ...), much like pyroute2's netns fixtures::

    from lab.testing.namespaces import Link, linked_namespaces

    LINKS = [Link("v0", a=("169.254.0.16/31", "2001:db8:fc60::/127"),
                        b=("169.254.0.17/31", "2001:db8:fc60::1/127"))]

    @pytest.fixture
    def netns():
        with linked_namespaces("mytest", LINKS) as (ns_a, ns_b):  # mytest-a, mytest-b
            yield ns_a, ns_b

Needs root and iproute2. Nothing is created in the root namespace (each veth is created with
its peer placed straight into the other namespace), and on the way out (also when building
failed half-way) whatever still runs in the two namespaces is killed and both are deleted.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lab.dataplane.build import write_sysctls
from lab.dataplane.iproute import batches
from lab.dataplane.nodes import runtime

__all__ = ["Link", "linked_namespaces"]


@dataclass(frozen=True)
class Link:
    """A veth pair named `dev` at both ends, with addresses (CIDRs) on the a and b sides."""

    dev: str
    a: tuple[str, ...] = ()
    b: tuple[str, ...] = ()


@contextlib.contextmanager
def linked_namespaces(prefix: str, links: Iterable[Link], sides: tuple[str, str] = ("a", "b"),
                      replace: bool = False) -> Iterator[tuple[str, str]]:
    """Create namespaces `<prefix>-<sides[0]>` and `<prefix>-<sides[1]>`, joined by `links`;
    yield their names; kill what runs in them and delete them afterwards.

    IPv6 DAD is off in both before any interface exists (a tentative address can't be bound
    to, which makes e.g. ExaBGP exit), and links come up before their addresses are added, so
    every address is usable at once. `lo` is up. `replace=True` first removes namespaces of
    the same names (the leftovers of an interrupted run of a test with fixed names); without
    it, existing namespaces are an error."""
    links = list(links)
    nodes = runtime()
    names = (nodes.handle(prefix, sides[0]), nodes.handle(prefix, sides[1]))
    if replace:
        nodes.remove(names)
    created: list[str] = []  # never delete a namespace someone else made
    try:
        for ns in names:
            nodes.create([ns])
            created.append(ns)
            nodes.enter(ns, functools.partial(write_sysctls, {
                "net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"}))
        ns_a, ns_b = names
        # From inside ns_a, each peer placed straight into ns_b.
        batches({ns_a: [f"link add {link.dev} type veth peer name {link.dev} netns {ns_b}"
                        for link in links]}, "linking")
        config: dict[str, list[str]] = {ns: ["link set lo up"] for ns in names}
        for link in links:
            for ns, addrs in ((ns_a, link.a), (ns_b, link.b)):
                config[ns].append(f"link set {link.dev} up")
                config[ns] += [f"addr add {cidr} dev {link.dev}" for cidr in addrs]
        batches(config, "configuring")
        yield names
    finally:
        nodes.remove(created)
