"""What the chat service needs: its store, the outbox, publishers and the other modules' answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Protocol

import msgspec

from gomicroim.modules.chat.contract import (
    MessageCommitted,
    MessageRead,
    MsgType,
    ReadPositionMoved,
    SessionType,
)
from gomicroim.modules.chat.visibility import SeqWindow


class MessageDraft(msgspec.Struct, frozen=True, kw_only=True):
    """A message before it has a seq.

    ``participants`` are the users whose conversation entries the send creates if missing (both
    users of a single chat), in the send's own transaction: a send that fails leaves no empty
    conversation behind. A group's entries follow its membership instead (``sync_members``).

    ``advance_sender`` False: the sender's read position stays (and no entry is made for
    them), for a system message whose actor is no longer a member (a leaver, an operator).
    """

    conversation_id: str
    session_type: SessionType
    sender_id: int
    sender_device_id: str
    to: int
    client_msg_id: str
    msg_type: MsgType
    body: str
    created_at: int
    participants: tuple[int, ...] = ()
    advance_sender: bool = True

    def at_seq(self, seq: int) -> MessageRead:
        """The message this draft becomes when stored at ``seq``."""
        return MessageRead(
            conversation_id=self.conversation_id,
            seq=seq,
            sender_id=self.sender_id,
            to=self.to,
            session_type=self.session_type,
            client_msg_id=self.client_msg_id,
            msg_type=self.msg_type,
            body=self.body,
            created_at=self.created_at,
        )


class EntryRow(msgspec.Struct, frozen=True, kw_only=True):
    """A user's conversation entry joined with the conversation's state."""

    conversation_id: str
    session_type: SessionType
    last_seq: int
    read_seq: int
    last_message: MessageRead | None
    updated_at: int
    #: The user's own settings of the conversation (stored ``muted_until`` may have passed).
    pinned: bool = False
    muted_until: int | None = None


class ListPosition(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """Where an entry sits in a conversation list; lists run from the largest down.

    The one definition of list order: the user's pinned entries first, then by last activity
    (``updated_at``), then by ``conversation_id``, all descending. A new sort key becomes a
    field here, in its place, and in the stores' page query; cursors carry it along. A cursor
    issued before ``pinned`` existed decodes as unpinned.
    """

    pinned: bool = False
    updated_at: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ReadPosition(msgspec.Struct, frozen=True, kw_only=True):
    """A user's read seq in a conversation and the conversation's last seq.

    ``moved`` says whether this call moved ``read_seq`` forward: a read that changes nothing
    tells nobody.
    """

    read_seq: int
    last_seq: int
    moved: bool = False


class DuplicateMessage(Exception):
    """Raised by :meth:`ChatStore.append` when (sender, client_msg_id) is already stored.

    Only a clash on that key is a duplicate; it carries the message stored first, so the
    caller can answer with it.
    """

    def __init__(self, message: MessageRead):
        super().__init__(f"client_msg_id {message.client_msg_id!r} is already stored")
        self.message = message


class CommitListener(Protocol):
    """Takes committed-message events from the store, after commit, in commit (seq) order."""

    def __call__(self, events: Sequence[MessageCommitted]) -> None:
        """Take ``events`` without waiting; must not raise (the outbox rows are the truth)."""
        ...


class ChatStore(Protocol):
    """Conversations, entries, history and the outbox.

    One store because a send touches all four in one transaction. The store is the send's
    unit of work: adapters take a :class:`CommitListener` and call it after each commit with
    that commit's events in seq order, whatever happened to the caller of :meth:`append`
    meanwhile (cancelled, disconnected), so no committed message waits for a table scan.
    """

    @property
    def pending_sends(self) -> int:
        """Sends waiting to be committed now (bounded; a gauge on ``/metrics``)."""
        ...

    async def ensure_conversation(
        self, conversation_id: str, session_type: SessionType, user_ids: set[int], now_ms: int
    ) -> None:
        """Create the conversation with these users' entries; a no-op once it exists."""
        ...

    async def member_version(self, conversation_id: str) -> int:
        """The group membership version the entries were last synced to (0 if never)."""
        ...

    async def sync_members(
        self, conversation_id: str, version: int, user_ids: set[int], now_ms: int
    ) -> None:
        """Make the entries exactly ``user_ids``: new ones start read up to the current seq.

        In the same transaction, under the conversation's lock, each new member's visibility
        window opens at ``last_seq + 1`` and each leaver's open window closes at ``last_seq``
        (see :class:`VisibilityStore`), so the window agrees with the entry's read seq.
        """
        ...

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Store a message with the conversation's next seq.

        In one transaction: create the conversation and the participants' entries if missing,
        allocate the seq under the conversation's lock, store the message, move the sender's
        read position to it (unless ``draft.advance_sender`` is False), update the
        conversation and write the outbox record, claimed by this node's relay. Drafts
        appended concurrently may share that transaction, but each draft succeeds or fails
        on its own.

        Raises:
            DuplicateMessage: (sender, client_msg_id) is stored already (the only duplicate).
            Exception: any other failure of this draft, e.g. a value the database refuses.
        """
        ...

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """A message by its sender's client id."""
        ...

    async def history(
        self,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        limit: int,
        windows: Sequence[SeqWindow] | None = None,
    ) -> tuple[list[MessageRead], bool]:
        """Up to ``limit`` messages ascending by seq, and whether more lie beyond the page.

        With ``windows``, only seqs inside one of them (seq range bounds of the page query,
        not checks per message); an empty list reads nothing.
        """
        ...

    async def entries(
        self, user_id: int, *, before: ListPosition | None = None, limit: int | None = None
    ) -> list[EntryRow]:
        """The user's conversation entries in list order (:class:`ListPosition`, descending).

        Only entries positioned below ``before`` when it is given; at most ``limit`` of them
        (all without it). Pages are cut by the database, not in memory.
        """
        ...

    async def total_unread(self, user_id: int, now_ms: int) -> int:
        """The sum of the user's unread counts (never negative ones) over their entries.

        Entries muted at ``now_ms`` (``muted_until`` later than it) are left out.
        """
        ...

    async def mark_read(self, user_id: int, conversation_id: str, seq: int) -> ReadPosition:
        """Move the read seq forward (clamped to last seq); create the entry if missing."""
        ...

    async def peer_read_seqs(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """The other participant's read seq in each of these single chats (absent: no entry)."""
        ...

    async def existing_conversations(self, conversation_ids: list[str]) -> set[str]:
        """Those of ``conversation_ids`` that exist (were created by a first message)."""
        ...


class VisibilityStore(Protocol):
    """The members' visibility windows of group conversations, one per membership spell.

    :meth:`ChatStore.sync_members` writes them; this port reads them.
    """

    async def windows(self, conversation_id: str, user_id: int) -> list[SeqWindow]:
        """Every spell of the user in the conversation, oldest first."""
        ...

    async def current_starts(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """Where the user's open window starts in each of these (absent: no open window)."""
        ...

    async def joined_after(self, conversation_id: str, seq: int) -> dict[int, int]:
        """The users whose open window starts after ``seq`` (they joined after it): its start."""
        ...


class SettingsChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a settings update writes: ``muted_until`` is already normalised (None = unmuted)."""

    set_muted: bool = False
    muted_until: int | None = None
    pinned: bool | None = None


class ConversationSettingsStore(Protocol):
    """Per-user settings on the conversation entries (the chat store's rows)."""

    async def update_settings(
        self, user_id: int, conversation_id: str, change: SettingsChange
    ) -> tuple[int | None, bool] | None:
        """Apply ``change`` to the user's entry; ``(muted_until, pinned)`` after it.

        Returns ``None`` (and stores nothing) when the user has no entry for it.
        """
        ...

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """Which of these users' entries are muted later than ``now_ms``, in one query."""
        ...


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A committed-message event not yet relayed."""

    id: int
    event: MessageCommitted


class OutboxStore(Protocol):
    """The outbox rows the send transaction writes, claimed by relays with a lease.

    A row is written claimed by the committing node until ``created_at`` plus the lease, so
    that node's relay publishes it from memory without anyone else taking it. A row whose
    claim has expired (its node crashed, or fell that far behind) may be claimed by any relay.
    """

    async def claim(
        self, owner: str, *, now_ms: int, lease_ms: int, created_before_ms: int | None, limit: int
    ) -> list[OutboxRecord]:
        """Claim up to ``limit`` unpublished records for ``owner``, oldest first.

        Takes records already claimed by ``owner`` and records whose claim expired by
        ``now_ms``; with ``created_before_ms``, only records created before it. The claimed
        records are held until ``now_ms + lease_ms``. Concurrent claims never return one
        record to two owners while its claim is live.
        """
        ...

    async def renew(self, owner: str, *, now_ms: int, lease_ms: int) -> int:
        """Extend ``owner``'s claims on its unpublished records to ``now_ms + lease_ms``.

        Returns how many records ``owner`` still held.
        """
        ...

    async def mark_published(self, ids: list[int], now_ms: int) -> None:
        """Record that these were relayed."""
        ...

    async def mark_published_keys(self, keys: list[tuple[str, int]], now_ms: int) -> None:
        """Record that the records of these (conversation_id, seq) were relayed."""
        ...

    async def prune(self, published_before_ms: int) -> int:
        """Delete records relayed before the cutoff; return how many."""
        ...


class CommittedPublisher(Protocol):
    """The bus topic of committed messages."""

    async def publish(self, items: list[MessageCommitted]) -> None:
        """Return once the events are durable on the bus (or, in process, handled)."""
        ...


class ReadEventPublisher(Protocol):
    """Where read-position hints go; losing one is harmless (lists are the truth)."""

    async def publish(self, items: list[ReadPositionMoved]) -> None:
        """Hand the events to the bus without waiting for their handling.

        An adapter may buffer and drop hints when it is full, but never blocks for long.
        """
        ...


class RelayMetrics(Protocol):
    """Counters of the outbox relay (Prometheus in production)."""

    def relay_buffer_overflowed(self, dropped: int) -> None:
        """The in-memory buffer was full: ``dropped`` events go out by the table scan."""
        ...

    def relay_scanned(self, kind: str, records: int) -> None:
        """A table scan (``kind``: full or stale) published ``records`` records."""
        ...

    def watch_outbox_backlog(self, count: Callable[[], int]) -> None:
        """Read the number of committed events waiting to be published from ``count``."""
        ...


class SendMetrics(Protocol):
    """Counters of sends (Prometheus in production)."""

    def message_stored(self, session_type: SessionType) -> None:
        """A new message was stored."""
        ...

    def message_deduplicated(self) -> None:
        """A send was answered with an already stored message."""
        ...


class Directory(Protocol):
    """Identity's answer: which users exist."""

    async def existing_user_ids(self, user_ids: set[int]) -> set[int]:
        """The subset that exists."""
        ...


class Blocks(Protocol):
    """Identity's answer: who has blocked whom (cached there; asked on every single-chat send)."""

    async def is_blocked(self, blocker_id: int, blocked_id: int) -> bool:
        """Whether ``blocker_id`` has blocked ``blocked_id``."""
        ...
