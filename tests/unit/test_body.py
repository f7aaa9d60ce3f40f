"""Strict request bodies: the error code and the field a client can fix."""

from __future__ import annotations

from typing import Any

import pytest

from gomicroim.errors import InvalidInput
from gomicroim.http.body import decode_body
from gomicroim.modules.chat.contract import MessageSend
from gomicroim.modules.groups.contract import GroupCreate
from gomicroim.modules.identity.contract import UserCreate


class Body:
    """The one thing :func:`decode_body` asks of a request."""

    def __init__(self, raw: bytes):
        self._raw = raw

    async def body(self) -> bytes:
        return self._raw


async def failure(raw: bytes, model: type[Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        await decode_body(Body(raw), model)  # type: ignore[arg-type]
    return err.value


async def test_a_valid_body_decodes() -> None:
    raw = (
        b'{"to": 2, "session_type": "single", "client_msg_id": "c1", "msg_type": "text",'
        b' "body": "hi"}'
    )

    message = await decode_body(Body(raw), MessageSend)  # type: ignore[arg-type]

    assert message == MessageSend(
        to=2, session_type="single", client_msg_id="c1", msg_type="text", body="hi"
    )


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"to": 1,}', b"\xff\xfe"])
async def test_a_body_that_is_not_json_is_malformed(raw: bytes) -> None:
    err = await failure(raw, MessageSend)

    assert (err.code, err.status) == ("malformed_json", 400)


@pytest.mark.parametrize(
    ("raw", "model", "field"),
    [
        (b'{"username": "al", "password": "12345678"}', UserCreate, "username"),
        (b'{"username": "alice", "password": 12345678}', UserCreate, "password"),
        (b'{"username": "alice"}', UserCreate, "password"),
        (b'{"username": "alice", "password": "12345678", "admin": true}', UserCreate, "admin"),
        (b'{"name": "g", "member_ids": [1, 0]}', GroupCreate, "member_ids[1]"),
        (b'{"name": "g", "member_ids": [9007199254740992]}', GroupCreate, "member_ids[0]"),
        (
            b'{"to": "2", "session_type": "single", "client_msg_id": "c", "msg_type": "text",'
            b' "body": ""}',
            MessageSend,
            "to",
        ),
        (
            b'{"to": 2, "session_type": "channel", "client_msg_id": "c", "msg_type": "text",'
            b' "body": ""}',
            MessageSend,
            "session_type",
        ),
        (
            b'{"to": 2, "session_type": "single", "client_msg_id": "has space",'
            b' "msg_type": "text", "body": ""}',
            MessageSend,
            "client_msg_id",
        ),
    ],
)
async def test_a_wrong_value_names_its_field(raw: bytes, model: type[Any], field: str) -> None:
    err = await failure(raw, model)

    assert (err.code, err.field) == ("invalid_field", field)
    assert field in err.message


async def test_a_body_of_the_wrong_shape_is_an_invalid_field_error() -> None:
    err = await failure(b"[1, 2]", UserCreate)

    assert err.code == "invalid_field"
