"""The page recovers by itself: a cut network, a server restart, access tokens expiring."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.browser.chat import LIVE_S, ApiUser, ChatPage, api_user, history, send_many, title_unread
from tests.browser.conftest import OpenChat, running_server
from tests.browser.proxy import CuttableProxy
from tests.e2e.client import conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[CuttableProxy]:
    cut = CuttableProxy(server.port)
    cut.start()
    try:
        yield cut
    finally:
        cut.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, which it may restart."""
    with running_server(tmp_path) as process:
        yield process


def reader_with_open_chat(chat: ChatPage, base_url: str, writer: ApiUser) -> tuple[ApiUser, str]:
    """A reader, signed in on ``chat``, looking at their chat with ``writer``."""
    reader = api_user(base_url, "reader")
    send_many(base_url, writer, reader.id, ["before the break"])
    conv = conversation_id(writer.id, reader.id)
    chat.login(reader.username)
    chat.open_conversation(conv)
    chat.wait_for_seq(1)
    return reader, conv


def test_a_cut_network_is_reconnected_with_backoff_and_every_missed_message_shown_once(
    open_chat: OpenChat, server: ServerProcess, proxy: CuttableProxy
) -> None:
    alice = api_user(server.base_url, "alice")
    carol = api_user(server.base_url, "carol")
    bob = open_chat(f"http://127.0.0.1:{proxy.port}")
    reader, conv = reader_with_open_chat(bob, server.base_url, alice)
    other = conversation_id(carol.id, reader.id)

    proxy.cut()
    expect(bob.page.get_by_test_id("connection-state")).to_have_attribute("data-state", "offline")
    missed = [f"while you were away {i}" for i in range(20)]
    send_many(server.base_url, alice, reader.id, missed)
    send_many(server.base_url, carol, reader.id, [f"carol {i}" for i in range(5)])
    time.sleep(4)
    attempts = proxy.ws_attempts_while_cut
    proxy.restore()

    # Backoff: a handful of tries in four seconds, not a hot loop, and not giving up.
    assert 2 <= attempts <= 6, attempts
    bob.wait_online(timeout_s=20)
    bob.wait_for_seq(21)
    assert bob.messages() == history(server.base_url, reader.token, conv)
    assert [body for _, body in bob.messages()[1:]] == missed
    expect(bob.badge(other)).to_have_text("5")
    expect(bob.badge(conv)).to_have_count(0)
    assert title_unread(bob.page) == 5


def test_a_server_restart_is_survived_without_losing_or_repeating_a_message(
    open_chat: OpenChat, own_server: ServerProcess
) -> None:
    alice = api_user(own_server.base_url, "alice")
    bob = open_chat(own_server.base_url)
    reader, conv = reader_with_open_chat(bob, own_server.base_url, alice)

    own_server.stop()
    expect(bob.page.get_by_test_id("connection-state")).not_to_have_attribute(
        "data-state", "online"
    )
    own_server.start()
    send_many(own_server.base_url, alice, reader.id, [f"after restart {i}" for i in range(10)])

    bob.wait_online(timeout_s=20)
    bob.wait_for_seq(11)
    assert bob.messages() == history(own_server.base_url, reader.token, conv)
    assert len(bob.messages()) == 11
    # Live again: the next message arrives as a push.
    send_many(own_server.base_url, alice, reader.id, ["live again"])
    bob.wait_for_seq(12, timeout_s=LIVE_S)


def test_the_access_token_is_renewed_before_it_expires(open_chat: OpenChat, tmp_path: Path) -> None:
    with running_server(tmp_path, GOMICROIM__IDENTITY__ACCESS_TTL_S="4") as short:
        alice = api_user(short.base_url, "alice")
        bob = open_chat(short.base_url)
        _, conv = reader_with_open_chat(bob, short.base_url, alice)
        first = bob.stored_tokens()

        time.sleep(6)

        renewed = bob.stored_tokens()
        assert renewed["access_token"] != first["access_token"]
        assert renewed["refresh_token"] != first["refresh_token"]
        assert renewed["access_expires_at"] > time.time() * 1000
        bob.wait_online()
        bob.send("still here")
        bob.wait_for_seq(2)
        expect(bob.page.get_by_test_id("login-submit")).to_be_hidden()
        assert history(short.base_url, renewed["access_token"], conv)[-1] == (2, "still here")
