"""Nexthop objects (Linux >= 5.3) for the routes one ``RouteTable`` programs.

Why: a route naming a nexthop id costs the kernel about a third less to install than one
spelling its gateway (100k routes: 0.23-0.30 s of system time against 0.39-0.46 s), and
deleting a nexthop removes every route through it in one request (100k routes: ~0.05 s
against ~0.45 s one by one). A propagation switch or a lost link at 100k routes is then one
request. The kernel announces only RTM_DELNEXTHOP then, not one RTM_DELROUTE per route, so
callers keep that for bulk removals.

One object per gateway (its device from the kernel's own route lookup), one group per ECMP
set, marked with the table's protocol, so a restarted controller finds and reuses them. One
``RouteTable`` per namespace and protocol owns them. Where one cannot be made (a gateway not
directly reachable, a kernel without nexthop objects) the caller spells the gateway instead.

Not thread-safe: the owning ``RouteTable`` calls it under its lock, on its socket.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable, Iterator

from controller.drivers import netlink as nl

__all__ = ["Nexthops", "gateway_key"]

# linux/rtnetlink.h, linux/nexthop.h
_RTM_NEWROUTE = 24
_RTM_GETROUTE = 26
_RTM_NEWNEXTHOP = 104
_RTM_DELNEXTHOP = 105
_RTM_GETNEXTHOP = 106
_RTA_DST, _RTA_OIF, _RTA_GATEWAY = 1, 4, 5
_RTN_UNICAST = 1
_NHA_ID, _NHA_GROUP, _NHA_OIF, _NHA_GATEWAY = 1, 2, 5, 6

_NHMSG = struct.Struct("=BBBBI")  # family, scope, protocol, resvd, flags
_NH_GRP = struct.Struct("=IBBH")  # id, weight - 1, resvd1, resvd2
_RTM = struct.Struct("=BBBBBBBBI")
_U32 = struct.Struct("=I")

# (family, packed gateway addresses, sorted): what a nexthop object goes to
Key = tuple[int, tuple[bytes, ...]]


def gateway_key(gateways: tuple[str, ...]) -> Key:
    """The nexthop key of a route's gateways; ValueError if one is not an address or the
    families differ (the ECMP order does not matter)."""
    family = socket.AF_INET6 if ":" in gateways[0] else socket.AF_INET
    try:
        return family, tuple(sorted(socket.inet_pton(family, gw) for gw in gateways))
    except OSError:
        raise ValueError(f"bad gateway in {gateways!r}") from None


class Nexthops:
    """Our nexthop objects in one namespace: key -> id, read from the kernel when first
    needed and after ``forget``."""

    def __init__(self, sock: socket.socket, next_seq: Callable[[], int], proto: int) -> None:
        self._sock = sock
        self._next_seq = next_seq
        self.proto = proto
        self._ids: dict[Key, int] | None = None
        self._members: dict[int, tuple[int, ...]] = {}  # group id -> member ids
        self._top = 0  # the highest id in the namespace, ours or not
        self.supported = True  # False once the kernel refused to list nexthops

    def id_for(self, key: Key) -> int | None:
        """The id of the object for ``key``, made if need be; None if it cannot be."""
        ids = self._known()
        if ids is None:
            return None
        if key in ids:
            return ids[key]
        family, packed = key
        if len(packed) == 1:
            oif = self._device_to(family, packed[0])
            if oif is None:
                return None
            body = (_NHMSG.pack(family, 0, self.proto, 0, 0)
                    + nl.attr(_NHA_OIF, _U32.pack(oif)) + nl.attr(_NHA_GATEWAY, packed[0]))
            members: tuple[int, ...] = ()
        else:
            singles = [self.id_for((family, (p,))) for p in packed]
            if None in singles:
                return None
            members = tuple(i for i in singles if i is not None)
            body = (_NHMSG.pack(socket.AF_UNSPEC, 0, self.proto, 0, 0)
                    + nl.attr(_NHA_GROUP, b"".join(_NH_GRP.pack(i, 0, 0, 0) for i in members)))
        for _attempt in range(2):
            nh_id = self._top + 1
            err = self._ack(_RTM_NEWNEXTHOP, nl.NLM_F_CREATE | nl.NLM_F_EXCL,
                            body + nl.attr(_NHA_ID, _U32.pack(nh_id)))
            if err != errno.EEXIST:
                break
            # another writer took the id: read the namespace's objects again, once
            self.forget()
            ids = self._known()
            if ids is None:
                return None
            if key in ids:
                return ids[key]
        if err:
            return None
        self._top = nh_id
        if self._ids is not None:  # (re-read meanwhile if a member's creation collided)
            self._ids[key] = nh_id
        if members:
            self._members[nh_id] = members
        return nh_id

    def drop(self, key: Key) -> bool:
        """Delete the object for ``key`` and with it every route through it; False (nothing
        done) if there is none or a group of ours holds it (its routes would change)."""
        ids = self._known()
        nh_id = None if ids is None else ids.get(key)
        if ids is None or nh_id is None or any(nh_id in m for m in self._members.values()):
            return False
        err = self._ack(_RTM_DELNEXTHOP, 0, _NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
                        + nl.attr(_NHA_ID, _U32.pack(nh_id)))
        if err not in (0, errno.ENOENT):
            return False
        del ids[key]
        self._members.pop(nh_id, None)
        return True

    def forget(self) -> None:
        """Read the objects from the kernel again before the next use (one went missing:
        its device was removed, say)."""
        self._ids = None
        self._members = {}

    # -- internals --------------------------------------------------------------------------

    def _known(self) -> dict[Key, int] | None:
        if self._ids is None and self.supported:
            try:
                self._ids = self._read()
            except OSError:
                self.supported = False
        return self._ids

    def _read(self) -> dict[Key, int]:
        """Our objects in the namespace, from one dump."""
        singles: dict[int, Key] = {}
        groups: dict[int, tuple[int, ...]] = {}
        self._top = 0
        for data, off, mlen in self._exchange(_RTM_GETNEXTHOP, nl.NLM_F_DUMP,
                                              _NHMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family, _scope, proto, _r, _f = _NHMSG.unpack_from(data, off + 16)
            nh_id, gateway = 0, b""
            members: tuple[int, ...] = ()
            for atype, a, b in nl.iter_attrs(data, off + 16 + _NHMSG.size, off + mlen):
                if atype == _NHA_ID:
                    nh_id = _U32.unpack_from(data, a)[0]
                elif atype == _NHA_GATEWAY:
                    gateway = bytes(data[a:b])
                elif atype == _NHA_GROUP:
                    members = tuple(_NH_GRP.unpack_from(data, p)[0]
                                    for p in range(a, b - _NH_GRP.size + 1, _NH_GRP.size))
            self._top = max(self._top, nh_id)
            if proto != self.proto or not nh_id:
                continue
            if members:
                groups[nh_id] = members
            elif gateway:
                singles[nh_id] = (family, (gateway,))
        ids = {key: nh_id for nh_id, key in singles.items()}
        for nh_id, group in groups.items():
            keys = [singles[m] for m in group if m in singles]
            if len(keys) == len(group) and len({family for family, _ in keys}) == 1:
                ids[keys[0][0], tuple(sorted(k[1][0] for k in keys))] = nh_id
                self._members[nh_id] = group
        return ids

    def _device_to(self, family: int, gateway: bytes) -> int | None:
        """The interface the kernel reaches ``gateway`` through directly, else None (it
        is behind another gateway, or local, or unreachable)."""
        body = (_RTM.pack(family, 8 * len(gateway), 0, 0, 0, 0, 0, 0, 0)
                + nl.attr(_RTA_DST, gateway))
        try:
            replies = list(self._exchange(_RTM_GETROUTE, 0, body))
        except OSError:
            return None
        for data, off, mlen in replies:
            if _RTM.unpack_from(data, off + 16)[7] != _RTN_UNICAST:
                return None
            oif = None
            for atype, a, _b in nl.iter_attrs(data, off + 16 + _RTM.size, off + mlen):
                if atype == _RTA_GATEWAY:
                    return None
                if atype == _RTA_OIF:
                    oif = _U32.unpack_from(data, a)[0]
            return oif
        return None

    def _ack(self, msg_type: int, flags: int, body: bytes) -> int:
        """Send one request; its errno (0: done)."""
        try:
            for _ in self._exchange(msg_type, flags, body):
                pass
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    def _exchange(self, msg_type: int, flags: int, body: bytes
                  ) -> Iterator[tuple[bytes, int, int]]:
        """One request (acked, or a dump): the (datagram, offset, length) of each answer
        message; OSError with the kernel's errno if it refused."""
        seq = self._next_seq()
        if flags & nl.NLM_F_DUMP != nl.NLM_F_DUMP:
            flags |= nl.NLM_F_ACK  # a dump ends with NLMSG_DONE instead
        self._sock.sendto(nl.message(msg_type, nl.NLM_F_REQUEST | flags, seq, body), (0, 0))
        answers: list[tuple[bytes, int, int]] = []
        while True:
            data = self._sock.recv(1 << 16)
            for off, mlen, mtype, _mflags, mseq in nl.iter_msgs(data):
                if mseq != seq:  # a stale reply from an interrupted earlier request
                    continue
                if mtype == nl.NLMSG_ERROR:
                    if err := nl.error_code(data, off):
                        raise OSError(err, f"nexthop request refused: errno {err}")
                    yield from answers
                    return
                if mtype == nl.NLMSG_DONE:
                    yield from answers
                    return
                if mtype in (_RTM_NEWNEXTHOP, _RTM_NEWROUTE):
                    answers.append((data, off, mlen))
