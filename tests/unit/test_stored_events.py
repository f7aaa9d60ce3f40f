"""Stored event JSON from other versions still decodes; the SQL fits each server flavour."""

from __future__ import annotations

import msgspec
import pytest

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.storage import codec
from gomicroim.modules.chat.storage.batch_sql import Statements, flavour_of

#: A message exactly as the first release stored it (timeline entries, last_message).
V1_MESSAGE = (
    '{"conversation_id":"s:1:2","seq":7,"sender_id":1,"to":2,"session_type":"single",'
    '"client_msg_id":"c7","msg_type":"text","body":"hello","created_at":1700000000000}'
)


def test_a_message_row_of_the_first_release_decodes() -> None:
    message = codec.decode_message(V1_MESSAGE)

    assert (message.seq, message.body) == (7, "hello")
    # The timeline module decodes its entries with a plain MessageRead decoder, too.
    assert msgspec.json.decode(V1_MESSAGE, type=MessageRead) == message


def test_an_outbox_row_written_before_schema_version_existed_decodes_as_version_1() -> None:
    event = codec.decode_committed(f'{{"message":{V1_MESSAGE},"sender_device_id":"d1"}}')

    assert event.schema_version == 1
    assert event.message.client_msg_id == "c7"


def test_rows_written_by_a_newer_version_decode_without_its_new_fields() -> None:
    newer = V1_MESSAGE[:-1] + ',"reactions":["+1"],"edited_at":null}'
    event = f'{{"message":{newer},"sender_device_id":"d1","schema_version":1,"trace":"x"}}'

    assert codec.decode_message(newer) == codec.decode_message(V1_MESSAGE)
    assert codec.decode_committed(event).message == codec.decode_message(V1_MESSAGE)


def test_what_is_stored_now_round_trips() -> None:
    message = codec.decode_message(V1_MESSAGE)
    event = MessageCommitted(message=message, sender_device_id="d1")

    assert codec.decode_committed(codec.encode(event)) == event


@pytest.mark.parametrize(
    ("version", "flavour"),
    [
        ("10.11.6-MariaDB-0+deb12u1", "mariadb"),
        ("8.0.36", "mysql"),
        ("8.0.19-log", "mysql"),
        ("8.0.18", "mysql-legacy"),
        ("5.7.44-log", "mysql-legacy"),
    ],
)
def test_the_server_flavour_comes_from_its_version(version: str, flavour: str) -> None:
    assert flavour_of("mysql", version) == flavour
    assert flavour_of("sqlite", "3.45.1") == "sqlite"


def test_mysql_8_upserts_with_the_row_alias_and_mariadb_with_values() -> None:
    # MySQL deprecates VALUES() in ON DUPLICATE KEY UPDATE from 8.0.20; MariaDB has no alias.
    assert "AS new" in Statements("mysql").advance_senders()
    assert "VALUES(" not in Statements("mysql").advance_senders()
    assert "VALUES(read_seq)" in Statements("mariadb").advance_senders()
    assert "excluded.read_seq" in Statements("sqlite").advance_senders()
