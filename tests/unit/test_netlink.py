"""The netlink codec (controller.drivers.netlink): encoding and decoding, no socket."""

from __future__ import annotations

import errno
import struct

from controller.drivers import netlink as nl


def test_attr_pads_to_four_bytes() -> None:
    assert nl.attr(7, b"bpf\0") == struct.pack("=HH", 8, 7) + b"bpf\0"
    assert nl.attr(1, b"clsact\0") == struct.pack("=HH", 11, 1) + b"clsact\0" + b"\0"
    assert nl.attr(3, b"") == struct.pack("=HH", 4, 3)


def test_nested_sets_the_flag_and_wraps() -> None:
    inner = nl.attr(6, struct.pack("=I", 9)) + nl.attr(7, b"x\0")
    assert nl.nested(2, nl.attr(6, struct.pack("=I", 9)), nl.attr(7, b"x\0")) == \
        struct.pack("=HH", 4 + len(inner), 2 | nl.NLA_F_NESTED) + inner


def test_messages_and_attributes_round_trip() -> None:
    body = b"\x01\x02\x03\x04" + nl.attr(1, b"abc") + nl.nested(2, nl.attr(5, b"\x7f" * 4))
    data = nl.message(24, nl.NLM_F_REQUEST, 41, body) + nl.message(3, 0, 42, b"\0" * 4)
    msgs = list(nl.iter_msgs(data))
    assert [(ln, typ, seq) for _, ln, typ, _, seq in msgs] == [(16 + len(body), 24, 41),
                                                               (20, 3, 42)]
    off, mlen = msgs[0][0], msgs[0][1]
    attrs = list(nl.iter_attrs(data, off + 20, off + mlen))
    assert [(t, data[s:e]) for t, s, e in attrs] == [
        (1, b"abc"), (2, nl.attr(5, b"\x7f" * 4))]  # the nested flag is stripped
    _, s, e = attrs[1]
    assert [(t, data[a:b]) for t, a, b in nl.iter_attrs(data, s, e)] == [(5, b"\x7f" * 4)]


def test_truncated_input_stops_cleanly() -> None:
    assert list(nl.iter_msgs(b"\0" * 15)) == []
    assert list(nl.iter_msgs(struct.pack("=IHHII", 3, 2, 0, 1, 0))) == []  # bad length
    assert list(nl.iter_attrs(struct.pack("=HH", 2, 1), 0, 4)) == []


def _error(err: int, flags: int = 0, tlvs: bytes = b"") -> bytes:
    echoed = struct.pack("=IHHII", 16, 24, 5, 9, 0)  # the request's header (NLM_F_CAPPED)
    return nl.message(nl.NLMSG_ERROR, flags, 9, struct.pack("=i", -err) + echoed + tlvs)


def test_error_code_and_text() -> None:
    data = _error(errno.EEXIST)
    [(off, mlen, mtype, mflags, _)] = nl.iter_msgs(data)
    assert (mtype, nl.error_code(data, off)) == (nl.NLMSG_ERROR, errno.EEXIST)
    assert nl.error_text(data, off, mlen, mflags, errno.EEXIST) == "File exists"
    ack = _error(0)
    assert nl.error_code(ack, 0) == 0


def test_error_text_with_the_kernels_reason() -> None:
    flags = nl.NLM_F_CAPPED | nl.NLM_F_ACK_TLVS
    reason = nl.attr(nl.NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0")
    data = _error(errno.ENETUNREACH, flags, reason)
    [(off, mlen, _, mflags, _)] = nl.iter_msgs(data)
    assert nl.error_text(data, off, mlen, mflags, errno.ENETUNREACH) == \
        "Network is unreachable: Nexthop has invalid gateway"
