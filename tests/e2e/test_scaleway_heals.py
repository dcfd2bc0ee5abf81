"""A Scaleway-side ExaBGP killed with SIGKILL (or its API bridge respawned empty): the
controller notices at once, reports the sessions down, flushes their routes from the VPC table
(failing over to another link of the VPC), restarts the speaker and follows the sessions back
up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from controller.drivers import netlink as nl
from controller.drivers.nsenter import socket_in_netns
from controller.drivers.procs import process_alive
from controller.drivers.speaker import respawn_bridge
from controller.service.ports import speaker_name
from lab.control.handle import RunningLab
from lab.control.labdir import lab_dir
from lab.control.polling import wait_for
from lab.testing.plugin import LabFactory

CUSTOMER_V4, CUSTOMER_V6 = "198.51.100.0/24", "2001:db8:100::/64"
DETECT = 1.0  # seconds: a lost speaker's sessions are down and its routes gone within this
HEAL = 10.0  # seconds: the restarted speaker has its sessions back within this


def speaker_pid(lab: RunningLab, link: str | None = None) -> int:
    return lab.speaker_pid(speaker_name(lab.link(link)["id"]))


def sessions(lab: RunningLab, link: str | None = None) -> tuple[str, str, str]:
    lk = lab.link(link)
    return lk["status"], lk["bgp_v4_status"], lk["bgp_v6_status"]


def stats_beside_status(lab: RunningLab) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """(the stats' sessions, the link's) read just before and just after the stats, if the
    link's were the same both times; None if they changed meanwhile (read again)."""
    before = sessions(lab)
    stats = lab.stats()
    if sessions(lab) != before:
        return None
    return (stats["ipv4"]["session"], stats["ipv6"]["session"]), before[1:]


def killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


class RouteChanges:
    """The routes the kernel deletes from, and installs in, a namespace's tables from now
    on, as it announces them (rtnetlink multicast, subscribed when this returns): a flush or
    a failover that lasts less than a poll is seen all the same."""

    GROUPS = 0x40 | 0x400  # RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
    RTM_NEWROUTE, RTM_DELROUTE, RTA_DST, RTA_GATEWAY = 24, 25, 1, 5

    def __init__(self, netns: str):
        self.sock = socket_in_netns(netns, socket.AF_NETLINK, socket.SOCK_RAW,
                                    socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, self.GROUPS))
        self.sock.setblocking(False)
        self._deleted: set[str] = set()
        self._installed: set[tuple[str, str]] = set()  # (prefix, gateway)

    def __enter__(self) -> RouteChanges:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def deleted(self) -> set[str]:
        """The prefixes deleted so far."""
        self._drain()
        return self._deleted

    def installed(self) -> set[tuple[str, str]]:
        """The (prefix, gateway) installed so far."""
        self._drain()
        return self._installed

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while data := self.sock.recv(1 << 16):
                for off, mlen, mtype, _flags, _seq in nl.iter_msgs(data):
                    if mtype in (self.RTM_NEWROUTE, self.RTM_DELROUTE):
                        self._record(data, off, mlen, mtype)

    def _record(self, data: bytes, off: int, mlen: int, mtype: int) -> None:
        fam = socket.AF_INET if data[off + 16] == socket.AF_INET else socket.AF_INET6
        plen, dst, gateway = data[off + 17], "", ""
        for atype, a, b in nl.iter_attrs(data, off + 28, off + mlen):
            if atype == self.RTA_DST:
                dst = f"{socket.inet_ntop(fam, data[a:b])}/{plen}"
            elif atype == self.RTA_GATEWAY:  # also on routes through a nexthop object
                gateway = socket.inet_ntop(fam, data[a:b])
        if mtype == self.RTM_DELROUTE:
            self._deleted.add(dst)
        else:
            self._installed.add((dst, gateway))


def vpc_netns(lab: RunningLab) -> str:
    return next(n["netns"] for n in lab.client.get("/lab/v1/nodes")["nodes"]
                if n["role"] == "vpc-router")


def last_event(lab: RunningLab) -> int:
    return max((ev["id"] for ev in lab.client.events(since="0", follow=False, timeout=10)),
               default=0)


