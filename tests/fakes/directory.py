"""A fixed set of existing users: stands in for identity's facade as a user directory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class StaticDirectory:
    """Implements groups' ``UserDirectory`` and chat's ``Directory`` ports.

    Args:
        user_ids: the users that exist.
        yield_control: give the event loop a turn on every call, as real I/O does, so
            concurrent callers interleave.
    """

    def __init__(self, user_ids: Iterable[int] = (), *, yield_control: bool = False):
        self.user_ids = set(user_ids)
        self._yield = yield_control

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """The subset of ``user_ids`` that exist."""
        if self._yield:
            await asyncio.sleep(0)
        return user_ids & self.user_ids
