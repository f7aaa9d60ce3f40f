"""Group changes as notices, typing indicators and blocks, in real Chromium on a real server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import WebSocket, expect
from tests.browser.chat import LIVE_S, ApiUser, ChatPage, api_user, history, send_many
from tests.browser.conftest import OpenChat
from tests.e2e.client import conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.browser


def _call(base_url: str, user: ApiUser, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {user.token}"}
    return httpx.request(method, f"{base_url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def _signed_in(chat: ChatPage, base_url: str, prefix: str) -> ApiUser:
    """A user made over the API, signed in on ``chat`` through the form."""
    user = api_user(base_url, prefix)
    chat.login(user.username)
    return user


def test_group_changes_show_as_readable_notices_in_the_thread_and_the_list(
    open_chat: OpenChat, server: ServerProcess, output_dir: Path
) -> None:
    base = server.base_url
    owner = api_user(base, "owner")
    extra = api_user(base, "extra")
    bea = open_chat()
    me = _signed_in(bea, base, "bea")
    created = _call(
        base, owner, "POST", "/groups", json={"name": "Climbing", "member_ids": [me.id]}
    )
    assert created.status_code == 201, created.text
    gid = created.json()["id"]
    group = f"g:{gid}"

    expect(bea.item(group).locator(".preview")).to_have_text(
        f"{owner.username} created the group “Climbing”"
    )
    bea.open_conversation(group)
    bea.wait_for_seq(1)
    assert bea.notices() == [(1, f"{owner.username} created the group “Climbing”")]

    # Changes made while the thread is open show up in it, live, and in the list's preview.
    hostile = '<img src=x onerror="window.pwned=1">Bouldering'
    assert _call(base, owner, "PATCH", f"/groups/{gid}", json={"name": hostile}).status_code == 200
    renamed = f"{owner.username} renamed the group to “{hostile}”"
    expect(bea.notice(2)).to_have_text(renamed, timeout=LIVE_S * 1000)
    expect(bea.item(group).locator(".preview")).to_have_text(renamed)
    expect(bea.page.get_by_test_id("conversation-title")).to_have_text(hostile)
    added = _call(base, owner, "POST", f"/groups/{gid}/members", json={"user_ids": [extra.id]})
    assert added.status_code == 200, added.text
    expect(bea.notice(3)).to_have_text(f"{owner.username} added {extra.username}")
    role = _call(base, owner, "PUT", f"/groups/{gid}/members/{me.id}/role", json={"role": "admin"})
    assert role.status_code == 200, role.text
    expect(bea.notice(4)).to_have_text(f"{owner.username} made you an admin")
    left = httpx.delete(
        f"{base}/api/v1/groups/{gid}/members/{extra.id}",
        headers={"Authorization": f"Bearer {extra.token}"},
    )
    assert left.status_code == 204, left.text
    expect(bea.notice(5)).to_have_text(f"{extra.username} left")
    expect(bea.item(group).locator(".preview")).to_have_text(f"{extra.username} left")
    assert _call(base, owner, "DELETE", f"/groups/{gid}").status_code == 200
    expect(bea.notice(6)).to_have_text(f"{owner.username} dissolved the group")

    # Notices are text: no element came from a body, no sender line, no receipt, no retry.
    notice = bea.notice(2)
    assert notice.locator("img").count() == 0
    assert bea.page.evaluate("window.pwned") is None
    assert notice.locator(".status, .sender, [data-testid=retry-send]").count() == 0
    # They are not chat bubbles: centred in the thread.
    box = notice.bounding_box()
    scroller = bea.page.locator("#scroller").bounding_box()
    assert box is not None
    assert scroller is not None
    assert abs((box["x"] + box["width"] / 2) - (scroller["x"] + scroller["width"] / 2)) < 20
    assert bea.messages() == []
    shot = output_dir / "group-notices.png"
    bea.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


def test_a_peers_typing_shows_under_the_header_until_their_message_or_a_pause(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    alice, bob = open_chat(), open_chat()
    typing_sent: list[dict[str, Any]] = []

    def on_socket(ws: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            frame = json.loads(payload)
            if frame.get("type") == "typing":
                typing_sent.append(frame)

        ws.on("framesent", on_frame)

    bob.page.on("websocket", on_socket)
    alice.register("alice")
    bob.register("bob")
    alice_id, bob_id = alice.stored_tokens()["user_id"], bob.stored_tokens()["user_id"]
    conv = conversation_id(alice_id, bob_id)
    alice.start_chat(bob.username)
    alice.send("Are you there?")
    alice.wait_for_seq(1)
    bob.open_conversation(conv)
    indicator = alice.page.get_by_test_id("typing-indicator")
    expect(indicator).to_have_text("")

    # A burst of keystrokes sends one frame; the peer sees it at once.
    bob.page.get_by_test_id("composer").press_sequentially("yes, one sec", delay=20)
    expect(indicator).to_have_text(f"{bob.username} is typing…", timeout=LIVE_S * 1000)
    assert typing_sent == [{"type": "typing", "conversation_id": conv}]
    # Bob's own page never shows himself typing.
    expect(bob.page.get_by_test_id("typing-indicator")).to_have_text("")

    # Without another frame it goes away after a few seconds.
    expect(indicator).to_have_text("", timeout=7000)
    assert len(typing_sent) == 1

    # Typing again (past the interval) shows it again; the message itself hides it.
    bob.page.get_by_test_id("composer").press_sequentially(" ok", delay=20)
    expect(indicator).to_have_text(f"{bob.username} is typing…", timeout=LIVE_S * 1000)
    assert len(typing_sent) == 2
    bob.page.get_by_test_id("composer").press("Enter")
    alice.wait_for_seq(2, timeout_s=LIVE_S)
    expect(indicator).to_have_text("")


def test_a_send_refused_by_a_block_says_so_inline_and_is_never_retried(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    base = server.base_url
    peer = api_user(base, "peer")
    dana = open_chat()
    me = _signed_in(dana, base, "dana")
    send_many(base, peer, me.id, ["hi dana"])
    conv = conversation_id(peer.id, me.id)
    assert _call(base, peer, "POST", f"/users/me/blocks/{me.id}").status_code in (200, 201)
    posts: list[int] = []
    dana.page.on(
        "response",
        lambda r: (
            posts.append(r.status)
            if r.request.method == "POST" and r.url.endswith("/api/v1/messages")
            else None
        ),
    )

    dana.open_conversation(conv)
    dana.wait_for_seq(1)
    dana.send("are you ignoring me?")
    pending = dana.pending()
    expect(pending).to_have_attribute("data-state", "rejected")
    expect(pending).to_have_attribute("data-error-code", "blocked")
    expect(pending.locator(".status")).to_have_text(
        "Not sent: this person is not accepting your messages."
    )
    expect(pending.get_by_test_id("retry-send")).to_have_count(0)
    notice = dana.page.get_by_test_id("send-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(f"{peer.username} is not accepting messages from you")
    assert posts == [403]

    # Neither a reconnect nor a reload sends it again; it stays, failed, until discarded.
    dana.context.set_offline(True)
    expect(dana.page.get_by_test_id("connection-state")).to_have_attribute("data-state", "offline")
    dana.context.set_offline(False)
    dana.wait_online()
    dana.page.reload()
    dana.wait_online()
    dana.wait_loaded()
    expect(pending).to_have_attribute("data-state", "rejected")
    expect(notice).to_be_visible()
    time.sleep(1)
    assert posts == [403]
    assert history(base, peer.token, conv) == [(1, "hi dana")]
    pending.get_by_role("button", name="Discard").click()
    expect(pending).to_have_count(0)
    expect(notice).to_be_hidden()


def test_the_block_button_blocks_and_unblocks_the_peer(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    base = server.base_url
    peer = api_user(base, "peer")
    erin = open_chat()
    me = _signed_in(erin, base, "erin")
    send_many(base, peer, me.id, ["hello erin"])
    conv = conversation_id(peer.id, me.id)
    erin.open_conversation(conv)
    erin.wait_for_seq(1)
    button = erin.page.get_by_test_id("block-button")
    notice = erin.page.get_by_test_id("send-notice")
    expect(button).to_have_text("Block")
    expect(notice).to_be_hidden()

    button.click()
    expect(button).to_have_text("Unblock")
    expect(notice).to_contain_text(f"You blocked {peer.username}")
    listed = _call(base, me, "GET", "/users/me/blocks")
    assert [b["user_id"] for b in listed.json()["blocks"]] == [peer.id]
    assert send_status(base, peer, me.id) == 403

    erin.send("sorry, wrong button")
    expect(erin.pending()).to_have_attribute("data-error-code", "you_blocked_user")
    expect(erin.pending().locator(".status")).to_contain_text("you blocked this person")

    # A block is shown when the chat opens again, after a reload too.
    erin.page.reload()
    erin.wait_online()
    erin.wait_loaded()
    expect(button).to_have_text("Unblock")

    erin.page.get_by_test_id("send-notice-unblock").click()
    expect(button).to_have_text("Block")
    expect(notice).to_be_hidden()
    erin.pending().get_by_role("button", name="Discard").click()
    erin.send("back again")
    erin.wait_for_seq(2)
    assert history(base, peer.token, conv) == [(1, "hello erin"), (2, "back again")]
    # The block button is for single chats only.
    created = _call(base, peer, "POST", "/groups", json={"name": "Pals", "member_ids": [me.id]})
    assert created.status_code == 201, created.text
    erin.open_conversation(f"g:{created.json()['id']}")
    expect(button).to_be_hidden()


def send_status(base_url: str, sender: ApiUser, to: int) -> int:
    """The status of one single-chat send (no assertion on it)."""
    response = _call(
        base_url,
        sender,
        "POST",
        "/messages",
        json={
            "to": to,
            "session_type": "single",
            "client_msg_id": f"probe-{sender.id}-{time.monotonic_ns()}",
            "msg_type": "text",
            "body": "can you read this?",
        },
    )
    return response.status_code


#: Every event of the README's "System messages" table (42: a user the page knows nothing of).
EVENTS: list[tuple[dict[str, Any], str]] = [
    (
        {"event": "group_created", "actor": 1, "name": "Trip", "targets": [2]},
        "Ann created the group “Trip”",
    ),
    ({"event": "member_added", "actor": 1, "targets": [2, 3, 42]}, "Ann added you, Cy and user 42"),
    ({"event": "member_added", "actor": 3, "targets": [3]}, "Cy joined"),
    ({"event": "member_removed", "actor": 1, "targets": [3]}, "Ann removed Cy"),
    ({"event": "member_removed", "actor": 0, "targets": [3]}, "An operator removed Cy"),
    ({"event": "member_left", "actor": 3}, "Cy left"),
    ({"event": "role_changed", "actor": 1, "target": 3, "role": "admin"}, "Ann made Cy an admin"),
    (
        {"event": "role_changed", "actor": 1, "target": 2, "role": "member"},
        "Ann made you a regular member",
    ),
    ({"event": "ownership_transferred", "actor": 1, "from": 1, "to": 3}, "Ann made Cy the owner"),
    ({"event": "member_unmuted", "actor": 2, "target": 3}, "You unmuted Cy"),
    (
        {"event": "group_renamed", "actor": 1, "name": "Trip  2"},
        "Ann renamed the group to “Trip 2”",
    ),
    (
        {"event": "notice_changed", "actor": 1, "notice": "Bring boots"},
        "Ann set the notice to “Bring boots”",
    ),
    ({"event": "notice_changed", "actor": 1, "notice": ""}, "Ann cleared the notice"),
    (
        {"event": "avatar_changed", "actor": 1, "avatar_url": "https://x.example/a.png"},
        "Ann changed the group picture",
    ),
    ({"event": "avatar_changed", "actor": 1, "avatar_url": ""}, "Ann removed the group picture"),
    (
        {"event": "group_muted", "actor": 1},
        "Ann muted the group: only the owner and admins can send",
    ),
    ({"event": "group_unmuted", "actor": 1}, "Ann unmuted the group"),
    ({"event": "group_dissolved", "actor": 0}, "The group was dissolved"),
    ({"event": "group_dissolved", "actor": None}, "The group was dissolved"),
    ({"event": "member_removed", "actor": None, "targets": [3]}, "An operator removed Cy"),
    ({"event": "group_dissolved", "actor": 1}, "Ann dissolved the group"),
    ({"event": "group_exploded", "actor": 1}, "The group was updated"),
    ({"event": "member_added", "actor": 1}, "The group was updated"),
]


def test_every_kind_of_group_change_reads_as_a_sentence(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    chat = open_chat()
    _signed_in(chat, server.base_url, "reader")
    until = int(time.time() * 1000) + 3_600_000
    bodies = [json.dumps(body) for body, _ in EVENTS] + [
        json.dumps({"event": "member_muted", "actor": 1, "target": 3, "until": until}),
        "not json",
        "[1, 2]",
    ]
    # A list preview's body is cut by the server (`truncated`); the start still tells.
    long_notice = json.dumps(
        {"event": "notice_changed", "actor": 1, "notice": "x" * 500}, separators=(",", ":")
    )
    cut = [
        {"msg_type": "system", "body": long_notice[:200], "truncated": True},
        {"msg_type": "system", "body": '{"event":"member_left","actor":3}', "truncated": True},
        {"msg_type": "system", "body": long_notice[:200], "truncated": False},
    ]
    texts = chat.page.evaluate(
        """async ([bodies, cut]) => {
            const main = document.querySelector("script[type=module]").src;
            const { systemText } = await import(main.replace(/main\\.js$/, "system.js"));
            const names = new Map([[1, "Ann"], [3, "Cy"]]);
            const people = {
                users: names,
                name: (id) => names.get(id) || `User ${id}`,
            };
            const whole = bodies.map((body) => ({ msg_type: "system", body }));
            return [...whole, ...cut].map((message) => systemText(message, 2, people));
        }""",
        [bodies, cut],
    )

    assert texts[: len(EVENTS)] == [text for _, text in EVENTS]
    # The clock time in the browser's locale (with the date when it is not today).
    muted = texts[len(EVENTS)]
    assert re.fullmatch(r"Ann muted Cy until (.+, )?\d{1,2}:\d{2}(\s?[AP]M)?", muted), muted
    assert texts[len(EVENTS) + 1 :] == [
        "The group was updated",
        "The group was updated",
        "Ann changed the notice",
        "Cy left",
        "The group was updated",
    ]
