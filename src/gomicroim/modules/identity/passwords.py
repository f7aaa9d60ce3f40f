"""Argon2id password hashing, run off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """Implements the ``PasswordHasher`` port with argon2id (OWASP's second profile by default)."""

    def __init__(self, *, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )

    async def hash(self, password: str) -> str:
        """Hash ``password`` in a worker thread: argon2 is deliberately slow."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches; malformed hashes count as a mismatch."""
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
