"""End-to-end fixtures: real ``gomicroim serve`` processes and HTTP clients talking to them."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.client import Api, User
from tests.e2e.server import ServerProcess

StartServer = Callable[..., ServerProcess]

#: The servers speak plain HTTP; one shared TLS context spares every client loading CA files.
_NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _launch(root: Path, env: dict[str, str]) -> ServerProcess:
    data_dir = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(data_dir=data_dir, log_dir=root, env=env)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server shared by a test module; tests use unique usernames on it."""
    process = _launch(tmp_path_factory.mktemp("server"), {})
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a server of the test's own with extra ``GOMICROIM__...`` settings.

    Example: ``start_server(GOMICROIM__GROUPS__MAX_MEMBERS="3")``.
    """
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        process = _launch(tmp_path / f"server-{len(started) + 1}", env)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[ServerProcess], Api]]:
    """Open an :class:`Api` on a given server; clients are closed at teardown."""
    clients: list[httpx.AsyncClient] = []

    def open_api(process: ServerProcess) -> Api:
        client = httpx.AsyncClient(
            base_url=process.base_url,
            timeout=30.0,
            verify=_NO_TLS,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
        clients.append(client)
        return Api(client)

    try:
        yield open_api
    finally:
        for client in clients:
            await client.aclose()


@pytest.fixture
def api(server: ServerProcess, connect: Callable[[ServerProcess], Api]) -> Api:
    """An API client on the module's shared server."""
    return connect(server)


@pytest.fixture
def client(api: Api) -> httpx.AsyncClient:
    """The raw async HTTP client behind ``api`` (base URL is the shared server)."""
    return api.client


@pytest.fixture
def register_and_login(api: Api) -> Callable[..., Awaitable[User]]:
    """A coroutine factory: a fresh, logged-in :class:`User` with a unique name per call.

    Example: ``alice = await register_and_login("alice", client_type="web")``.
    """

    async def make(prefix: str = "user", **kwargs: str) -> User:
        return await api.register_and_login(prefix, **kwargs)

    return make
