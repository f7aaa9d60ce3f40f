"""Contract of notifications' ``PushTokenStore``: every adapter behaves like this."""

from __future__ import annotations

import pytest

from gomicroim.modules.notifications.contract import MAX_TOKEN_CHARS
from gomicroim.modules.notifications.ports import PushTokenStore, StoredToken
from gomicroim.modules.notifications.storage import SqlPushTokenStore
from tests.contract.conftest import Backend
from tests.fakes.push_tokens import MemoryPushTokenStore

NOW = 1_700_000_000_000


@pytest.fixture
def tokens(backend: Backend) -> PushTokenStore:
    return SqlPushTokenStore() if backend.sql else MemoryPushTokenStore()


def _token(user_id: int, device_id: str = "phone", **changes: object) -> StoredToken:
    fields: dict[str, object] = {
        "user_id": user_id,
        "device_id": device_id,
        "platform": "apns",
        "token": f"tok-{user_id}-{device_id}",
        "updated_at": NOW,
    }
    fields.update(changes)
    return StoredToken(**fields)  # type: ignore[arg-type]


async def test_a_stored_token_is_found_for_its_user(tokens: PushTokenStore) -> None:
    stored = await tokens.put(_token(1))

    assert await tokens.of_users([1]) == {1: [stored]}
    assert await tokens.of_users([2]) == {}


async def test_a_device_keeps_only_its_latest_token(tokens: PushTokenStore) -> None:
    await tokens.put(_token(1, token="old"))
    latest = await tokens.put(_token(1, platform="fcm", token="new", updated_at=NOW + 5))
    # Storing the same values again changes no row (MySQL then reports 0 rows updated).
    await tokens.put(latest)

    assert await tokens.of_users([1]) == {1: [latest]}


async def test_every_device_of_every_asked_user_comes_back_by_device_id(
    tokens: PushTokenStore,
) -> None:
    tablet, phone = await tokens.put(_token(1, "tablet")), await tokens.put(_token(1, "phone"))
    other = await tokens.put(_token(2, "phone"))
    await tokens.put(_token(3, "phone"))

    assert await tokens.of_users({1, 2, 4}) == {1: [phone, tablet], 2: [other]}


async def test_device_ids_are_case_sensitive(tokens: PushTokenStore) -> None:
    lower = await tokens.put(_token(1, "phone", token="a"))
    upper = await tokens.put(_token(1, "PHONE", token="b"))

    assert await tokens.of_users([1]) == {1: [upper, lower]}


async def test_a_deleted_token_is_gone_and_a_second_delete_finds_nothing(
    tokens: PushTokenStore,
) -> None:
    await tokens.put(_token(1, "phone"))
    kept = await tokens.put(_token(1, "tablet"))

    assert await tokens.delete(1, "phone") is True
    assert await tokens.delete(1, "phone") is False
    assert await tokens.delete(2, "tablet") is False
    assert await tokens.of_users([1]) == {1: [kept]}


async def test_the_longest_allowed_token_is_kept_whole(tokens: PushTokenStore) -> None:
    long = await tokens.put(_token(1, token="x" * MAX_TOKEN_CHARS))

    assert await tokens.of_users([1]) == {1: [long]}


async def test_many_users_are_looked_up_at_once(tokens: PushTokenStore) -> None:
    for user_id in range(1, 1201, 2):
        await tokens.put(_token(user_id))

    found = await tokens.of_users(range(1, 1201))

    assert sorted(found) == list(range(1, 1201, 2))
