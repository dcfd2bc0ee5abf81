"""`interlink-lab capture NODE[:IFACE]`: tcpdump inside a node, decoded lines or a pcap.

``-w -`` streams the pcap to stdout (``| wireshark -k -i -``), ``-w FILE`` writes it on the
host; without ``-w`` tcpdump's decoded lines (with link headers: 802.1Q tags) go to stdout.
tcpdump's own messages (listening on, packet counts) go to stderr.
"""

from __future__ import annotations

import signal
import sys
from typing import IO

import click

from lab.cli.common import CliError, lab_name
from lab.cli.exec import find_node
from lab.dataplane.capture import Capture, CaptureError, interfaces, pick_iface


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def split_target(target: str) -> tuple[str, str | None]:
    """NODE[:IFACE] -> (node, iface or None)."""
    node, sep, iface = target.partition(":")
    if not node or (sep and not iface):
        raise CliError(f"expected NODE or NODE:IFACE, got {target!r}")
    return node, iface or None


@click.command("capture")
@click.argument("target", metavar="NODE[:IFACE]")
@click.option("-w", "write", metavar="FILE",
              help="Write a pcap to FILE; '-' streams it to stdout (| wireshark -k -i -).")
@click.option("--bgp", is_flag=True, help="BGP only (tcp port 179).")
@click.option("--count", "-c", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N packets.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S",
              help="Stop after S seconds.")
@click.pass_context
def capture(ctx: click.Context, target: str, write: str | None, bgp: bool, count: int | None,
            duration: float | None) -> None:
    """Capture packets on IFACE of NODE (default: its first 802.1Q trunk or bridge port,
    where VLAN tags show, else `any`) until --count, --duration or Ctrl-C."""
    lab = lab_name(ctx)
    node, wanted = split_target(target)
    nodes, handle = find_node(lab, node)
    try:
        iface = pick_iface(interfaces(handle), wanted, node)
    except CaptureError as e:
        raise CliError(str(e)) from None
    if write == "-" and sys.stdout.isatty():
        raise CliError("-w - writes a binary pcap: pipe it (| wireshark -k -i -) or use -w FILE")
    out: IO[bytes]
    opened = None
    if write is not None and write != "-":
        try:
            out = opened = open(write, "wb")  # noqa: SIM115 (closed below, after tcpdump)
        except OSError as e:
            raise CliError(f"cannot write {write}: {e.strerror}") from None
    else:
        out = sys.stdout.buffer
        out.flush()

    def say(line: str) -> None:
        click.echo(line, err=True)

    cap = Capture(nodes, handle, iface, out=out, bgp=bgp, count=count, duration=duration,
                  pcap=write is not None, on_stderr=say)
    # tcpdump has a session of its own (the terminal's Ctrl-C reaches us only): SIGTERM and
    # SIGHUP end the capture like Ctrl-C, so that it never outlives this process.
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        cap.start()
        cap.wait()
    except CaptureError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a capture usually ends: stopped below, exit 0
    finally:
        cap.stop()  # reaps tcpdump whatever happened (and flushes its counts)
        for s, handler in previous.items():
            signal.signal(s, handler)
        if opened is not None:
            opened.close()
    # A reader that went away (wireshark closed) ends tcpdump by SIGPIPE: not a failure.
    if not cap.ok and cap.returncode != -signal.SIGPIPE:
        raise CliError(f"tcpdump in {node} exited with status {cap.returncode}: "
                       f"{cap.summary() or 'no message'}")