def lost_then_healed(lab: RunningLab, fault: Callable[[int], None], old_speaker: int) -> None:
    # What happened in between is read from the events and the kernel, not polled for: the
    # restarted speaker (forked) has its sessions back ~50 ms after they went down.
    since = last_event(lab)
    with RouteChanges(vpc_netns(lab)) as changes:
        t0 = time.time()
        fault(old_speaker)
        wait_for(lambda: speaker_pid(lab) != old_speaker and
                 sessions(lab) == ("active", "up", "up"), "the link active again", HEAL,
                 detail=lambda: repr(sessions(lab)))
        wait_for(lambda: {CUSTOMER_V4, CUSTOMER_V6} <= lab.routes("vpc-router").keys(),
                 "the customer routes back in the VPC table", HEAL)
        assert {CUSTOMER_V4, CUSTOMER_V6} <= changes.deleted(), \
            f"the customer routes were not flushed from the VPC table: {changes.deleted()}"
    events = list(lab.client.events(since=str(since), follow=False, timeout=10))
    downs = {ev["family"]: ev for ev in events if ev["type"] == "session"
             and ev["state"] == "down"}
    assert downs.keys() == {"ipv4", "ipv6"}, events
    for ev in downs.values():
        assert "Scaleway speaker restarted" in ev["reason"], ev
        assert ev["time"] - t0 <= DETECT, f"noticed after {ev['time'] - t0:.3f} s: {ev}"
    statuses = [ev["new"] for ev in events if ev["type"] == "status" and ev["field"] == "status"]
    assert statuses[0] == "all_down" and statuses[-1] == "active", statuses
    got, status = wait_for(lambda: stats_beside_status(lab),
                           "a reading of the stats between two equal statuses", DETECT)
    assert got == status == ("up", "up"), f"the stats say {got}, the link {status}"
    # the VPC's routes reach the customer's kernel over the restarted sessions a moment after
    # the customer's routes reach the VPC's: traffic both ways is polled for, not assumed
    wait_for(lambda: lab.ping("onprem-host", "vpc-instance", 4)
             and lab.ping("onprem-host", "vpc-instance", 6), "traffic both ways again", 5.0)


def test_killed_speaker_is_noticed_flushed_and_restarted(lab_factory: LabFactory) -> None:
    lab = lab_factory("basic", hold_time=3)
    pid = speaker_pid(lab)
    lost_then_healed(lab, killed, pid)


def test_respawned_bridge_restarts_its_speaker(lab_factory: LabFactory) -> None:
    lab = lab_factory("basic", hold_time=3)
    pid = speaker_pid(lab)
    lost_then_healed(lab, respawn_bridge, pid)
    # The link heals again: a second loss in a row is handled the same way.
    pid = speaker_pid(lab)
    lost_then_healed(lab, respawn_bridge, pid)


def test_killed_speaker_fails_over_to_the_other_link(lab_factory: LabFactory) -> None:
    lab = lab_factory("redundant", hold_time=3)
    via = {name: (lab.topo.link(name).scw_transit_v4, lab.topo.link(name).scw_transit_v6)
           for name in ("link-a", "link-b")}

    def vpc_via() -> tuple[str | None, str | None]:
        routes = lab.routes("vpc-router")
        return routes.get(CUSTOMER_V4), routes.get(CUSTOMER_V6)

    wait_for(lambda: vpc_via() == via["link-a"], "the VPC routes via link-a", HEAL,
             detail=lambda: repr(vpc_via()))
    pid = speaker_pid(lab, "link-a")
    # Read from the kernel's announcements: the restarted speaker (forked) can have link-a's
    # routes back ~0.1 s after the kill, before a poll of the table saw link-b's.
    with RouteChanges(vpc_netns(lab)) as changes:
        os.kill(pid, signal.SIGKILL)
        failover = {(CUSTOMER_V4, via["link-b"][0]), (CUSTOMER_V6, via["link-b"][1])}
        wait_for(lambda: failover <= changes.installed(),
                 "the VPC routes failed over to link-b", DETECT,
                 detail=lambda: repr(sorted(changes.installed())))
    assert sessions(lab, "link-b") == ("active", "up", "up")
    wait_for(lambda: sessions(lab, "link-a") == ("active", "up", "up"), "link-a active again",
             HEAL, detail=lambda: repr(sessions(lab, "link-a")))
    wait_for(lambda: vpc_via() == via["link-a"], "the VPC routes back via link-a", DETECT)
    assert speaker_pid(lab, "link-a") != pid


def test_a_killed_forkserver_is_started_again_for_the_next_speaker(
        lab_factory: LabFactory) -> None:
    # The speakers are forked from the lab's forkserver: killed, the next start needs a new
    # one (or the exec fallback), and the running speakers do not notice.
    lab = lab_factory("basic", hold_time=3)
    fs_pid_file = lab_dir(lab.name) / "speakers" / "forkserver.pid"
    old_fs = int(fs_pid_file.read_text())
    os.kill(old_fs, signal.SIGKILL)
    wait_for(lambda: not process_alive(old_fs), "the forkserver gone", 5)
    assert sessions(lab) == ("active", "up", "up")
    pid = speaker_pid(lab)
    lost_then_healed(lab, killed, pid)
    new_fs = int(fs_pid_file.read_text())
    assert new_fs != old_fs and process_alive(new_fs)
    parent = Path(f"/proc/{speaker_pid(lab)}/stat").read_text().rsplit(")", 1)[1].split()[1]
    assert parent == str(new_fs), "the restarted speaker was not forked by the new forkserver"
