"""Unit tests of controller.core.events: real ExaBGP 5.0.15 lines plus hand-made edge cases."""

from __future__ import annotations

import json

import pytest

from controller.core.events import (
    Ack,
    Announced,
    BridgeHello,
    EndOfRib,
    ReplayDone,
    Route,
    RouteUpdate,
    SessionState,
    decode_event,
    encode_event,
    has_as_loop,
    parse_line,
)

# Captured from ExaBGP 5.0.15 speakers in network namespaces (tsp-a AS 12876, tsp-b AS 64512).
STATE_CONNECTED = (
    '{ "exabgp": "5.0.0", "time": 1795319260.8181038, "host" : "vm", "pid" : 3733, "ppid" : 1'
    ', "counter": 1, "type": "state", "neighbor": { "address": { "local": "169.254.0.16", "pe'
    'er": "169.254.0.17" }, "asn": { "local": 12876, "peer": 64512 }, "router-id": "169.254.0'
    '.16" , "state": "connected" } }'
)
STATE_DOWN_COLLISION = (
    '{ "exabgp": "5.0.0", "time": 1795319260.852958, "host" : "vm", "pid" : 3733, "ppid" : 1,'
    ' "counter": 4, "type": "state", "neighbor": { "address": { "local": "169.254.0.16", "pee'
    'r": "169.254.0.17" }, "asn": { "local": 12876, "peer": 64512 }, "router-id": "169.254.0.'
    '16" , "state": "down", "reason": "closing outgoing connection as we have another incomin'
    'g on with higher router-id" } }'
)
STATE_UP_V6 = (
    '{ "exabgp": "5.0.0", "time": 1795319262.341806, "host" : "vm", "pid" : 3733, "ppid" : 1,'
    ' "counter": 84, "type": "state", "neighbor": { "address": { "local": "2001:db8:fc60::", '
    '"peer": "2001:db8:fc60::1" }, "asn": { "local": 12876, "peer": 64512 }, "router-id": "16'
    '9.254.0.16" , "state": "up" } }'
)
EOR_V6 = (
    '{ "exabgp": "5.0.0", "time": 1795319262.374717, "host" : "vm", "pid" : 3733, "ppid" : 1,'
    ' "counter": 85, "type": "update", "neighbor": { "address": { "local": "2001:db8:fc60::",'
    ' "peer": "2001:db8:fc60::1" }, "asn": { "local": 12876, "peer": 64512 }, "router-id": "1'
    '69.254.0.16" , "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "u'
    'nicast" } } } }'
)
UPDATE_V4_ASPATH = (
    '{ "exabgp": "5.0.0", "time": 1795319281.8271213, "host" : "vm", "pid" : 3735, "ppid" : 1'
    ', "counter": 168, "type": "update", "neighbor": { "address": { "local": "169.254.0.17", '
    '"peer": "169.254.0.16" }, "asn": { "local": 64512, "peer": 12876 }, "router-id": "169.25'
    '4.0.17" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp'
    '", "as-path": {"0": {"element": "as-sequence", "value": [64999, 12876]}}, "community": ['
    ' [ 12876, 42100 ], [ 12876, 42200 ] ] }, "announce": { "ipv4 unicast": { "169.254.0.16":'
    ' [ { "nlri": "198.51.100.0/24" } ] } } } } } }'
)
UPDATE_V6 = (
    '{ "exabgp": "5.0.0", "time": 1795319281.8278246, "host" : "vm", "pid" : 3735, "ppid" : 1'
    ', "counter": 88, "type": "update", "neighbor": { "address": { "local": "2001:db8:fc60::1'
    '", "peer": "2001:db8:fc60::" }, "asn": { "local": 64512, "peer": 12876 }, "router-id": "'
    '169.254.0.17" , "direction": "receive", "message": { "update": { "attribute": { "origin"'
    ': "igp", "as-path": {"0": {"element": "as-sequence", "value": [12876]}}, "community": [ '
    '[ 12876, 42200 ] ] }, "announce": { "ipv6 unicast": { "2001:db8:fc60::": [ { "nlri": "20'
    '01:db8:100::/48" } ] } } } } } }'
)
UPDATE_V4_BATCH = (
    '{ "exabgp": "5.0.0", "time": 1795319281.8387938, "host" : "vm", "pid" : 3735, "ppid" : 1'
    ', "counter": 169, "type": "update", "neighbor": { "address": { "local": "169.254.0.17", '
    '"peer": "169.254.0.16" }, "asn": { "local": 64512, "peer": 12876 }, "router-id": "169.25'
    '4.0.17" , "direction": "receive", "message": { "update": { "attribute": { "origin": "igp'
    '", "as-path": {"0": {"element": "as-sequence", "value": [12876]}}, "community": [ [ 1287'
    '6, 42050 ] ] }, "announce": { "ipv4 unicast": { "169.254.0.16": [ { "nlri": "203.0.113.0'
    '/25" }, { "nlri": "203.0.113.128/25" } ] } } } } } }'
)
WITHDRAW_V4 = (
    '{ "exabgp": "5.0.0", "time": 1795319282.3238165, "host" : "vm", "pid" : 3735, "ppid" : 1'
    ', "counter": 170, "type": "update", "neighbor": { "address": { "local": "169.254.0.17", '
    '"peer": "169.254.0.16" }, "asn": { "local": 64512, "peer": 12876 }, "router-id": "169.25'
    '4.0.17" , "direction": "receive", "message": { "update": { "withdraw": { "ipv4 unicast":'
    ' [ { "nlri": "198.51.100.0/24" }, { "nlri": "203.0.113.0/25" }, { "nlri": "203.0.113.128'
    '/25" } ] } } } } }'
)
WITHDRAW_V6 = (
    '{ "exabgp": "5.0.0", "time": 1795319282.324276, "host" : "vm", "pid" : 3735, "ppid" : 1,'
    ' "counter": 91, "type": "update", "neighbor": { "address": { "local": "2001:db8:fc60::1"'
    ', "peer": "2001:db8:fc60::" }, "asn": { "local": 64512, "peer": 12876 }, "router-id": "1'
    '69.254.0.17" , "direction": "receive", "message": { "update": { "withdraw": { "ipv6 unic'
    'ast": [ { "nlri": "2001:db8:200::/48" } ] } } } } }'
)


