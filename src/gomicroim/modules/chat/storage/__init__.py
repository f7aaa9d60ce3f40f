"""Chat storage: tortoise models and the SQL adapter of :class:`ChatStore`."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import cast

from tortoise import fields, models
from tortoise.expressions import Q
from tortoise.indexes import Index
from tortoise.transactions import in_transaction

from gomicroim.caching import Cache, CacheStats
from gomicroim.infra.retry import DEFAULT_RETRY, RetryPolicy
from gomicroim.modules.chat.contract import MessageRead, MsgType, SessionType
from gomicroim.modules.chat.domain import next_read_seq
from gomicroim.modules.chat.ports import (
    CommitListener,
    EntryRow,
    ListPosition,
    MessageDraft,
    ReadPosition,
    SettingsChange,
)
from gomicroim.modules.chat.storage import codec, listing
from gomicroim.modules.chat.storage.batch_sql import SqlBatchWriter
from gomicroim.modules.chat.storage.group_commit import GroupCommitter
from gomicroim.modules.chat.storage.visibility import VisibilityWindow as VisibilityWindow
from gomicroim.modules.chat.storage.visibility import record_spells
from gomicroim.modules.chat.visibility import SeqWindow

#: The read receipts' index of chat_entry (the migration chat 0008 creates it under this name).
READERS_INDEX = "chat_entry_readers"
#: Conversations remembered as existing, and their entries' member versions (LRUs).
CONVERSATIONS_CACHED = 100_000


class Conversation(models.Model):
    """Seq counter and last message of one conversation."""

    id = fields.CharField(max_length=64, primary_key=True)
    session_type = fields.CharField(max_length=8)
    last_seq = fields.BigIntField(default=0)
    last_message = fields.TextField(null=True)
    updated_at = fields.BigIntField()
    member_version = fields.BigIntField(default=0)

    class Meta:
        table = "chat_conversation"
        # Covers what a list page joins and sorts on (see listing.py).
        indexes = (
            Index(fields=("id", "updated_at", "last_seq", "session_type"), name=listing.INDEX),
        )


class Entry(models.Model):
    """Read position of one user in one conversation."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    conversation_id = fields.CharField(max_length=64, db_index=True)
    read_seq = fields.BigIntField(default=0)
    created_at = fields.BigIntField()
    # The user's own settings (see settings.py); database defaults keep the INSERTs that do
    # not name them, and the rows written before these columns, as they are.
    muted_until = fields.BigIntField(null=True)
    pinned = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "chat_entry"
        unique_together = (("user_id", "conversation_id"),)
        # Read receipts: who read a message is a range of read_seq (see readers.py).
        indexes = (Index(fields=("conversation_id", "read_seq", "user_id"), name=READERS_INDEX),)


class Message(models.Model):
    """Stored message history, kept forever."""

    id = fields.BigIntField(primary_key=True)
    conversation_id = fields.CharField(max_length=64)
    seq = fields.BigIntField()
    sender_id = fields.BigIntField()
    to_id = fields.BigIntField()
    session_type = fields.CharField(max_length=8)
    client_msg_id = fields.CharField(max_length=64)
    msg_type = fields.CharField(max_length=16)
    body = fields.TextField()
    created_at = fields.BigIntField()
    # Changes after the send (see storage.changes); database defaults keep the send's INSERT
    # and rows written before these columns as they are.
    revision = fields.IntField(default=0, db_default=0)
    edited_at = fields.BigIntField(null=True)
    recalled = fields.BooleanField(default=False, db_default=False)
    recalled_by = fields.BigIntField(null=True)
    recalled_at = fields.BigIntField(null=True)

    class Meta:
        table = "chat_message"
        unique_together = (("conversation_id", "seq"), ("sender_id", "client_msg_id"))


