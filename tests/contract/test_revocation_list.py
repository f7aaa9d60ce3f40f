"""Contract of identity's ``RevocationList`` (in-process adapter; Redis joins in the cluster)."""

from __future__ import annotations

import pytest

from gomicroim.clock import now_ms
from gomicroim.modules.identity.ports import RevocationList
from gomicroim.modules.identity.storage import MemoryRevocationList

HOUR = 3_600_000


@pytest.fixture(params=["memory"])
def revocations(request: pytest.FixtureRequest) -> RevocationList:
    return MemoryRevocationList()


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
