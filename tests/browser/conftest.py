"""Browser fixtures: Debian's Chromium driven by Playwright against real ``gomicroim serve``.

Playwright's own browser builds cannot be downloaded here, so the tests launch the system
Chromium (``apt-get install chromium``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from tests.browser.chat import ChatPage
from tests.e2e.server import ServerProcess

CHROMIUM = os.environ.get("GOMICROIM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots and other artefacts for a reviewer: ``test-output/browser`` unless overridden.
OUTPUT_DIR = Path(
    os.environ.get("GOMICROIM_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "test-output")
)
#: Upper bound for any one browser action, so a broken page fails fast instead of hanging.
ACTION_TIMEOUT_MS = 10_000

OpenChat = Callable[..., ChatPage]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module; each person gets a context of their own.

    Not per session: while Playwright's sync API is open it marks the main thread's event
    loop as running, which would stop the async tests of the other tiers from running after
    these. Closing it at the end of each module hands the thread back.
    """
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; install it with "
            "`apt-get install chromium` (or set GOMICROIM_TEST_CHROMIUM)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def running_server(root: Path, **env: str) -> Iterator[ServerProcess]:
    """A ``gomicroim serve`` process on ``root``, stopped on exit; ``env`` as GOMICROIM__ keys."""
    process = ServerProcess(data_dir=root / "data", log_dir=root, env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module; tests use unique usernames on it."""
    with running_server(tmp_path_factory.mktemp("browser-server")) as process:
        yield process


@pytest.fixture
def open_chat(browser: Browser, server: ServerProcess) -> Iterator[OpenChat]:
    """Open a fresh browser context on a server (the module's unless given).

    Every page is checked at teardown: no uncaught script error, no dialog, no request to
    another origin.
    """
    pages: list[ChatPage] = []

    def open_page(base_url: str | None = None, *, width: int = 1100, height: int = 720) -> ChatPage:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        chat = ChatPage(
            context=context, page=context.new_page(), base_url=base_url or server.base_url
        )
        chat.watch()
        pages.append(chat)
        return chat

    try:
        yield open_page
    finally:
        for chat in pages:
            chat.context.close()
    for chat in pages:
        chat.assert_clean()


@pytest.fixture
def output_dir() -> Path:
    """Where screenshots go."""
    path = OUTPUT_DIR / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path
