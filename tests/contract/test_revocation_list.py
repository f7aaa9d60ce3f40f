"""Contract of identity's ``RevocationList``: in process and in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gomicroim.clock import now_ms
from gomicroim.modules.identity.ports import RevocationList
from gomicroim.modules.identity.storage import MemoryRevocationList, RedisRevocationList
from tests.conftest import RedisEngines
from tests.redis_support import unique_prefix

HOUR = 3_600_000


@pytest.fixture(params=["memory", "redis"])
async def revocations(request: pytest.FixtureRequest) -> AsyncIterator[RevocationList]:
    if request.param == "memory":
        yield MemoryRevocationList()
        return
    engines = RedisEngines(request.getfixturevalue("redis_url"), unique_prefix())
    try:
        yield RedisRevocationList(await engines.start())
    finally:
        await engines.stop_all()


async def test_a_revoked_session_is_refused_and_others_are_not(
    revocations: RevocationList,
) -> None:
    await revocations.revoke(7, now_ms() + HOUR)

    assert await revocations.is_revoked(7)
    assert not await revocations.is_revoked(8)


async def test_revoking_twice_keeps_the_later_deadline(revocations: RevocationList) -> None:
    await revocations.revoke(7, now_ms() + HOUR)
    await revocations.revoke(7, now_ms() - HOUR)

    assert await revocations.is_revoked(7)


async def test_revocation_holds_until_its_deadline_even_with_many_others(
    revocations: RevocationList,
) -> None:
    await revocations.revoke(1, now_ms() + HOUR)
    for session_id in range(2, 500):
        await revocations.revoke(session_id, now_ms() - HOUR)

    assert await revocations.is_revoked(1)


async def test_a_revocation_lapses_at_its_deadline(revocations: RevocationList) -> None:
    await revocations.revoke(7, now_ms() + 300)
    during = await revocations.is_revoked(7)

    await asyncio.sleep(0.5)

    assert during
    assert not await revocations.is_revoked(7)


async def test_a_deadline_already_passed_revokes_nothing(revocations: RevocationList) -> None:
    await revocations.revoke(7, now_ms() - 1)

    assert not await revocations.is_revoked(7)
