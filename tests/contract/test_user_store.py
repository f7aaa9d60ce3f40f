"""Contract of identity's ``UserStore``: every adapter behaves like this."""

from __future__ import annotations

import asyncio

import pytest

from gomicroim.modules.identity.ports import DeviceRecord, UsernameTaken, UserStore
from gomicroim.modules.identity.storage import SqlUserStore
from tests.contract.conftest import Backend
from tests.fakes import MemoryUserStore

NOW = 1_700_000_000_000


@pytest.fixture
def users(backend: Backend) -> UserStore:
    return SqlUserStore() if backend.sql else MemoryUserStore()


async def _create(users: UserStore, username: str) -> int:
    user = await users.create(
        username=username, nickname=username.title(), password_hash="h", now_ms=NOW
    )
    return user.id


def _device(user_id: int, device_id: str = "phone", **changes: object) -> DeviceRecord:
    fields: dict[str, object] = {
        "user_id": user_id,
        "device_id": device_id,
        "client_type": "app",
        "platform": "ios",
        "last_login_at": NOW,
    }
    fields.update(changes)
    return DeviceRecord(**fields)  # type: ignore[arg-type]


async def test_created_user_is_found_by_id_and_username(users: UserStore) -> None:
    created = await users.create(
        username="alice", nickname="Alice A.", password_hash="hash-1", now_ms=NOW
    )

    assert created.id >= 1
    assert (created.username, created.nickname, created.password_hash, created.created_at) == (
        "alice",
        "Alice A.",
        "hash-1",
        NOW,
    )
    assert await users.by_id(created.id) == created
    assert await users.by_username("alice") == created


async def test_ids_are_distinct_and_javascript_safe(users: UserStore) -> None:
    ids = [await _create(users, f"user{i}") for i in range(5)]

    assert len(set(ids)) == 5
    assert all(1 <= i < 2**53 for i in ids)


async def test_unknown_user_is_none(users: UserStore) -> None:
    await _create(users, "alice")

    assert await users.by_id(987654) is None
    assert await users.by_username("bob") is None


async def test_taken_username_is_refused_and_first_user_kept(users: UserStore) -> None:
    first = await users.create(username="alice", nickname="A", password_hash="h1", now_ms=NOW)

    with pytest.raises(UsernameTaken):
        await users.create(username="alice", nickname="B", password_hash="h2", now_ms=NOW + 1)

    assert await users.by_username("alice") == first


async def test_concurrent_registrations_of_one_name_store_one_user(users: UserStore) -> None:
    results = await asyncio.gather(
        *(_create(users, "alice") for _ in range(10)), return_exceptions=True
    )

    created = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, UsernameTaken)]
    assert len(created) == 1
    assert len(refused) == 9
    found = await users.by_username("alice")
    assert found is not None
    assert found.id == created[0]


async def test_existing_ids_is_the_subset_that_exists(users: UserStore) -> None:
    a = await _create(users, "alice")
    b = await _create(users, "bob")

    assert await users.existing_ids({a, b, 999_999}) == {a, b}
    assert await users.existing_ids({999_999}) == set()
    assert await users.existing_ids(set()) == set()


async def test_save_device_inserts_then_updates(users: UserStore) -> None:
    a = await _create(users, "alice")

    await users.save_device(_device(a))
    await users.save_device(_device(a, client_type="desktop", platform=None, last_login_at=NOW + 5))

    assert await users.devices_of({a}) == [
        _device(a, client_type="desktop", platform=None, last_login_at=NOW + 5)
    ]


async def test_devices_of_lists_every_device_of_the_users_asked_for(users: UserStore) -> None:
    a = await _create(users, "alice")
    b = await _create(users, "bob")
    c = await _create(users, "carol")
    await users.save_device(_device(a, "phone"))
    await users.save_device(_device(a, "laptop", client_type="web"))
    await users.save_device(_device(b, "phone"))
    await users.save_device(_device(c, "phone"))

    found = await users.devices_of({a, b})

    assert sorted((d.user_id, d.device_id) for d in found) == sorted(
        [(a, "laptop"), (a, "phone"), (b, "phone")]
    )
    assert await users.devices_of({999_999}) == []


async def test_device_ids_are_case_sensitive(users: UserStore) -> None:
    # Device ids are opaque client-chosen strings ([A-Za-z0-9_.:-]); two installations
    # whose random ids differ only in case are two devices.
    a = await _create(users, "alice")
    await users.save_device(_device(a, "Tab-1", client_type="web"))
    await users.save_device(_device(a, "tab-1", client_type="app"))

    found = await users.devices_of({a})

    assert sorted((d.device_id, d.client_type) for d in found) == [
        ("Tab-1", "web"),
        ("tab-1", "app"),
    ]


async def test_concurrent_logins_of_one_device_keep_one_device_row(users: UserStore) -> None:
    a = await _create(users, "alice")

    await asyncio.gather(*(users.save_device(_device(a, last_login_at=NOW + i)) for i in range(10)))

    devices = await users.devices_of({a})
    assert len(devices) == 1
    assert devices[0].device_id == "phone"


async def test_unicode_nickname_round_trips(users: UserStore) -> None:
    created = await users.create(
        username="zoe", nickname="Zoë 🐱 李", password_hash="h", now_ms=NOW
    )

    found = await users.by_id(created.id)
    assert found is not None
    assert found.nickname == "Zoë 🐱 李"
