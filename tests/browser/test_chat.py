"""Everyday chat in real Chromium: live messages, unread badges, read receipts, groups, paging."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Response, expect
from tests.browser.chat import LIVE_S, api_user, history, send_many, title_unread
from tests.browser.conftest import OpenChat, running_server
from tests.e2e.client import conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.browser


def test_bob_sees_alices_message_live_and_alice_sees_that_he_read_it(open_chat: OpenChat) -> None:
    alice, bob = open_chat(), open_chat()
    alice.register("alice")
    bob.register("bob")
    alice_id, bob_id = alice.stored_tokens()["user_id"], bob.stored_tokens()["user_id"]
    conv = conversation_id(alice_id, bob_id)

    alice.start_chat(bob.username)
    alice.send("Hi Bob, lunch at noon?")
    expect(alice.message(1)).to_have_attribute("data-state", "sent")
    sent_at = time.monotonic()

    expect(bob.badge(conv)).to_have_text("1", timeout=LIVE_S * 1000)
    assert time.monotonic() - sent_at < LIVE_S
    expect(bob.item(conv)).to_contain_text("Hi Bob, lunch at noon?")
    assert title_unread(bob.page) == 1

    bob.open_conversation(conv)
    expect(bob.message(1).locator(".body")).to_have_text("Hi Bob, lunch at noon?")
    expect(bob.badge(conv)).to_have_count(0)
    expect(bob.page).to_have_title("gomicroim")
    expect(alice.message(1)).to_have_attribute("data-state", "read", timeout=LIVE_S * 1000)
    expect(alice.message(1).locator(".status")).to_have_text("Read")

    # Shift+Enter starts a new line; Enter sends.
    composer = bob.page.get_by_test_id("composer")
    composer.fill("Sure!")
    composer.press("Shift+Enter")
    composer.type("See you there.")
    composer.press("Enter")
    alice.wait_for_seq(2, timeout_s=LIVE_S)
    assert alice.messages() == [(1, "Hi Bob, lunch at noon?"), (2, "Sure!\nSee you there.")]
    expect(composer).to_have_value("")
    # Alice has the chat open and on screen, so Bob's reply never counts as unread for her.
    expect(alice.badge(conv)).to_have_count(0)


def test_a_reload_keeps_the_session_and_logout_ends_it(open_chat: OpenChat) -> None:
    carol = open_chat()
    carol.register("carol")
    device = carol.page.evaluate("localStorage.getItem('gomicroim.device')")
    token = carol.stored_tokens()["access_token"]

    carol.page.reload()
    carol.wait_online()
    expect(carol.page.get_by_test_id("logout")).to_be_visible()
    assert carol.page.evaluate("localStorage.getItem('gomicroim.device')") == device

    carol.page.get_by_test_id("logout").click()
    expect(carol.page.get_by_test_id("login-submit")).to_be_visible()
    assert carol.page.evaluate("localStorage.getItem('gomicroim.session')") is None
    response = httpx.get(
        f"{carol.base_url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "token_revoked"

    # Signing in again from the same browser reuses its device id.
    carol.login(carol.username)
    assert carol.page.evaluate("localStorage.getItem('gomicroim.device')") == device


def test_a_group_of_three_browsers_gets_every_message_once_in_order(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    people = [open_chat() for _ in range(3)]
    for chat, name in zip(people, ("ann", "ben", "cat"), strict=True):
        chat.register(name)
    ann, ben, cat = people

    ann.page.get_by_test_id("new-group").click()
    ann.page.get_by_test_id("group-name").fill("Weekend trip")
    ann.page.get_by_test_id("group-members").fill(f"{ben.username}, {cat.username}")
    ann.page.get_by_test_id("group-submit").click()
    expect(ann.page.get_by_test_id("conversation-title")).to_have_text("Weekend trip")
    group = ann.page.evaluate("location.hash.slice(1)")
    assert group.startswith("g:")
    ann.send("Who is in?")

    # Seq 1 is the group's creation, shown as a notice; the first message is seq 2.
    for chat in (ben, cat):
        expect(chat.badge(group)).to_have_text("2", timeout=5000)
        chat.open_conversation(group)
        chat.wait_for_seq(2)
        assert chat.notices() == [(1, f"{ann.username} created the group “Weekend trip”")]

    for round_ in range(4):
        for chat in people:
            chat.send(f"{chat.username[:3]} #{round_}")
    for chat in people:
        chat.wait_for_seq(14)

    token = ann.stored_tokens()["access_token"]
    assert [seq for seq, _ in history(server.base_url, token, group)] == list(range(1, 15))
    stored = history(server.base_url, token, group, system=False)
    assert [seq for seq, _ in stored] == list(range(2, 15))
    for chat in people:
        assert chat.messages() == stored, chat.username
        expect(chat.pending()).to_have_count(0)
    # Each sender's own messages kept their order.
    for chat in people:
        mine = [body for _, body in stored if body.startswith(chat.username[:3])]
        assert mine == [f"{chat.username[:3]} #{i}" for i in range(4)]


def test_members_can_be_added_and_removed_and_a_member_can_leave(open_chat: OpenChat) -> None:
    owner, member = open_chat(), open_chat()
    owner.register("owner")
    member.register("member")
    extra = api_user(owner.base_url, "extra")

    owner.page.get_by_test_id("new-group").click()
    owner.page.get_by_test_id("group-name").fill("Book club")
    owner.page.get_by_test_id("group-members").fill(member.username)
    owner.page.get_by_test_id("group-submit").click()
    expect(owner.page.get_by_test_id("conversation-title")).to_have_text("Book club")
    group = owner.page.evaluate("location.hash.slice(1)")

    owner.page.get_by_test_id("members-button").click()
    members = owner.page.get_by_test_id("member-item")
    expect(members).to_have_count(2)
    owner.page.get_by_test_id("add-member-username").fill(extra.username)
    owner.page.get_by_test_id("add-member-submit").click()
    expect(members).to_have_count(3)
    owner.page.locator(f'[data-testid="member-item"][data-user-id="{extra.id}"]').get_by_test_id(
        "remove-member"
    ).click()
    expect(members).to_have_count(2)
    owner.page.keyboard.press("Escape")
    owner.send("Chapter one by Friday")

    # The member's list learns of the group from the push, then the member leaves.
    member.open_conversation(group)
    member.wait_for_seq(1)
    member.page.get_by_test_id("members-button").click()
    expect(member.page.get_by_test_id("remove-member")).to_have_count(0)
    member.page.get_by_test_id("leave-group").click()
    expect(member.item(group)).to_have_count(0)
    expect(member.page.get_by_test_id("composer")).to_be_hidden()


def test_scrolling_back_through_300_messages_loads_each_exactly_once(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    writer = api_user(server.base_url, "writer")
    reader = api_user(server.base_url, "reader")
    bodies = [f"message {i:03d}" for i in range(1, 301)]
    send_many(server.base_url, writer, reader.id, bodies)
    conv = conversation_id(writer.id, reader.id)

    bob = open_chat()
    fetched: list[int] = []

    def on_response(response: Response) -> None:
        if f"/conversations/{conv}/messages" in unquote(response.url) and response.ok:
            fetched.extend(m["seq"] for m in json.loads(response.body())["messages"])

    bob.page.on("response", on_response)
    bob.login(reader.username)
    expect(bob.badge(conv)).to_have_text("99+")
    assert title_unread(bob.page) == 300
    bob.open_conversation(conv)
    bob.wait_for_seq(300)

    state = bob.page.get_by_test_id("history-state")
    scroller = bob.page.locator("#scroller")
    for _ in range(20):
        if state.get_attribute("data-state") == "start":
            break
        shown = len(bob.messages())
        scroller.evaluate("node => { node.scrollTop = 0; }")
        bob.page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=message-list] li').length > n"
            " || document.querySelector('[data-testid=history-state]').dataset.state === 'start'",
            arg=shown,
        )
    expect(state).to_have_attribute("data-state", "start")

    assert bob.messages() == list(enumerate(bodies, start=1))
    assert Counter(fetched) == Counter(range(1, 301)), "a page was fetched twice or skipped"
    expect(bob.badge(conv)).to_have_count(0)


def test_a_send_whose_answer_is_lost_is_retried_without_a_duplicate(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    peer = api_user(server.base_url, "peer")
    dana = open_chat()
    dana.register("dana")
    dana.start_chat(peer.username)
    lost: list[Any] = []

    def lose_the_answer(route: Any) -> None:
        # The server stores the message; only its answer never reaches the page.
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch())
            route.abort("connectionreset")
        else:
            route.continue_()

    dana.page.route("**/api/v1/messages", lose_the_answer)
    dana.send("Did this arrive?")
    pending = dana.pending()
    expect(pending).to_have_attribute("data-state", "failed")
    assert lost[0].status == 201

    dana.page.get_by_test_id("retry-send").click()
    dana.wait_for_seq(1)
    expect(pending).to_have_count(0)
    assert dana.messages() == [(1, "Did this arrive?")]
    conv = conversation_id(peer.id, dana.stored_tokens()["user_id"])
    assert history(server.base_url, peer.token, conv) == [(1, "Did this arrive?")]


def test_a_recall_and_an_edit_show_live_in_the_open_chat_and_the_list(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    alice = api_user(server.base_url, "alice")
    reader = api_user(server.base_url, "bob")
    seqs = send_many(server.base_url, alice, reader.id, ["oops, wrong chat", "teh typo"])
    conv = conversation_id(alice.id, reader.id)
    bob = open_chat()
    bob.login(reader.username)
    bob.open_conversation(conv)
    bob.wait_for_seq(seqs[-1])

    url = f"/api/v1/conversations/{conv}/messages"
    headers = {"Authorization": f"Bearer {alice.token}"}
    with httpx.Client(base_url=server.base_url, timeout=30, headers=headers) as client:
        edited = client.patch(f"{url}/{seqs[1]}", json={"body": "the typo, fixed"})
        assert edited.status_code == 200, edited.text
        expect(bob.message(seqs[1]).get_by_test_id("edited")).to_be_visible()
        assert bob.messages() == [(seqs[0], "oops, wrong chat"), (seqs[1], "the typo, fixed")]
        expect(bob.item(conv).locator(".preview")).to_have_text("the typo, fixed")

        recalled = client.post(f"{url}/{seqs[0]}/recall")
        assert recalled.status_code == 200, recalled.text
    expect(bob.message(seqs[0]).get_by_test_id("recalled")).to_be_visible()
    assert bob.messages() == [(seqs[0], "Message recalled"), (seqs[1], "the typo, fixed")]


def test_the_conversation_list_loads_further_pages_once_each(
    open_chat: OpenChat, tmp_path: Path
) -> None:
    with running_server(tmp_path, GOMICROIM__CHAT__CONVERSATIONS_PAGE_LIMIT="3") as small:
        reader = api_user(small.base_url, "reader")
        writers = [api_user(small.base_url, f"w{i}") for i in range(8)]
        for i, writer in enumerate(writers):
            send_many(small.base_url, writer, reader.id, [f"hello from {i} " + "x" * 300])
            time.sleep(0.005)  # one activity time each, so the order is the send order
        newest_first = [conversation_id(w.id, reader.id) for w in reversed(writers)]

        bob = open_chat(small.base_url, height=420)
        cursors: list[str | None] = []
        listed: list[str] = []

        def on_response(response: Response) -> None:
            url = urlsplit(response.url)
            if url.path.rstrip("/") == "/api/v1/conversations" and response.ok:
                cursors.append(parse_qs(url.query).get("before", [None])[0])
                listed.extend(c["conversation_id"] for c in response.json()["conversations"])

        bob.page.on("response", on_response)
        bob.login(reader.username)
        items = bob.page.get_by_test_id("conversation-item")
        expect(items.first).to_be_visible()
        # The title counts every unread conversation, listed or not.
        assert title_unread(bob.page) == 8

        more = bob.page.get_by_test_id("more-conversations")
        for _ in range(10):
            if items.count() == len(writers) and more.count() == 0:
                break
            if more.count():
                # Scrolling it into view loads the next page; a click does too.
                with contextlib.suppress(PlaywrightError):
                    more.click(timeout=2000)
            bob.page.wait_for_timeout(100)

        expect(items).to_have_count(len(writers))
        expect(more).to_have_count(0)
        order = bob.page.eval_on_selector_all(
            '[data-testid="conversation-item"]', "nodes => nodes.map(n => n.dataset.conversationId)"
        )
        assert order == newest_first
        assert title_unread(bob.page) == 8
        # Each further page was asked for once; together the pages hold every conversation.
        further = [c for c in cursors if c is not None]
        assert len(further) == len(set(further)) == 2, cursors
        assert set(listed) == set(newest_first)
        # Previews are cut by the server and shown with an ellipsis.
        expect(bob.item(newest_first[0])).to_contain_text("hello from 7 xxx")
        expect(bob.item(newest_first[0]).locator(".preview")).to_have_text(re.compile("…$"))
