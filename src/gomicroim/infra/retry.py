"""One retry policy for transactions the database aborts on its own: deadlocks, lock waits."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tortoise.exceptions import OperationalError

T = TypeVar("T")

log = logging.getLogger("gomicroim.retry")

#: MySQL/MariaDB errors after which the server has rolled the transaction (or its statement)
#: back and running it again is the documented remedy: ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT.
MYSQL_TRANSIENT = frozenset({1213, 1205})


def mysql_error_code(exc: BaseException) -> int | None:
    """The server's error number behind a tortoise error, if it came from MySQL/MariaDB."""
    cause = exc.args[0] if exc.args else None
    code = cause.args[0] if isinstance(cause, Exception) and cause.args else None
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` aborted a transaction that may simply run again.

    MySQL deadlocks and lock wait timeouts, and SQLite's "database is locked" (several
    processes on one file outlasting ``busy_timeout``).
    """
    if not isinstance(exc, OperationalError):
        return False
    return mysql_error_code(exc) in MYSQL_TRANSIENT or "database is locked" in str(exc)


@dataclass(frozen=True)
class RetryPolicy:
    """Run an operation again after a transient failure, with jittered, growing pauses.

    Attributes:
        attempts: Runs in total, the first included.
        base_delay_s: The pause after attempt n is uniform in [0, base_delay_s * n], capped.
        max_delay_s: Upper bound of one pause.
    """

    attempts: int = 8
    base_delay_s: float = 0.005
    max_delay_s: float = 0.25

    async def run(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        what: str,
        retry_if: Callable[[Exception], bool] = is_transient,
    ) -> T:
        """Await ``operation()`` until it succeeds, fails for good, or attempts run out.

        Args:
            operation: Runs one whole transaction; called again from scratch on each attempt.
            what: Names the operation in the log line of each retry.
            retry_if: Which failures are worth another attempt; others are raised at once.

        Returns:
            What the first successful attempt returned.

        Raises:
            Exception: The last failure, when it is not retryable or attempts ran out.
        """
        attempt = 1
        while True:
            try:
                return await operation()
            except Exception as exc:
                if attempt >= self.attempts or not retry_if(exc):
                    raise
                log.info(
                    "transaction retried",
                    extra={"operation": what, "attempt": attempt, "reason": str(exc)[:200]},
                )
                pause = min(self.max_delay_s, self.base_delay_s * attempt)
                await asyncio.sleep(random.uniform(0, pause))  # noqa: S311 - jitter, not crypto
                attempt += 1


#: The policy every store uses unless it has a reason to differ.
DEFAULT_RETRY = RetryPolicy()
