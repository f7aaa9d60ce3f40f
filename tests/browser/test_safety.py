"""What users send is shown as text and runs nothing; the page's security headers hold."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect
from tests.browser.chat import api_user, send_many
from tests.browser.conftest import OpenChat
from tests.e2e.client import conversation_id
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.browser

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "javascript:alert(4)",
    "&lt;b&gt;not bold&lt;/b&gt;",
]


def test_hostile_bodies_and_names_render_as_text_and_run_nothing(
    open_chat: OpenChat, server: ServerProcess
) -> None:
    mallory = api_user(server.base_url, "mallory", nickname="<img src=x onerror=alert(5)>")
    victim = open_chat()
    victim.register("victim")
    me = victim.stored_tokens()["user_id"]
    send_many(server.base_url, mallory, me, HOSTILE)
    conv = conversation_id(mallory.id, me)

    expect(victim.badge(conv)).to_have_text(str(len(HOSTILE)))
    expect(victim.item(conv).locator(".name")).to_have_text("<img src=x onerror=alert(5)>")
    victim.open_conversation(conv)
    victim.wait_for_seq(len(HOSTILE))

    assert victim.messages() == list(enumerate(HOSTILE, start=1))
    expect(victim.page.get_by_test_id("conversation-title")).to_have_text(
        "<img src=x onerror=alert(5)>"
    )
    page = victim.page
    assert page.locator("body img, body script:not([type=module]), body svg").count() == 0
    # The victim replies with the same payload: it round-trips as text too.
    victim.send(HOSTILE[0])
    victim.wait_for_seq(len(HOSTILE) + 1)
    assert victim.messages()[-1] == (len(HOSTILE) + 1, HOSTILE[0])
    page.wait_for_timeout(300)
    assert victim.dialogs == []
    assert victim.errors == []
    assert not [m for m in victim.console_errors if "Content Security Policy" in m]


def test_the_page_carries_a_strict_content_security_policy(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = {
        name: values
        for name, _, values in (
            d.strip().partition(" ") for d in response.headers["content-security-policy"].split(";")
        )
    }
    host = f"127.0.0.1:{server.port}"
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == f"'self' ws://{host} wss://{host}"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"
    # No inline script or style anywhere in the page itself.
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", response.text)


def test_assets_have_their_content_types_and_are_cached_by_version(server: ServerProcess) -> None:
    page = httpx.get(f"{server.base_url}/").text
    root = re.search(r'src="(/web/[0-9a-f]+)/js/main\.js"', page)
    assert root, page
    base = f"{server.base_url}{root.group(1)}"

    for name, kind in (
        ("js/main.js", "text/javascript; charset=utf-8"),
        ("js/thread.js", "text/javascript; charset=utf-8"),
        ("css/app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ):
        response = httpx.get(f"{base}/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == kind
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        again = httpx.get(f"{base}/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")

    stale = httpx.get(f"{server.base_url}/web/0123456789ab/js/main.js")
    assert stale.headers["cache-control"] == "no-cache"
    for missing in ("js/nope.js", "../app.py", "index.html", "%2e%2e/http.py"):
        assert httpx.get(f"{base}/{missing}").status_code == 404, missing
