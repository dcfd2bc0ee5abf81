"""A Scaleway-side ExaBGP killed with SIGKILL (or its API bridge respawned empty): the
controller notices at once, reports the sessions down, flushes their routes from the VPC table
(failing over to another link of the VPC), restarts the speaker and follows the sessions back
up."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

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


def killed(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def lost_then_healed(lab: RunningLab, fault: Callable[[int], None], old_speaker: int) -> None:
    fault(old_speaker)
    wait_for(lambda: sessions(lab) == ("all_down", "down", "down"),
             "both sessions reported down", DETECT, detail=lambda: repr(sessions(lab)))
    wait_for(lambda: not {CUSTOMER_V4, CUSTOMER_V6} & lab.routes("vpc-router").keys(),
             "the customer routes flushed from the VPC table", DETECT,
             detail=lambda: repr(lab.routes("vpc-router")))
    stats = lab.stats()
    assert (stats["ipv4"]["session"], stats["ipv6"]["session"]) == ("down", "down"), stats
    wait_for(lambda: sessions(lab) == ("active", "up", "up"), "the link active again", HEAL,
             detail=lambda: repr(sessions(lab)))
    wait_for(lambda: {CUSTOMER_V4, CUSTOMER_V6} <= lab.routes("vpc-router").keys(),
             "the customer routes back in the VPC table", DETECT)
    assert speaker_pid(lab) != old_speaker, "the speaker was not restarted"
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
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: vpc_via() == via["link-b"], "the VPC routes failed over to link-b", DETECT,
             detail=lambda: repr(vpc_via()))
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
