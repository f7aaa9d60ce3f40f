"""Drives the web client as a person would, through the data-testid hooks the page keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, expect
from tests.e2e.client import PASSWORD, unique_name

#: How long a live update may take on this shared 2-core machine before a test fails.
LIVE_S = 1.0


@dataclass
class ChatPage:
    """One person's browser tab: a context of its own (own localStorage, own device)."""

    context: BrowserContext
    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    username: str = ""

    def watch(self) -> None:
        """Record uncaught errors, dialogs, console errors and requests to other origins."""
        origin = urlsplit(self.base_url).netloc
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.console_errors.append(message.text)

        def on_request(request: Request) -> None:
            if urlsplit(request.url).netloc != origin and not request.url.startswith("data:"):
                self.foreign_requests.append(request.url)

        self.page.on("dialog", on_dialog)
        self.page.on("console", on_console)
        self.page.on("request", on_request)

    # --- signing in ---------------------------------------------------------------------------

    def open(self) -> None:
        self.page.goto(self.base_url + "/")

    def register(self, prefix: str) -> str:
        """Create an account through the form; returns the username."""
        self.username = unique_name(prefix)
        self.open()
        self.page.get_by_test_id("login-username").fill(self.username)
        self.page.get_by_test_id("login-password").fill(PASSWORD)
        self.page.get_by_test_id("register-submit").click()
        self.wait_online()
        return self.username

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Sign in through the form with the keyboard (Enter submits)."""
        self.username = username
        self.open()
        self.page.get_by_test_id("login-username").fill(username)
        self.page.get_by_test_id("login-password").fill(password)
        self.page.get_by_test_id("login-password").press("Enter")
        self.wait_online()

    def wait_online(self, timeout_s: float = 10) -> None:
        expect(self.page.get_by_test_id("connection-state")).to_have_attribute(
            "data-state", "online", timeout=timeout_s * 1000
        )

    def stored_tokens(self) -> dict[str, Any]:
        tokens = self.page.evaluate("JSON.parse(localStorage.getItem('gomicroim.session'))")
        assert isinstance(tokens, dict), tokens
        return tokens

    # --- conversations ------------------------------------------------------------------------

    def item(self, conversation_id: str) -> Any:
        return self.page.locator(
            f'[data-testid="conversation-item"][data-conversation-id="{conversation_id}"]'
        )

    def badge(self, conversation_id: str) -> Any:
        return self.item(conversation_id).get_by_test_id("unread-badge")

    def start_chat(self, username: str) -> None:
        self.page.get_by_test_id("new-chat-username").fill(username)
        self.page.get_by_test_id("new-chat-username").press("Enter")
        expect(self.page.get_by_test_id("composer")).to_be_focused()
        self.wait_loaded()

    def open_conversation(self, conversation_id: str) -> None:
        self.item(conversation_id).locator("button").click()
        self.wait_loaded()

    def wait_loaded(self) -> None:
        expect(self.page.get_by_test_id("history-state")).to_have_attribute(
            "data-state", re.compile("^(start|more)$")
        )

    def send(self, text: str) -> None:
        """Type into the composer and press Enter."""
        self.page.get_by_test_id("composer").fill(text)
        self.page.get_by_test_id("composer").press("Enter")

    def messages(self) -> list[tuple[int, str]]:
        """(seq, body) of every stored message shown, in page order."""
        return [
            (int(seq), body)
            for seq, body in self.page.eval_on_selector_all(
                '[data-testid="message-list"] [data-testid="message-item"]',
                "nodes => nodes.map(n => [n.dataset.seq, n.querySelector('.body').textContent])",
            )
        ]

    def wait_for_seq(self, seq: int, timeout_s: float = 10) -> None:
        """Until the stored message ``seq`` is shown (a user's message or a group notice)."""
        shown = self.page.locator(f'[data-testid="message-list"] > [data-seq="{seq}"]')
        expect(shown).to_be_visible(timeout=timeout_s * 1000)

    def notices(self) -> list[tuple[int, str]]:
        """(seq, text) of every group-change notice shown in the thread, in page order."""
        return [
            (int(seq), text)
            for seq, text in self.page.eval_on_selector_all(
                '[data-testid="message-list"] [data-testid="system-notice"]',
                "nodes => nodes.map(n => [n.dataset.seq, n.textContent])",
            )
        ]

    def notice(self, seq: int) -> Any:
        return self.page.locator(
            f'[data-testid="message-list"] [data-testid="system-notice"][data-seq="{seq}"]'
        )

    def message(self, seq: int) -> Any:
        return self.page.locator(
            f'[data-testid="message-list"] [data-testid="message-item"][data-seq="{seq}"]'
        )

    def pending(self) -> Any:
        return self.page.locator('[data-testid="pending-list"] [data-testid="message-item"]')

    def assert_clean(self) -> None:
        """No uncaught script error, no dialog, nothing fetched from another origin."""
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert self.foreign_requests == [], self.foreign_requests


def title_unread(page: Page) -> int:
    """The total unread count in the tab title, ``(N) gomicroim``; 0 without a count."""
    match = re.match(r"\((\d+)\) ", page.title())
    return int(match.group(1)) if match else 0


@dataclass
class ApiUser:
    """A user driven over the HTTP API (a second device, or a script)."""

    id: int
    username: str
    token: str


def api_user(base_url: str, prefix: str, **extra: str) -> ApiUser:
    """Register and log in a user over HTTP (an ``app`` device)."""
    username = unique_name(prefix)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.post(
            "/api/v1/auth/register", json={"username": username, "password": PASSWORD, **extra}
        )
        assert response.status_code == 201, response.text
        response = client.post(
            "/api/v1/auth/login",
            json={
                "username": username,
                "password": PASSWORD,
                "device_id": "script-1",
                "client_type": "app",
            },
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
    return ApiUser(id=tokens["user_id"], username=username, token=tokens["access_token"])


def send_many(base_url: str, sender: ApiUser, to: int, bodies: list[str]) -> list[int]:
    """Send text messages in order over HTTP; returns their seqs."""
    seqs = []
    with httpx.Client(
        base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {sender.token}"}
    ) as client:
        for i, body in enumerate(bodies):
            response = client.post(
                "/api/v1/messages",
                json={
                    "to": to,
                    "session_type": "single",
                    "client_msg_id": f"script-{sender.id}-{i}-{unique_name('m')}",
                    "msg_type": "text",
                    "body": body,
                },
            )
            assert response.status_code == 201, response.text
            seqs.append(response.json()["seq"])
    return seqs


def history(
    base_url: str, token: str, conversation_id: str, *, system: bool = True
) -> list[tuple[int, str]]:
    """The whole history as the server has it, (seq, body) ascending.

    ``system=False`` leaves out the group-change messages (their body is JSON, shown as a
    notice).
    """
    out: list[tuple[int, str]] = []
    after = 0
    with httpx.Client(
        base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        while True:
            response = client.get(
                f"/api/v1/conversations/{conversation_id}/messages",
                params={"after_seq": after, "limit": 100},
            )
            assert response.status_code == 200, response.text
            page = response.json()
            out += [
                (m["seq"], m["body"])
                for m in page["messages"]
                if system or m["msg_type"] != "system"
            ]
            if not page["has_more"]:
                return out
            after = page["messages"][-1]["seq"]