def _envelope(peer: str, local: str, message: dict[str, object]) -> str:
    """A line shaped like ExaBGP's, for cases our ExaBGP pair cannot produce (FRR, BIRD)."""
    return json.dumps({
        "exabgp": "5.0.0", "time": 1.0, "host": "vm", "pid": 1, "ppid": 1, "counter": 1,
        "type": "update",
        "neighbor": {
            "address": {"local": local, "peer": peer},
            "asn": {"local": 12876, "peer": 64512},
            "direction": "receive",
            "message": message,
        },
    })


# --- real lines ---------------------------------------------------------------------


def test_state_connected() -> None:
    assert parse_line(STATE_CONNECTED) == SessionState("169.254.0.17", "169.254.0.16", "connected")


def test_state_down_has_reason() -> None:
    ev = parse_line(STATE_DOWN_COLLISION)
    assert isinstance(ev, SessionState)
    assert ev.state == "down"
    assert ev.reason.startswith("closing outgoing connection")


def test_state_up_v6() -> None:
    assert parse_line(STATE_UP_V6) == SessionState("2001:db8:fc60::1", "2001:db8:fc60::", "up")


def test_eor_real() -> None:
    assert parse_line(EOR_V6) == EndOfRib("2001:db8:fc60::1", "ipv6")


def test_update_v4_as_path_dict_and_communities() -> None:
    ev = parse_line(UPDATE_V4_ASPATH)
    assert ev == RouteUpdate(
        "169.254.0.16",
        (Route("198.51.100.0/24", "169.254.0.16", (64999, 12876),
               ((12876, 42100), (12876, 42200)), "ipv4"),),
        (),
    )


def test_update_v6() -> None:
    ev = parse_line(UPDATE_V6)
    assert isinstance(ev, RouteUpdate)
    assert ev.peer == "2001:db8:fc60::"
    assert ev.announced == (
        Route("2001:db8:100::/48", "2001:db8:fc60::", (12876,), ((12876, 42200),), "ipv6"),
    )


def test_update_v4_batch() -> None:
    ev = parse_line(UPDATE_V4_BATCH)
    assert isinstance(ev, RouteUpdate)
    assert [r.prefix for r in ev.announced] == ["203.0.113.0/25", "203.0.113.128/25"]
    assert all(r.communities == ((12876, 42050),) for r in ev.announced)


def test_withdraw_v4_and_v6() -> None:
    ev = parse_line(WITHDRAW_V4)
    assert ev == RouteUpdate(
        "169.254.0.16",
        (),
        (("ipv4", "198.51.100.0/24"), ("ipv4", "203.0.113.0/25"), ("ipv4", "203.0.113.128/25")),
    )
    ev6 = parse_line(WITHDRAW_V6)
    assert ev6 == RouteUpdate("2001:db8:fc60::", (), (("ipv6", "2001:db8:200::/48"),))


# --- hand-made edge cases -----------------------------------------------------------


def test_acks_are_plain_text() -> None:
    assert parse_line("done\n") == Ack(True, "done")
    assert parse_line("error") == Ack(False, "error")


def test_eor_handmade_v6() -> None:
    line = _envelope("2001:db8:fc60::1", "2001:db8:fc60::",
                     {"eor": {"afi": "ipv6", "safi": "unicast"}})
    assert parse_line(line) == EndOfRib("2001:db8:fc60::1", "ipv6")


