"""Argon2id password hashing, run off the event loop in a bounded pool of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gomicroim.errors import Unavailable

T = TypeVar("T")


class HashingBusy(Unavailable):
    """Every hashing slot and waiting place is taken: the server is saturated with logins."""

    retry_after_s = 1.0


class Argon2Hasher:
    """Implements the ``PasswordHasher`` port with argon2id (OWASP's second profile by default).

    Each hash takes ``memory_kib`` of memory and a core for a while, so at most
    ``max_concurrent`` run at once (in threads of their own, not the loop's default pool)
    and at most ``max_waiting`` more wait; beyond that a login or registration fails at
    once with 503 ``server_busy`` instead of queueing without bound.
    """

    def __init__(
        self,
        *,
        time_cost: int = 2,
        memory_kib: int = 19456,
        parallelism: int = 1,
        max_concurrent: int = 4,
        max_waiting: int = 256,
    ):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="argon2")
        self._capacity = max_concurrent + max_waiting
        self._pending = 0

    @property
    def pending(self) -> int:
        """Hashes running or waiting now."""
        return self._pending

    async def hash(self, password: str) -> str:
        """Hash ``password`` in a worker thread: argon2 is deliberately slow.

        Raises:
            HashingBusy: too many hashes are running and waiting already.
        """
        return await self._run(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; malformed hashes count as a mismatch.

        Raises:
            HashingBusy: too many hashes are running and waiting already.
        """
        return await self._run(self._verify, password_hash, password)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        if self._pending >= self._capacity:
            raise HashingBusy(
                "the server is busy checking passwords; retry in a second",
                code="server_busy",
            )
        self._pending += 1
        try:
            # A waiter whose request is cancelled leaves the pool's queue without running.
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._pending -= 1

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
