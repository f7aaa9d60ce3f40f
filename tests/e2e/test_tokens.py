"""Access tokens that are forged, expired, or meant for something else: 401 on HTTP, 4401 on /ws."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.client import Api, User, assert_error, bearer
from tests.e2e.conftest import StartServer
from tests.e2e.devices import ws_url
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

#: The server under test signs with this key, so the tests can mint tokens it would trust
#: but for one thing wrong; a leaked or shared key is exactly when these checks matter.
SECRET = "e2e-known-signing-key-" + "0123456789abcdef" * 3
OTHER_KEY = "some-other-services-key-" + "0123456789abcdef" * 3


def claims_of(user: User) -> dict[str, Any]:
    """The claims the server put into ``user``'s access token."""
    return dict(jwt.decode(user.access_token, options={"verify_signature": False}))


def signed(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def alg_none(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")


def changed(**changes: Any) -> Callable[[User], str]:
    """A token with the user's real claims, some changed (None drops a claim), signed right."""

    def make(user: User) -> str:
        claims = claims_of(user)
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return signed(claims)

    return make


BAD_TOKENS: dict[str, tuple[Callable[[User], str], str]] = {
    "alg none": (lambda u: alg_none(claims_of(u)), "invalid_token"),
    "alg none without signature dot": (
        lambda u: alg_none(claims_of(u)).rstrip("."),
        "invalid_token",
    ),
    "HS512 with the right key": (
        lambda u: signed(claims_of(u), algorithm="HS512"),
        "invalid_token",
    ),
    "wrong key": (lambda u: signed(claims_of(u), OTHER_KEY), "invalid_token"),
    "expired an hour ago": (
        lambda u: changed(exp=int(time.time()) - 3600)(u),
        "token_expired",
    ),
    "another audience": (changed(aud="billing-service"), "invalid_token"),
    "audience list without ours": (changed(aud=["billing", "search"]), "invalid_token"),
    "no audience": (changed(aud=None), "invalid_token"),
    "another issuer": (changed(iss="https://evil.example"), "invalid_token"),
    "no issuer": (changed(iss=None), "invalid_token"),
    "refresh type": (changed(typ="refresh"), "invalid_token"),
    "no type": (changed(typ=None), "invalid_token"),
    "refresh token as access token": (lambda u: u.refresh_token, "invalid_token"),
    "sub 2^63": (changed(sub=str(2**63)), "invalid_token"),
    "sub 2^64 + 1": (changed(sub=str(2**64 + 1)), "invalid_token"),
    "sub 2^53": (changed(sub=str(2**53)), "invalid_token"),
    "sub 5000 digits": (changed(sub="9" * 5000), "invalid_token"),
    "sub zero": (changed(sub="0"), "invalid_token"),
    "sub as a number": (lambda u: changed(sub=u.id)(u), "invalid_token"),
    "sid 2^63": (changed(sid=2**63), "invalid_token"),
    "sid true": (changed(sid=True), "invalid_token"),
}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("keyed")
    server = ServerProcess(
        data_dir=root / "data", log_dir=root, env={"GOMICROIM__IDENTITY__JWT_SECRET": SECRET}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keyed_api(keyed_server: ServerProcess, connect: Callable[[ServerProcess], Api]) -> Api:
    return connect(keyed_server)


async def ws_close(server: ServerProcess, token: str) -> tuple[int | None, list[Any]]:
    frames: list[Any] = []
    async with connect(ws_url(server, token), close_timeout=1) as ws:
        try:
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), frames


async def test_issued_tokens_name_issuer_audience_and_type(keyed_api: Api) -> None:
    user = await keyed_api.register_and_login("claims")
    claims = claims_of(user)
    assert (claims["iss"], claims["aud"], claims["typ"]) == ("gomicroim", "gomicroim", "access")
    assert jwt.get_unverified_header(user.access_token)["alg"] == "HS256"


@pytest.mark.parametrize("case", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_access_token_is_refused_on_http(
    keyed_api: Api, keyed_server: ServerProcess, case: tuple[Callable[[User], str], str]
) -> None:
    make, code = case
    user = await keyed_api.register_and_login("http")
    token = make(user)

    for method, path in (("GET", "/api/v1/users/me"), ("GET", "/api/v1/conversations")):
        response = await keyed_api.client.request(method, path, headers=bearer(token))
        assert_error(response, 401, code)
    sent = await keyed_api.client.post(
        "/api/v1/messages",
        json={
            "to": user.id,
            "session_type": "single",
            "client_msg_id": "forged",
            "msg_type": "text",
            "body": "x",
        },
        headers=bearer(token),
    )
    assert_error(sent, 401, code)
    # The real token still works, and nothing the forged one did shows up.
    me = await keyed_api.client.get("/api/v1/users/me", headers=user.headers)
    assert me.status_code == 200, me.text
    assert (await keyed_api.conversations(user))["conversations"] == []
    assert keyed_server.error_lines() == []


@pytest.mark.parametrize("case", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_access_token_is_refused_on_the_websocket(
    keyed_api: Api, keyed_server: ServerProcess, case: tuple[Callable[[User], str], str]
) -> None:
    make, _code = case
    user = await keyed_api.register_and_login("ws", client_type="web")

    assert await ws_close(keyed_server, make(user)) == (4401, [])

    async with connect(ws_url(keyed_server, user.access_token), close_timeout=1) as ws:
        hello = await asyncio.wait_for(ws.recv(), 5)
        assert f'"user_id":{user.id}' in str(hello)
    assert keyed_server.error_lines() == []


async def test_a_token_for_another_audience_of_this_server_is_refused(
    start_server: StartServer, connect: Callable[[ServerProcess], Api], keyed_api: Api
) -> None:
    # Two deployments sharing a key but not an audience do not accept each other's tokens.
    other = connect(
        start_server(
            GOMICROIM__IDENTITY__JWT_SECRET=SECRET,
            GOMICROIM__IDENTITY__TOKEN_AUDIENCE="staging",
        )
    )
    user = await other.register_and_login("staging")
    assert claims_of(user)["aud"] == "staging"
    assert (await other.client.get("/api/v1/users/me", headers=user.headers)).status_code == 200
    response = await keyed_api.client.get("/api/v1/users/me", headers=user.headers)
    assert_error(response, 401, "invalid_token")
