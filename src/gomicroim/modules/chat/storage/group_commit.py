"""Group commit for sends: concurrent drafts share one transaction, one fsync, a few statements.

While one batch commits, new sends queue up; the next batch takes them all. A lone send is
committed at once (no timer), so latency at low load is one transaction, and under load the
per-message cost of commits and round trips shrinks with the batch.

The committer is the send's unit of work: after each commit it hands the committed events to
its listener (the outbox relay), in seq order, before it wakes the waiting senders. A sender
that was cancelled meanwhile changes nothing about that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from tortoise.exceptions import DBConnectionError, IntegrityError

from gomicroim.errors import Unavailable
from gomicroim.infra.retry import DEFAULT_RETRY, RetryPolicy
from gomicroim.modules.chat.contract import MessageCommitted, MessageRead
from gomicroim.modules.chat.ports import CommitListener, DuplicateMessage, MessageDraft
from gomicroim.modules.chat.storage.batch_sql import Outcome

log = logging.getLogger("gomicroim.chat")


class BatchWriter(Protocol):
    """What commits one batch: the SQL transaction in production, a fake in unit tests."""

    async def commit(self, drafts: Sequence[MessageDraft]) -> list[Outcome]:
        """Store the batch in one transaction; one outcome per draft, or raise for all."""
        ...

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """A committed message by its sender's client id."""
        ...


class SendInterrupted(Unavailable):
    """The committer stopped before it knew whether a send committed; a retry is safe."""


class SendQueueFull(Unavailable):
    """More sends wait for the database than ``max_pending`` allows; nothing was queued."""

    retry_after_s = 1.0


_Waiter = tuple[MessageDraft, asyncio.Future[MessageRead]]


class GroupCommitter:
    """Queues drafts, commits them in batches and hands what committed to the listener.

    Failures are settled per draft: a batch that fails is committed again draft by draft, so
    one draft the database refuses fails alone. Only a clash on (sender_id, client_msg_id) is a
    :class:`DuplicateMessage`. Deadlocks and lock wait timeouts are retried by ``retry``.
    """

    def __init__(
        self,
        *,
        writer: BatchWriter,
        listener: CommitListener,
        max_batch: int = 256,
        max_pending: int = 10000,
        retry: RetryPolicy = DEFAULT_RETRY,
    ):
        self._writer = writer
        self._listener = listener
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retry = retry
        self._queue: list[_Waiter] = []
        self._worker: asyncio.Task[None] | None = None

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Commit ``draft`` with whatever else is waiting.

        Raises:
            DuplicateMessage: (sender, client_msg_id) is stored already.
            SendInterrupted: the committer was stopped before the outcome was known.
            SendQueueFull: ``max_pending`` sends wait already (a slow or stuck database).
            Exception: whatever else failed this draft.
        """
        if len(self._queue) >= self._max_pending:
            raise SendQueueFull(
                "the server has too many sends waiting for storage; retry in a second",
                code="server_busy",
            )
        future: asyncio.Future[MessageRead] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="chat-group-commit")
        return await future

    @property
    def pending(self) -> int:
        """Sends queued for the next batch."""
        return len(self._queue)

    async def _drain(self) -> None:
        batch: list[_Waiter] = []
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._settle(batch)
                batch = []
        finally:
            # Cancelled mid-batch (the loop is shutting down): nobody may wait forever. The
            # batch may or may not have committed; a retry with the same client id is safe.
            leftovers, self._queue = batch + self._queue, []
            for _, future in leftovers:
                if not future.done():
                    future.set_exception(
                        SendInterrupted(
                            "the send was interrupted before its commit was confirmed; "
                            "retry it with the same client_msg_id",
                            code="send_interrupted",
                        )
                    )

    async def _settle(self, batch: list[_Waiter]) -> None:
        drafts = [draft for draft, _ in batch]
        try:
            outcomes = await self._retry.run(
                lambda: self._writer.commit(drafts), what="send group commit"
            )
        except DBConnectionError as exc:
            self._deliver(batch, [exc] * len(batch))
            return
        except Exception as exc:
            if len(batch) == 1:
                self._deliver(batch, [await self._failure(drafts[0], exc)])
                return
            # Settle each draft on its own: a replica raced us on a key, or one draft is bad.
            log.info("group commit fell back to single commits", extra={"reason": str(exc)[:200]})
            for waiter in batch:
                self._deliver([waiter], [await self._commit_alone(waiter[0])])
            return
        self._deliver(batch, outcomes)

    async def _commit_alone(self, draft: MessageDraft) -> Outcome:
        try:
            (outcome,) = await self._retry.run(
                lambda: self._writer.commit([draft]), what="send commit"
            )
        except Exception as exc:
            return await self._failure(draft, exc)
        return outcome

    async def _failure(self, draft: MessageDraft, exc: Exception) -> Exception:
        """What a failed single commit means: a duplicate only if the client id is stored."""
        if isinstance(exc, IntegrityError):
            try:
                existing = await self._writer.find_sent(draft.sender_id, draft.client_msg_id)
            except Exception:
                return exc
            if existing is not None:
                return DuplicateMessage(existing)
        return exc

    def _deliver(self, batch: list[_Waiter], outcomes: Sequence[Outcome]) -> None:
        """Hand committed events to the listener first, then wake the senders, in order."""
        committed = [
            MessageCommitted(message=outcome, sender_device_id=draft.sender_device_id)
            for (draft, _), outcome in zip(batch, outcomes, strict=True)
            if isinstance(outcome, MessageRead)
        ]
        if committed:
            try:
                self._listener(committed)
            except Exception:
                log.exception("commit listener failed; the relay's table scan publishes these")
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the sender was cancelled; its message is handed over anyway
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