def test_v6_global_and_link_local_next_hops_keep_global() -> None:
    for order in (("2001:db8:fc60::1", "fe80::1"), ("fe80::1", "2001:db8:fc60::1")):
        line = _envelope("2001:db8:fc60::1", "2001:db8:fc60::", {"update": {
            "attribute": {"origin": "igp", "as-path": {"0": {"element": "as-sequence",
                                                             "value": [64512]}}},
            "announce": {"ipv6 unicast": {nh: [{"nlri": "2001:db8:100::/48"},
                                               {"nlri": "2001:db8:101::/48"}] for nh in order}},
        }})
        ev = parse_line(line)
        assert isinstance(ev, RouteUpdate)
        assert [(r.prefix, r.next_hop) for r in ev.announced] == [
            ("2001:db8:100::/48", "2001:db8:fc60::1"),
            ("2001:db8:101::/48", "2001:db8:fc60::1"),
        ], order


def test_announce_and_withdraw_in_one_update_and_42_as_path_list() -> None:
    line = _envelope("169.254.0.17", "169.254.0.16", {"update": {
        "attribute": {"origin": "igp", "as-path": [64512, 64513], "community": [[12876, 42200]]},
        "announce": {"ipv4 unicast": {"169.254.0.17": [{"nlri": "198.51.100.0/24"}]}},
        "withdraw": {"ipv4 unicast": [{"nlri": "203.0.113.0/24"}]},
    }})
    assert parse_line(line) == RouteUpdate(
        "169.254.0.17",
        (Route("198.51.100.0/24", "169.254.0.17", (64512, 64513), ((12876, 42200),), "ipv4"),),
        (("ipv4", "203.0.113.0/24"),),
    )


def test_multi_segment_as_path_and_unknown_family_ignored() -> None:
    line = _envelope("169.254.0.17", "169.254.0.16", {"update": {
        "attribute": {"as-path": {"0": {"element": "as-sequence", "value": [64512]},
                                  "1": {"element": "as-set", "value": [65001, 65002]}}},
        "announce": {"ipv4 flow": {"no-nexthop": [{"destination-ipv4": ["10.0.0.0/8"]}]},
                     "ipv4 unicast": {"169.254.0.17": [{"nlri": "198.51.100.0/24"}]}},
    }})
    ev = parse_line(line)
    assert isinstance(ev, RouteUpdate)
    assert ev.announced == (Route("198.51.100.0/24", "169.254.0.17", (64512, 65001, 65002),
                                  (), "ipv4"),)


def test_as_loop() -> None:
    looped = Route("198.51.100.0/24", "169.254.0.17", (64512, 12876, 64999), (), "ipv4")
    clean = Route("198.51.100.0/24", "169.254.0.17", (64512,), (), "ipv4")
    assert has_as_loop(looped, 12876)
    assert not has_as_loop(clean, 12876)
    assert not has_as_loop(Route("203.0.113.0/24", "x", (), (), "ipv4"), 12876)


@pytest.mark.parametrize("garbage", [
    "", "   \n", "not json", "{", "[1,2]", "{}", '{"type": "state"}',
    '{"type": "state", "neighbor": []}',
    '{"type": "notification", "neighbor": {"address": {"peer": "1.2.3.4"}}}',
    '{"type": "update", "neighbor": {"address": {"peer": "1.2.3.4"}, "message": 5}}',
    '{"type": "update", "neighbor": {"address": {"peer": "1.2.3.4"}, "message": {"update": '
    '{"announce": {"ipv4 unicast": {"1.2.3.4": [5, {"nlri": 7}]}}, "attribute": '
    '{"as-path": "x", "community": [[1], "y"]}}}}}',
    "\x00\xff", '{"type": "signal", "neighbor": {"address": {"peer": "x"}}}',
])
def test_garbage_never_raises(garbage: str) -> None:
    ev = parse_line(garbage)
    assert ev is None or (isinstance(ev, RouteUpdate) and ev.announced == ())


def test_codec_round_trip() -> None:
    events = [
        SessionState("169.254.0.17", "169.254.0.16", "down", "closing connection"),
        SessionState("169.254.0.17", "169.254.0.16", "up"),
        parse_line(UPDATE_V4_ASPATH),
        parse_line(WITHDRAW_V4),
        EndOfRib("169.254.0.17", "ipv4"),
        Ack(False, "error"),
        Announced("169.254.0.17", (("198.51.100.0/24", ("12876:42200",)), ("203.0.113.0/24", ()))),
        BridgeHello("scw-1234", 42, True),
        ReplayDone(("169.254.0.17", "2001:db8:fc60::1")),
    ]
    for ev in events:
        assert ev is not None
        line = encode_event(ev)
        assert "\n" not in line
        assert decode_event(line) == ev
        assert decode_event(line.encode()) == ev


@pytest.mark.parametrize("bad", ["", "x", "{}", '{"type": "update"}', '{"type": "zzz"}', "[]"])
def test_decode_garbage(bad: str) -> None:
    assert decode_event(bad) is None
