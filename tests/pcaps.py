"""Reading the lab's pcaps in tests: BGP messages decoded with scapy (scapy.contrib.bgp)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bgp_messages(path: Path) -> list[Any]:
    """Every packet of the pcap carrying BGP, as scapy decodes it (a pcap still being written
    may end in half a packet: what is whole is returned)."""
    from scapy.all import PcapReader, load_contrib
    from scapy.error import Scapy_Exception

    load_contrib("bgp")
    from scapy.contrib.bgp import BGPHeader

    out = []
    try:
        with PcapReader(str(path)) as reader:
            for pkt in reader:
                if pkt.haslayer(BGPHeader):
                    out.append(pkt)
    except (Scapy_Exception, EOFError, OSError):
        pass
    return out


def opens_and_updates(path: Path) -> tuple[set[int], set[str]]:
    """ASNs of the OPENs seen, IPv4 prefixes of the UPDATEs seen."""
    from scapy.contrib.bgp import BGPOpen, BGPUpdate

    asns, prefixes = set(), set()
    for pkt in bgp_messages(path):
        layer = pkt
        while layer:  # a segment may hold several messages
            if isinstance(layer, BGPOpen):
                asns.add(int(layer.my_as))
            if isinstance(layer, BGPUpdate):
                prefixes |= {n.prefix for n in layer.nlri}
            layer = layer.payload
    return asns, prefixes
