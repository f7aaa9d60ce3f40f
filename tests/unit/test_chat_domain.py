"""Pure chat rules: conversation ids, participants, body limits and read positions."""

from __future__ import annotations

import pytest

from gomicroim.errors import Forbidden, InvalidInput, TooLarge
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import MessageSend, MsgType, SessionType

MAX_ID = 2**53 - 1


def send(
    to: int = 2, session_type: SessionType = "single", body: str = "hi", msg_type: MsgType = "text"
) -> MessageSend:
    return MessageSend(
        to=to, session_type=session_type, client_msg_id="c1", msg_type=msg_type, body=body
    )


def test_a_single_conversation_id_does_not_depend_on_who_sends() -> None:
    assert domain.single_conversation(9, 3) == domain.single_conversation(3, 9)
    ref = domain.single_conversation(9, 3)
    assert (ref.id, ref.session_type, ref.users, ref.group_id) == ("s:3:9", "single", (3, 9), None)


def test_the_peer_of_each_participant_is_the_other_one() -> None:
    ref = domain.single_conversation(3, 9)

    assert ref.peer_of(3) == 9
    assert ref.peer_of(9) == 3
    assert ref.includes(3)
    assert ref.includes(9)
    assert not ref.includes(4)


def test_a_group_conversation_has_no_peer_and_no_fixed_participants() -> None:
    ref = domain.group_conversation(42)

    assert (ref.id, ref.session_type, ref.group_id) == ("g:42", "group", 42)
    assert ref.peer_of(1) is None
    assert not ref.includes(1)


def test_send_targets_the_group_or_the_pair() -> None:
    assert domain.conversation_for_send(7, send(to=42, session_type="group")).id == "g:42"
    assert domain.conversation_for_send(7, send(to=3)).id == "s:3:7"
    assert domain.conversation_for_send(3, send(to=7)).id == "s:3:7"


def test_a_single_chat_with_oneself_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        domain.conversation_for_send(7, send(to=7))

    assert err.value.code == "cannot_message_self"


def test_a_group_whose_id_equals_the_sender_id_is_fine() -> None:
    assert domain.conversation_for_send(7, send(to=7, session_type="group")).id == "g:7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s:1:2", domain.single_conversation(1, 2)),
        (f"s:1:{MAX_ID}", domain.single_conversation(1, MAX_ID)),
        ("g:1", domain.group_conversation(1)),
        (f"g:{MAX_ID}", domain.group_conversation(MAX_ID)),
    ],
)
def test_valid_conversation_ids_parse(text: str, expected: domain.ConversationRef) -> None:
    assert domain.parse_conversation_id(text) == expected
    assert domain.parse_conversation_id(text).id == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "g",
        "g:",
        "g:0",
        "g:-1",
        "g:+1",
        "g:01",
        "g: 1",
        "g:1 ",
        "g:1.0",
        "g:1e3",
        "g:0x1f",
        f"g:{MAX_ID + 1}",
        "g:99999999999999999999",
        "g:1:2",
        "G:1",
        "x:1",
        "s:1",
        "s:2:1",
        "s:1:1",
        "s:0:1",
        "s:1:2:3",
        "s:a:b",
        "s::2",
        "g:\uff11",  # fullwidth digit one: int() accepts it, it is not an id we issue
        "g:\u00b2",  # superscript two: str.isdigit() is True for it, int() refuses it
        "s:1:\u00b2",
        "g:\u07c1",  # NKo digit one
    ],
)
def test_malformed_conversation_ids_are_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput) as err:
        domain.parse_conversation_id(text)

    assert err.value.code == "invalid_conversation_id"
    assert err.value.field == "conversation_id"
    assert err.value.status == 400


def test_system_messages_are_reserved_for_the_server() -> None:
    with pytest.raises(InvalidInput) as err:
        domain.check_message(send(msg_type="system"), 100)

    assert (err.value.code, err.value.field) == ("msg_type_not_allowed", "msg_type")


@pytest.mark.parametrize(
    "msg_type", ["text", "image", "file", "audio", "video", "location", "custom"]
)
def test_every_client_message_type_is_accepted(msg_type: MsgType) -> None:
    domain.check_message(send(msg_type=msg_type), 100)


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        ("a" * 10, 10),
        ("é" * 5, 10),  # 2-byte characters
        ("界" * 3 + "a", 10),  # 3-byte characters
        ("🐱" * 2 + "ab", 10),  # 4-byte characters
        ("", 1),
    ],
)
def test_a_body_at_the_byte_limit_is_accepted(body: str, limit: int) -> None:
    assert len(body.encode()) == limit or body == ""

    domain.check_message(send(body=body), limit)


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        ("a" * 11, 10),
        ("é" * 5 + "a", 10),
        ("界" * 4, 10),  # 4 characters but 12 bytes
        ("🐱" * 3, 10),  # 3 characters but 12 bytes
        ("a" * 9 + "é", 10),  # the last character straddles the limit
    ],
)
def test_a_body_over_the_limit_in_utf8_bytes_is_too_large(body: str, limit: int) -> None:
    with pytest.raises(TooLarge) as err:
        domain.check_message(send(body=body), limit)

    assert (err.value.code, err.value.field, err.value.status) == ("body_too_large", "body", 413)
    assert str(len(body.encode())) in err.value.message


def test_only_the_two_users_may_read_a_single_chat() -> None:
    ref = domain.single_conversation(3, 9)
    domain.require_single_participant(ref, 3)
    domain.require_single_participant(ref, 9)

    with pytest.raises(Forbidden) as err:
        domain.require_single_participant(ref, 4)

    assert err.value.code == "not_a_participant"


def test_group_participation_is_not_decided_by_the_id() -> None:
    domain.require_single_participant(domain.group_conversation(5), 4)


@pytest.mark.parametrize(
    ("current", "requested", "last", "expected"),
    [
        (0, 3, 10, 3),  # forward
        (5, 3, 10, 5),  # never back
        (5, 5, 10, 5),
        (5, 99, 10, 10),  # clamped to the last message
        (0, 0, 0, 0),
        (10, 12, 10, 10),
    ],
)
def test_read_position_moves_forward_only_and_not_past_the_last_seq(
    current: int, requested: int, last: int, expected: int
) -> None:
    assert domain.next_read_seq(current, requested, last) == expected


@pytest.mark.parametrize(
    ("last", "read", "expected"), [(10, 3, 7), (10, 10, 0), (0, 0, 0), (3, 10, 0)]
)
def test_unread_is_never_negative(last: int, read: int, expected: int) -> None:
    assert domain.unread(last, read) == expected
