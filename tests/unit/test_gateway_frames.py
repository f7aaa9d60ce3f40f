"""Frames on the wire: push frames spliced from one encoding, strict client frames."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Frame, Opcode

from gomicroim.gateway import frames
from gomicroim.gateway.connection import Connection
from gomicroim.gateway.protocol import text_frame
from gomicroim.modules.identity.contract import Principal

MESSAGE = {"conversation_id": "s:1:2", "seq": 7, "body": 'hi \u00e9 "quoted"'}


def test_message_push_frame_carries_the_message_and_user_seq_only_when_given() -> None:
    payload = json.dumps(MESSAGE)
    with_seq = json.loads(frames.push_frame("message", payload, 42))
    without = json.loads(frames.push_frame("message", payload, None))
    assert with_seq == {"type": "message", "message": MESSAGE, "user_seq": 42}
    assert without == {"type": "message", "message": MESSAGE}


def test_read_push_frame_flattens_the_read_fields() -> None:
    payload = json.dumps({"conversation_id": "s:1:2", "user_id": 2, "seq": 5})
    assert json.loads(frames.push_frame("read", payload, None)) == {
        "type": "read",
        "conversation_id": "s:1:2",
        "user_id": 2,
        "seq": 5,
    }


def test_settings_push_frame_flattens_the_settings_fields() -> None:
    payload = json.dumps(
        {"conversation_id": "g:7", "muted_until": 1_900_000_000_000, "pinned": False}
    )
    assert json.loads(frames.push_frame("settings", payload, None)) == {
        "type": "settings",
        "conversation_id": "g:7",
        "muted_until": 1_900_000_000_000,
        "pinned": False,
    }


def test_server_frames_have_their_type() -> None:
    hello = json.loads(frames.encode(frames.Hello(1, "d", "node-1", 9)))
    assert hello == {
        "type": "hello",
        "user_id": 1,
        "device_id": "d",
        "node_id": "node-1",
        "latest_user_seq": 9,
    }
    assert json.loads(frames.PONG) == {"type": "pong"}
    offline = json.loads(frames.encode(frames.PresenceFrame(4, False, 1_700_000_000_000)))
    online = json.loads(frames.encode(frames.PresenceFrame(4, True, None)))
    assert offline == {
        "type": "presence",
        "user_id": 4,
        "online": False,
        "last_seen_at": 1_700_000_000_000,
    }
    assert online == {"type": "presence", "user_id": 4, "online": True, "last_seen_at": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"ping"}', frames.Ping()),
        ('{"type":"ack","user_seq":3}', frames.Ack(3)),
        ('{"type":"subscribe_presence","user_ids":[2,3]}', frames.SubscribePresence([2, 3])),
        ('{"type":"subscribe_presence","user_ids":[]}', frames.SubscribePresence([])),
    ],
)
def test_client_frames_decode(text: str, expected: object) -> None:
    assert frames.decode_client(text) == expected


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("not json", "malformed"),
        ('{"type":"ping"', "truncated"),
        ('{"type":"nope"}', "Invalid value 'nope'"),
        ('{"type":"ack","user_seq":"x"}', "Expected `int`"),
        ('{"type":"ack","user_seq":-1}', ">= 0"),
        ('{"type":"ack","user_seq":9007199254740992}', "<= 9007199254740991"),
        ("[]", "Expected `object`"),
        ('{"type":"ping","x":1}', "unknown field"),
        ('{"type":"reauth"}', "missing required field `access_token`"),
        ('{"type":"ack","user_seq":1,"user_seq":2}', "'user_seq' appears more than once"),
        ('{"a":' * 2000 + "1" + "}" * 2000, "nested too deep"),
        ('{"x":' + "[" * 5000 + "]" * 5000 + ',"type":"ping"}', "nested too deep"),
        (b'{"type":"ping"}', "binary frames are not accepted"),
        ('{"type":"subscribe_presence"}', "missing required field `user_ids`"),
        ('{"type":"subscribe_presence","user_ids":[0]}', ">= 1"),
        ('{"type":"subscribe_presence","user_ids":["1"]}', "Expected `int`"),
        ('{"type":"subscribe_presence","user_ids":1}', "Expected `array`"),
    ],
)
def test_bad_client_frames_are_rejected_saying_why(data: str | bytes, says: str) -> None:
    with pytest.raises(frames.BadFrame) as bad:
        frames.decode_client(data)
    assert says in str(bad.value)


def test_a_reauth_frame_carries_its_token() -> None:
    assert frames.decode_client('{"type":"reauth","access_token":"t"}') == frames.Reauth("t")
    reauthed = json.loads(frames.encode(frames.Reauthed(access_expires_at=5)))
    assert reauthed == {"type": "reauthed", "access_expires_at": 5}


async def test_a_connection_over_its_pending_limit_is_closed_instead_of_buffering() -> None:
    principal = Principal(user_id=1, device_id="d", session_id=1, client_type="app")
    connection = Connection(None, principal, node_id="n", max_pending_bytes=100)  # type: ignore[arg-type]
    assert connection.send("x" * 60)
    assert not connection.send("y" * 60)
    assert connection.closing
    assert not connection.send("z")
    connection.cancel()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_a_pushed_text_frame_is_the_frame_websockets_would_send(size: int) -> None:
    payload = ("é" * size).encode()[:size]
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected
