"""Pin, mute and presence in the web client, in real Chromium on a real server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from tests.browser.chat import LIVE_S, ApiUser, ChatPage, api_user, send_many, title_unread
from tests.browser.conftest import OpenChat
from tests.e2e.client import conversation_id
from tests.e2e.server import ServerProcess
from websockets.sync.client import connect

pytestmark = pytest.mark.browser


def _signed_in(chat: ChatPage, base_url: str, prefix: str) -> ApiUser:
    """A user made over the API, signed in on ``chat`` through the form."""
    user = api_user(base_url, prefix)
    chat.login(user.username)
    return user


def _order(chat: ChatPage) -> list[str]:
    return chat.page.eval_on_selector_all(
        '[data-testid="conversation-item"]', "nodes => nodes.map(n => n.dataset.conversationId)"
    )


def test_pin_moves_a_conversation_to_the_top_on_every_device_of_the_user(
    open_chat: OpenChat, server: ServerProcess, output_dir: Path
) -> None:
    base = server.base_url
    laptop = open_chat()
    me = _signed_in(laptop, base, "pinner")
    old, new = api_user(base, "old"), api_user(base, "new")
    send_many(base, old, me.id, ["from the older chat"])
    send_many(base, new, me.id, ["from the newer chat"])
    first, second = conversation_id(me.id, old.id), conversation_id(me.id, new.id)
    expect(laptop.item(first)).to_be_visible()
    expect(laptop.item(second)).to_be_visible()
    assert _order(laptop) == [second, first]
    phone = open_chat()
    phone.login(me.username)
    expect(phone.item(first)).to_be_visible()
    assert _order(phone) == [second, first]

    laptop.open_conversation(first)
    pin = laptop.page.get_by_test_id("pin-button")
    expect(pin).to_have_text("Pin")
    pin.click()
    expect(pin).to_have_text("Unpin")
    expect(pin).to_have_attribute("aria-pressed", "true")
    expect(laptop.item(first).get_by_test_id("pin-mark")).to_be_visible()
    assert _order(laptop) == [first, second]
    # The other device learns it from the `settings` frame, without reloading.
    expect(phone.item(first).get_by_test_id("pin-mark")).to_be_visible(timeout=LIVE_S * 1000)
    assert _order(phone) == [first, second]
    laptop.page.screenshot(path=str(output_dir / "pinned.png"))

    # A newer message elsewhere does not push the pinned one down.
    send_many(base, new, me.id, ["newer still"])
    expect(laptop.item(second).locator(".preview")).to_have_text("newer still")
    assert _order(laptop) == [first, second]

    # Unpinned on the phone: the laptop's list and header follow.
    phone.open_conversation(first)
    phone.page.get_by_test_id("pin-button").click()
    expect(laptop.item(first).get_by_test_id("pin-mark")).to_have_count(0, timeout=LIVE_S * 1000)
    expect(pin).to_have_text("Pin")
    assert _order(laptop) == [second, first]


def test_a_muted_conversation_is_marked_and_left_out_of_the_title_count(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    base = server.base_url
    laptop = open_chat()
    me = _signed_in(laptop, base, "muter")
    noisy, quiet, other = api_user(base, "noisy"), api_user(base, "quiet"), api_user(base, "oth")
    for sender, body in ((noisy, "ping"), (quiet, "hello"), (other, "hi")):
        send_many(base, sender, me.id, [body])
    loud, calm = conversation_id(me.id, noisy.id), conversation_id(me.id, quiet.id)
    elsewhere = conversation_id(me.id, other.id)
    expect(laptop.item(loud)).to_be_visible()
    laptop.open_conversation(loud)
    mute = laptop.page.get_by_test_id("mute-button")
    expect(mute).to_have_text("Mute")
    mute.click()
    expect(mute).to_have_text("Unmute")
    expect(mute).to_have_attribute("aria-pressed", "true")
    expect(laptop.item(loud).get_by_test_id("muted-mark")).to_be_visible()
    expect(laptop.item(calm).get_by_test_id("muted-mark")).to_have_count(0)

    # With a third chat open, the muted one gets three more: its own badge counts them, the
    # title counts only the chat that is not muted.
    laptop.open_conversation(elsewhere)
    expect(mute).to_have_text("Mute")
    expect(laptop.page).to_have_title("(1) gomicroim")
    send_many(base, noisy, me.id, ["a", "b", "c"])
    expect(laptop.badge(loud)).to_have_text("3")
    send_many(base, quiet, me.id, ["one for the title"])
    expect(laptop.badge(calm)).to_have_text("2")
    expect(laptop.page).to_have_title("(2) gomicroim")
    assert title_unread(laptop.page) == 2

    # Unmuted on another device (over the API): the mark goes and the title counts all five.
    response = httpx.patch(
        f"{base}/api/v1/conversations/{loud}/settings",
        json={"muted_until": None},
        headers={"Authorization": f"Bearer {me.token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    expect(laptop.item(loud).get_by_test_id("muted-mark")).to_have_count(0, timeout=LIVE_S * 1000)
    expect(laptop.page).to_have_title("(5) gomicroim")
    laptop.open_conversation(loud)
    expect(mute).to_have_text("Mute")
    expect(mute).to_have_attribute("aria-pressed", "false")


def test_the_header_and_the_list_show_whether_the_peer_is_online(
    open_chat: OpenChat, server: ServerProcess, output_dir: Path
) -> None:
    base = server.base_url
    peer = api_user(base, "peer")
    chat = open_chat()
    me = _signed_in(chat, base, "watcher")
    send_many(base, peer, me.id, ["are you there?"])
    conv = conversation_id(me.id, peer.id)
    expect(chat.item(conv)).to_be_visible()
    chat.open_conversation(conv)
    status = chat.page.get_by_test_id("presence-status")
    # The peer has never had a socket open.
    expect(status).to_have_text("offline")
    expect(chat.item(conv).get_by_test_id("online-dot")).to_have_count(0)

    ws_base = base.replace("http://", "ws://", 1)
    with connect(f"{ws_base}/ws?token={peer.token}") as socket:
        assert '"hello"' in str(socket.recv(timeout=10))
        expect(status).to_have_text("online", timeout=LIVE_S * 1000 * 3)
        expect(status).to_have_attribute("data-online", "true")
        expect(chat.item(conv).get_by_test_id("online-dot")).to_be_visible()
        chat.page.screenshot(path=str(output_dir / "presence-online.png"))
    expect(status).to_have_text(re.compile(r"^last seen \S"), timeout=LIVE_S * 1000 * 3)
    expect(chat.item(conv).get_by_test_id("online-dot")).to_have_count(0)

    # After a reload the page asks for the state again: still offline, with the time.
    chat.page.reload()
    chat.wait_online()
    chat.wait_loaded()
    expect(status).to_have_text(re.compile(r"^last seen \S"))
    # And it follows the peer again on the new socket.
    with connect(f"{ws_base}/ws?token={peer.token}") as socket:
        socket.recv(timeout=10)
        expect(status).to_have_text("online", timeout=LIVE_S * 1000 * 3)