class Hidden(models.Model):
    """A message one user deleted for themselves: left out of their history."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    conversation_id = fields.CharField(max_length=64)
    seq = fields.BigIntField()
    created_at = fields.BigIntField()

    class Meta:
        table = "chat_hidden"
        unique_together = (("user_id", "conversation_id", "seq"),)


class Outbox(models.Model):
    """Committed-message events waiting for the relay to the bus.

    ``claimed_by`` is the node whose relay may publish the row until ``claim_until`` (ms);
    after that any relay may claim it (see :class:`SqlOutboxStore`).
    """

    id = fields.BigIntField(primary_key=True)
    conversation_id = fields.CharField(max_length=64)
    seq = fields.BigIntField()
    payload = fields.TextField()
    created_at = fields.BigIntField()
    published_at = fields.BigIntField(null=True, db_index=True)
    # Database defaults, so rows written by a previous release (a rolling upgrade) are free.
    claimed_by = fields.CharField(max_length=64, default="", db_default="")
    claim_until = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "chat_outbox"
        unique_together = (("conversation_id", "seq"),)


def _last_message(text: str | None) -> MessageRead | None:
    return codec.decode_message(text) if text else None


def _in_window(window: SeqWindow) -> Q:
    if window.end is None:
        return Q(seq__gte=window.start)
    return Q(seq__gte=window.start, seq__lte=window.end)


def _message(row: Message) -> MessageRead:
    return MessageRead(
        conversation_id=row.conversation_id,
        seq=row.seq,
        sender_id=row.sender_id,
        to=row.to_id,
        session_type=cast(SessionType, row.session_type),
        client_msg_id=row.client_msg_id,
        msg_type=cast(MsgType, row.msg_type),
        body=row.body,
        created_at=row.created_at,
        revision=row.revision,
        edited_at=row.edited_at,
        recalled=bool(row.recalled),
        recalled_by=row.recalled_by,
        recalled_at=row.recalled_at,
    )


class SqlChatStore:
    """``ChatStore`` on the relational database.

    Seqs are allocated under the conversation row's lock inside the message's own transaction,
    so commit order equals seq order: a reader paging with ``after_seq`` can never skip a seq
    that commits later. That holds across replicas on MySQL (row lock) and in one process on
    SQLite (one writer).
    """

    def __init__(
        self,
        *,
        on_commit: CommitListener = lambda _: None,
        owner: str = "node-1",
        lease_ms: int = 5000,
        max_batch: int = 256,
        max_pending: int = 10000,
        retry: RetryPolicy = DEFAULT_RETRY,
        cache_stats: CacheStats | None = None,
    ) -> None:
        """Build the store.

        Args:
            on_commit: Gets each commit's events after the commit (the outbox relay).
            owner: This node's id; the outbox rows it writes are claimed by its relay.
            lease_ms: How long those claims last before another relay may take the rows.
            max_batch: Drafts per group-commit transaction at most.
            max_pending: Sends waiting for the group commit at most; more answer 503.
            retry: The policy for deadlocks and lock wait timeouts.
            cache_stats: Where the store's caches report their size and hit rates.
        """
        # Conversations are never deleted: once seen, a conversation needs no existence check.
        self._known: Cache[str, bool] = Cache(
            "chat_conversations", max_size=CONVERSATIONS_CACHED, stats=cache_stats
        )
        writer = SqlBatchWriter(owner=owner, lease_ms=lease_ms, known=self._known)
        self._committer = GroupCommitter(
            writer=writer,
            listener=on_commit,
            max_batch=max_batch,
            max_pending=max_pending,
            retry=retry,
        )
        self._member_versions: Cache[str, int] = Cache(
            "chat_member_versions", max_size=CONVERSATIONS_CACHED, stats=cache_stats
        )

    @property
    def pending_sends(self) -> int:
        """Sends waiting for the group commit now."""
        return self._committer.pending

    async def ensure_conversation(
        self, conversation_id: str, session_type: SessionType, user_ids: set[int], now_ms: int
    ) -> None:
        """Create conversation and entries if missing."""
        if self._known.get(conversation_id):
            return
        if await Conversation.filter(id=conversation_id).exists():
            self._known.put(conversation_id, True)
            return
        async with in_transaction():
            await Conversation.bulk_create(
                [Conversation(id=conversation_id, session_type=session_type, updated_at=now_ms)],
                ignore_conflicts=True,
            )
            if user_ids:
                await Entry.bulk_create(
                    [
                        Entry(user_id=u, conversation_id=conversation_id, created_at=now_ms)
                        for u in sorted(user_ids)
                    ],
                    ignore_conflicts=True,
                )
        self._known.put(conversation_id, True)

    async def member_version(self, conversation_id: str) -> int:
        """Membership version the entries reflect.

        Remembered in memory: a stale value only costs a redundant :meth:`sync_members`, which
        checks the stored version under the row lock.
        """
        cached = self._member_versions.get(conversation_id)
        if cached is not None:
            return cached
        versions = await Conversation.filter(id=conversation_id).values_list(
            "member_version", flat=True
        )
        version = int(cast(int, versions[0])) if versions else 0
        self._member_versions.put(conversation_id, version)
        return version

    async def sync_members(
        self, conversation_id: str, version: int, user_ids: set[int], now_ms: int
    ) -> None:
        """Align entries with the member list; newcomers start with nothing unread."""
        async with in_transaction():
            conversation = await Conversation.select_for_update().get(id=conversation_id)
            if conversation.member_version >= version:
                self._member_versions.put(conversation_id, conversation.member_version)
                return
            current = set(
                await Entry.filter(conversation_id=conversation_id).values_list(
                    "user_id", flat=True
                )
            )
            gone = sorted(cast(int, u) for u in current - user_ids)
            if gone:
                await Entry.filter(conversation_id=conversation_id, user_id__in=gone).delete()
            new = sorted(user_ids - current)
            await record_spells(conversation_id, conversation.last_seq, new, gone, now_ms)
            if new:
                await Entry.bulk_create(
                    [
                        Entry(
                            user_id=u,
                            conversation_id=conversation_id,
                            read_seq=conversation.last_seq,
                            created_at=now_ms,
                        )
                        for u in new
                    ],
                    ignore_conflicts=True,
                )
            await Conversation.filter(id=conversation_id).update(member_version=version)
        self._member_versions.put(conversation_id, version)

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Create the conversation if needed, allocate the seq and write everything at once.

        Concurrent appends are group-committed (see :mod:`.group_commit`).
        """
        return await self._committer.append(draft)

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """By sender and client id."""
        row = await Message.get_or_none(sender_id=sender_id, client_msg_id=client_msg_id)
        return _message(row) if row else None

    async def history(
        self,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        limit: int,
        windows: Sequence[SeqWindow] | None = None,
    ) -> tuple[list[MessageRead], bool]:
        """A page in ascending seq order, inside ``windows`` when given."""
        query = Message.filter(conversation_id=conversation_id)
        if windows is not None:
            if not windows:
                return [], False
            query = query.filter(functools.reduce(operator.or_, map(_in_window, windows)))
        if after_seq is not None:
            rows = await query.filter(seq__gt=after_seq).order_by("seq").limit(limit + 1)
            return [_message(r) for r in rows[:limit]], len(rows) > limit
        if before_seq is not None:
            query = query.filter(seq__lt=before_seq)
        rows = await query.order_by("-seq").limit(limit + 1)
        return [_message(r) for r in reversed(rows[:limit])], len(rows) > limit

    async def entries(
        self, user_id: int, *, before: ListPosition | None = None, limit: int | None = None
    ) -> list[EntryRow]:
        """A page of entries in list order, cut by the database.

        The user's entries (the ``(user_id, conversation_id)`` key) join their conversations
        through the covering index; only the page's last messages are read afterwards.
        """
        rows = await listing.page(Entry._meta.db, user_id, before, limit)
        if not rows:
            return []
        ids = [str(r["id"]) for r in rows]
        texts = dict(await Conversation.filter(id__in=ids).values_list("id", "last_message"))
        return [
            EntryRow(
                conversation_id=str(r["id"]),
                session_type=cast(SessionType, r["session_type"]),
                last_seq=int(r["last_seq"]),
                read_seq=int(r["read_seq"]),
                last_message=_last_message(texts.get(r["id"])),
                updated_at=int(r["updated_at"]),
                pinned=bool(r["pinned"]),
                muted_until=None if r["muted_until"] is None else int(r["muted_until"]),
            )
            for r in rows
        ]

    async def total_unread(self, user_id: int, now_ms: int) -> int:
        """One aggregate over the user's entries that are not muted."""
        return await listing.total_unread(Entry._meta.db, user_id, now_ms)

    async def update_settings(
        self, user_id: int, conversation_id: str, change: SettingsChange
    ) -> tuple[int | None, bool] | None:
        """One UPDATE by the ``(user_id, conversation_id)`` key, then the row read back."""
        values: dict[str, object] = {}
        if change.set_muted:
            values["muted_until"] = change.muted_until
        if change.pinned is not None:
            values["pinned"] = change.pinned
        query = Entry.filter(user_id=user_id, conversation_id=conversation_id)
        if values:
            await query.update(**values)
        rows = await query.values_list("muted_until", "pinned")
        if not rows:
            return None
        muted_until, pinned = rows[0]
        return (None if muted_until is None else int(cast(int, muted_until)), bool(pinned))

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """One query on the conversation_id index."""
        if not user_ids:
            return set()
        rows = await Entry.filter(
            conversation_id=conversation_id, user_id__in=list(user_ids), muted_until__gt=now_ms
        ).values_list("user_id", flat=True)
        return {int(cast(int, u)) for u in rows}

    async def existing_conversations(self, conversation_ids: list[str]) -> set[str]:
        """Primary key lookups, skipping the ones remembered as existing."""
        known = {c for c in conversation_ids if self._known.get(c)}
        rest = sorted(set(conversation_ids) - known)
        if rest:
            found = await Conversation.filter(id__in=rest).values_list("id", flat=True)
            for conversation_id in found:
                self._known.put(str(conversation_id), True)
                known.add(str(conversation_id))
        return known

    async def peer_read_seqs(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """The peers' entries of these single chats, by the conversation_id index."""
        if not conversation_ids:
            return {}
        rows = (
            await Entry.filter(conversation_id__in=conversation_ids)
            .exclude(user_id=user_id)
            .values_list("conversation_id", "read_seq")
        )
        return {str(c): int(cast(int, r)) for c, r in rows}

    async def mark_read(self, user_id: int, conversation_id: str, seq: int) -> ReadPosition:
        """Forward-only read position."""
        async with in_transaction():
            first_read = not await Entry.exists(user_id=user_id, conversation_id=conversation_id)
            # A locking read of a missing entry takes a gap lock that every concurrent first
            # read shares, and each one's insert then waits on the others' (a MySQL
            # deadlock). A first read locks the conversation row before it looks, so first
            # reads of one conversation queue there; later reads lock only their own row.
            conversations = Conversation.select_for_update() if first_read else Conversation
            conversation = await conversations.get_or_none(id=conversation_id)
            if conversation is None:
                return ReadPosition(read_seq=0, last_seq=0)
            last_seq = conversation.last_seq
            entry = await Entry.select_for_update().get_or_none(
                user_id=user_id, conversation_id=conversation_id
            )
            if entry is None:
                read_seq = next_read_seq(0, seq, last_seq)
                await Entry.create(
                    user_id=user_id,
                    conversation_id=conversation_id,
                    read_seq=read_seq,
                    created_at=conversation.updated_at,
                )
                return ReadPosition(read_seq=read_seq, last_seq=last_seq, moved=read_seq > 0)
            read_seq = next_read_seq(entry.read_seq, seq, last_seq)
            moved = read_seq != entry.read_seq
            if moved:
                await Entry.filter(id=entry.id).update(read_seq=read_seq)
            return ReadPosition(read_seq=read_seq, last_seq=last_seq, moved=moved)
