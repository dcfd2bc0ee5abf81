"""The netlink wire format: message and attribute encoding and decoding, plus a socket for
one-at-a-time requests (I/O only in ``Channel``).

Layouts are those of linux/netlink.h: a 16-byte ``nlmsghdr`` then the family's fixed header
and its attributes (``nlattr``: 4-byte length and type, payload padded to 4 bytes). The
structs are module-level so hot loops (``controller.drivers.kernel`` packs one message per
route) pay no lookup beyond an attribute access.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Iterator

# Message types and flags (linux/netlink.h).
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300
# In NLMSG_ERROR replies: only the request header is echoed / extended-ack attributes follow.
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
# Socket options (level SOL_NETLINK).
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
ATTR = struct.Struct("=HH")  # nlattr / rtattr: len, type
ATTR_U32 = struct.Struct("=HHI")  # an attribute holding one u32
I32 = struct.Struct("=i")


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    n = 4 + len(payload)
    return ATTR.pack(n, kind) + payload + b"\0" * (-n % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    """An attribute holding attributes (NLA_F_NESTED set)."""
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    return HDR.pack(16 + len(body), msg_type, flags, seq, 0) + body


def iter_msgs(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(offset, length, type, flags, seq) of each netlink message in one datagram."""
    off, end = 0, len(data)
    while off + 16 <= end:
        mlen, mtype, mflags, seq, _pid = HDR.unpack_from(data, off)
        if mlen < 16:
            return
        yield off, mlen, mtype, mflags, seq
        off += (mlen + 3) & ~3


def iter_attrs(data: bytes | memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type, payload start, payload end) of the attributes in data[start:end]; the type
    without its NLA_F_NESTED / NLA_F_NET_BYTEORDER bits."""
    while start + 4 <= end:
        alen, atype = ATTR.unpack_from(data, start)
        if alen < 4:
            break
        yield atype & 0x3FFF, start + 4, start + alen
        start += (alen + 3) & ~3


def error_code(data: bytes, off: int) -> int:
    """The errno of the NLMSG_ERROR message at ``off`` (0: an ack)."""
    return -I32.unpack_from(data, off + 16)[0]


def error_text(data: bytes, off: int, mlen: int, mflags: int, err: int) -> str:
    """strerror(err), plus the kernel's extended-ack message when it sent one."""
    text = os.strerror(err)
    if not mflags & NLM_F_ACK_TLVS:
        return text
    # The echoed request: its header only when NLM_F_CAPPED, else the whole message.
    echoed = 16 if mflags & NLM_F_CAPPED else HDR.unpack_from(data, off + 20)[0]
    for atype, start, stop in iter_attrs(data, off + 20 + ((echoed + 3) & ~3), off + mlen):
        if atype == NLMSGERR_ATTR_MSG:
            msg = bytes(data[start:stop]).rstrip(b"\0").decode(errors="replace")
            if msg:
                return f"{text}: {msg}"
    return text


class Channel:
    """A NETLINK_ROUTE socket for requests answered one at a time, in the network namespace
    of the thread that creates it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        with contextlib.suppress(OSError):  # the kernel's reason text in errors, if it can
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> None:
        """Send one request (NLM_F_REQUEST | NLM_F_ACK added) and wait for its ack;
        OSError(errno, "<what>: <reason>") if the kernel refused it."""
        self.seq += 1
        self.sock.send(message(msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, body))
        while True:
            data = self.sock.recv(65536)
            for off, mlen, mtype, mflags, seq in iter_msgs(data):
                if mtype == NLMSG_ERROR and seq == self.seq:
                    err = error_code(data, off)
                    if err:
                        raise OSError(err, f"{what}: {error_text(data, off, mlen, mflags, err)}")
                    return
