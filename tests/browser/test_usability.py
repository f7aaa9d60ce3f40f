"""Usable without a mouse, by a screen reader and on a phone; screenshots for a reviewer."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from tests.browser.chat import ApiUser, ChatPage, api_user, send_many
from tests.browser.conftest import OpenChat
from tests.e2e.client import PASSWORD, conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.browser


def tab_to(chat: ChatPage, testid: str, presses: int = 12) -> None:
    target = chat.page.get_by_test_id(testid)
    for _ in range(presses):
        if target.evaluate("node => node === document.activeElement"):
            return
        chat.page.keyboard.press("Tab")
    raise AssertionError(f"{testid} cannot be reached with Tab")


def test_the_whole_flow_works_from_the_keyboard(open_chat: OpenChat, server: ServerProcess) -> None:
    friend = api_user(server.base_url, "friend")
    me = api_user(server.base_url, "keys")
    chat = open_chat()
    chat.open()
    keyboard = chat.page.keyboard

    expect(chat.page.get_by_test_id("login-username")).to_be_focused()
    keyboard.type(me.username)
    keyboard.press("Tab")
    keyboard.type(PASSWORD)
    keyboard.press("Enter")
    chat.wait_online()

    tab_to(chat, "new-chat-username")
    keyboard.type(friend.username)
    keyboard.press("Enter")
    expect(chat.page.get_by_test_id("composer")).to_be_focused()
    keyboard.type("first line")
    keyboard.press("Shift+Enter")
    keyboard.type("second line")
    keyboard.press("Enter")
    chat.wait_for_seq(1)
    assert chat.messages() == [(1, "first line\nsecond line")]

    # Arrow keys move between conversations; Enter opens one.
    send_many(server.base_url, friend, me.id, ["ping"])
    other = api_user(server.base_url, "other")
    send_many(server.base_url, other, me.id, ["hello from other"])
    expect(chat.item(conversation_id(other.id, me.id))).to_be_visible()
    chat.item(conversation_id(other.id, me.id)).locator("button").focus()
    keyboard.press("ArrowDown")
    keyboard.press("Enter")
    expect(chat.page.get_by_test_id("conversation-title")).to_have_text(friend.username)


def test_controls_have_names_for_screen_readers(open_chat: OpenChat) -> None:
    chat = open_chat()
    chat.open()
    page = chat.page

    assert (
        page.get_by_label("Username", exact=True).get_attribute("data-testid") == "login-username"
    )
    assert (
        page.get_by_label("Password", exact=True).get_attribute("data-testid") == "login-password"
    )
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Create account")).to_be_visible()

    chat.register("reader")
    assert (
        page.get_by_label("Start a chat with a username").get_attribute("data-testid")
        == "new-chat-username"
    )
    expect(page.get_by_role("status")).to_have_text("Online")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("list", name=re.compile("Conversations"))).to_be_attached()
    chat.start_chat(api_user(chat.base_url, "peer").username)
    assert page.get_by_label(re.compile("^Message;")).get_attribute("data-testid") == "composer"
    expect(page.get_by_role("log", name="Messages")).to_be_visible()


def test_at_phone_width_the_list_and_the_conversation_take_turns(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    friend = api_user(server.base_url, "friend")
    chat = open_chat(width=390, height=780)
    chat.register("phone")
    me = chat.stored_tokens()["user_id"]
    send_many(server.base_url, friend, me, ["Are you on your phone?"])
    conv = conversation_id(friend.id, me)
    page = chat.page

    expect(chat.badge(conv)).to_have_text("1")
    expect(page.get_by_test_id("composer")).to_be_hidden()
    chat.open_conversation(conv)
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(page.get_by_test_id("composer")).to_be_visible()
    chat.send("Yes!")
    chat.wait_for_seq(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="Back to the conversation list").click()
    expect(page.get_by_test_id("conversation-list")).to_be_visible()
    expect(chat.badge(conv)).to_have_count(0)


def _person(base_url: str, prefix: str, nickname: str) -> ApiUser:
    return api_user(base_url, prefix, nickname=nickname)


def _group(base_url: str, owner: ApiUser, name: str, members: list[int]) -> int:
    response = httpx.post(
        f"{base_url}/api/v1/groups",
        json={"name": name, "member_ids": members},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _say_in_group(base_url: str, sender: ApiUser, group_id: int, body: str) -> None:
    response = httpx.post(
        f"{base_url}/api/v1/messages",
        json={
            "to": group_id,
            "session_type": "group",
            "client_msg_id": f"shot-{sender.id}-{len(body)}-{body[:8].encode().hex()}",
            "msg_type": "text",
            "body": body,
        },
        headers={"Authorization": f"Bearer {sender.token}"},
    )
    assert response.status_code == 201, response.text


def test_screenshots_of_the_main_screen(
    open_chat: OpenChat, server: ServerProcess, output_dir: Path
) -> None:
    base = server.base_url
    maya = _person(base, "maya", "Maya Lind")
    jonas = _person(base, "jonas", "Jonas Berg")
    priya = _person(base, "priya", "Priya Natarajan")
    leo = _person(base, "leo", "Leo Okafor")
    team = _group(base, priya, "Design review", [maya.id, jonas.id, leo.id])
    _say_in_group(base, priya, team, "Mock-ups for the new onboarding are in the shared folder.")
    _say_in_group(base, leo, team, "Looks great. Can we keep the old colour for links?")
    send_many(base, leo, maya.id, ["Running 5 minutes late, sorry!"])
    send_many(base, jonas, maya.id, ["Hi Maya! Are we still on for Thursday?"])
    send_many(base, maya, jonas.id, ["Yes, 10:00 at the usual place."])
    send_many(base, jonas, maya.id, ["Perfect. I'll bring the printed draft.\nSee you then!"])
    _say_in_group(base, priya, team, "Review call at 15:00 — agenda to follow.")

    chat = open_chat(width=1280, height=760)
    chat.login(maya.username)
    chat.open_conversation(conversation_id(maya.id, jonas.id))
    chat.wait_for_seq(3)
    chat.send("Thanks — see you Thursday!")
    chat.wait_for_seq(4)
    expect(chat.page.get_by_test_id("unread-badge")).to_have_count(2)
    expect(chat.page.locator(f'[data-user-name="{jonas.id}"]').first).to_have_text("Jonas Berg")
    chat.page.locator("#composer").blur()
    desktop = output_dir / "main-screen.png"
    chat.page.screenshot(path=str(desktop))

    phone = open_chat(width=390, height=780)
    phone.login(maya.username)
    phone_shot = output_dir / "main-screen-phone.png"
    expect(phone.page.get_by_test_id("conversation-item")).to_have_count(3)
    phone.page.screenshot(path=str(phone_shot))

    for shot in (desktop, phone_shot):
        assert shot.stat().st_size > 10_000, shot
