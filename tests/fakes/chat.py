"""Fake of chat's ``ChatStore``: conversations, entries, history and the outbox in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gomicroim.modules.chat.contract import (
    MessageCommitted,
    MessageRead,
    ReadPositionMoved,
    SessionType,
)
from gomicroim.modules.chat.domain import active_mute, list_position, next_read_seq, unread
from gomicroim.modules.chat.ports import (
    CommitListener,
    DuplicateMessage,
    EntryRow,
    ListPosition,
    MessageDraft,
    ReadPosition,
    SettingsChange,
)
from gomicroim.modules.chat.visibility import SeqWindow
from tests.fakes.outbox import MemoryOutboxStore

#: The SQL adapters store ids as signed 64-bit integers; the fake refuses what they refuse.
_BIGINT_MAX = 2**63 - 1


@dataclass
class _Conversation:
    session_type: SessionType
    updated_at: int
    last_seq: int = 0
    last_message: MessageRead | None = None
    member_version: int = 0
    messages: list[MessageRead] = field(default_factory=list)


class MemoryChatStore:
    """``ChatStore`` in dicts. No method awaits, so each call is atomic on the event loop.

    ``outbox`` holds every :class:`MessageCommitted` written, in commit order. Pass an
    ``outbox_store`` to have the same records also land there (claimed by ``owner`` for
    ``lease_ms``), as the send transaction and the relay share one table in SQL.
    """

    def __init__(
        self,
        outbox_store: MemoryOutboxStore | None = None,
        *,
        on_commit: CommitListener = lambda _: None,
        owner: str = "node-1",
        lease_ms: int = 5000,
    ) -> None:
        self._outbox_store = outbox_store
        self._on_commit = on_commit
        self._owner = owner
        self._lease_ms = lease_ms
        self._conversations: dict[str, _Conversation] = {}
        # (user_id, conversation_id) -> read_seq
        self._reads: dict[tuple[int, str], int] = {}
        # (user_id, conversation_id) -> (muted_until, pinned); absent: the defaults. Goes with
        # the entry (a leaver's settings are not kept for a rejoin), as the SQL row does.
        self._settings: dict[tuple[int, str], tuple[int | None, bool]] = {}
        self._sent: dict[tuple[int, str], MessageRead] = {}
        self.outbox: list[MessageCommitted] = []
        #: (conversation_id, user_id) -> spells oldest first; see :class:`MemoryVisibilityStore`.
        self.windows: dict[tuple[str, int], list[SeqWindow]] = {}

    def replica(self, *, on_commit: CommitListener, owner: str = "node-1") -> MemoryChatStore:
        """Another process's store over this one's data, handing its commits to ``on_commit``."""
        other = MemoryChatStore(
            self._outbox_store, on_commit=on_commit, owner=owner, lease_ms=self._lease_ms
        )
        other._conversations, other._reads, other._sent, other._settings = (
            self._conversations,
            self._reads,
            self._sent,
            self._settings,
        )
        other.outbox = self.outbox
        other.windows = self.windows
        return other

    @property
    def pending_sends(self) -> int:
        """Nothing waits: every call commits at once."""
        return 0

    async def ensure_conversation(
        self, conversation_id: str, session_type: SessionType, user_ids: set[int], now_ms: int
    ) -> None:
        """Create the conversation and these users' entries if it does not exist yet."""
        if conversation_id in self._conversations:
            return
        self._conversations[conversation_id] = _Conversation(session_type, updated_at=now_ms)
        for user_id in user_ids:
            self._reads.setdefault((user_id, conversation_id), 0)

    async def member_version(self, conversation_id: str) -> int:
        """The membership version the entries were synced to (0 if never)."""
        conversation = self._conversations.get(conversation_id)
        return 0 if conversation is None else conversation.member_version

    async def sync_members(
        self, conversation_id: str, version: int, user_ids: set[int], now_ms: int
    ) -> None:
        """Make the entries exactly ``user_ids`` unless already synced to ``version`` or later."""
        conversation = self._conversations[conversation_id]
        if conversation.member_version >= version:
            return
        current = {u for (u, c) in self._reads if c == conversation_id}
        last = conversation.last_seq
        for user_id in current - user_ids:
            del self._reads[(user_id, conversation_id)]
            spells = self.windows.get((conversation_id, user_id), [])
            self.windows[(conversation_id, user_id)] = [
                SeqWindow(start=w.start, end=last) if w.end is None else w for w in spells
            ]
            self._settings.pop((user_id, conversation_id), None)
        for user_id in user_ids - current:
            self._reads[(user_id, conversation_id)] = last
            spells = self.windows.setdefault((conversation_id, user_id), [])
            spells.append(SeqWindow(start=last + 1))
        conversation.member_version = version

    async def append(self, draft: MessageDraft) -> MessageRead:
        """Create the conversation if needed, then next seq, message, entries and outbox."""
        key = (draft.sender_id, draft.client_msg_id)
        if key in self._sent:
            raise DuplicateMessage(self._sent[key])
        if max(draft.sender_id, draft.to, draft.created_at, *draft.participants) > _BIGINT_MAX:
            raise OverflowError("a value does not fit a signed 64-bit integer column")
        if draft.conversation_id not in self._conversations:
            self._conversations[draft.conversation_id] = _Conversation(
                draft.session_type, updated_at=draft.created_at
            )
            for user_id in draft.participants:
                self._reads.setdefault((user_id, draft.conversation_id), 0)
        conversation = self._conversations[draft.conversation_id]
        message = draft.at_seq(conversation.last_seq + 1)
        conversation.messages.append(message)
        conversation.last_seq = message.seq
        conversation.last_message = message
        conversation.updated_at = message.created_at
        if draft.advance_sender:
            self._reads[(draft.sender_id, draft.conversation_id)] = message.seq
        self._sent[key] = message
        event = MessageCommitted(message=message, sender_device_id=draft.sender_device_id)
        self.outbox.append(event)
        if self._outbox_store is not None:
            self._outbox_store.add(event, owner=self._owner, lease_ms=self._lease_ms)
        self._on_commit([event])
        return message

    async def find_sent(self, sender_id: int, client_msg_id: str) -> MessageRead | None:
        """A message by its sender's client id."""
        return self._sent.get((sender_id, client_msg_id))

    async def history(
        self,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        limit: int,
        windows: Sequence[SeqWindow] | None = None,
    ) -> tuple[list[MessageRead], bool]:
        """Up to ``limit`` messages ascending by seq inside ``windows``, and whether more."""
        conversation = self._conversations.get(conversation_id)
        messages = [] if conversation is None else conversation.messages
        if windows is not None:
            messages = [m for m in messages if any(w.holds(m.seq) for w in windows)]
        if after_seq is not None:
            later = [m for m in messages if m.seq > after_seq]
            return later[:limit], len(later) > limit
        if before_seq is not None:
            messages = [m for m in messages if m.seq < before_seq]
        page = messages[-limit:] if limit > 0 else []
        return page, len(messages) > limit

    async def entries(
        self, user_id: int, *, before: ListPosition | None = None, limit: int | None = None
    ) -> list[EntryRow]:
        """The user's entries in list order, below ``before``, at most ``limit``."""
        rows = [
            EntryRow(
                conversation_id=conversation_id,
                session_type=conversation.session_type,
                last_seq=conversation.last_seq,
                read_seq=read_seq,
                last_message=conversation.last_message,
                updated_at=conversation.updated_at,
                muted_until=muted_until,
                pinned=pinned,
            )
            for (uid, conversation_id), read_seq in self._reads.items()
            if uid == user_id
            for conversation in (self._conversations[conversation_id],)
            for muted_until, pinned in (self._settings.get((uid, conversation_id), (None, False)),)
        ]
        if before is not None:
            rows = [r for r in rows if list_position(r) < before]
        rows.sort(key=list_position, reverse=True)
        return rows if limit is None else rows[:limit]

    async def total_unread(self, user_id: int, now_ms: int) -> int:
        """Unread summed over the user's entries not muted at ``now_ms``."""
        return sum(
            unread(self._conversations[c].last_seq, read_seq)
            for (uid, c), read_seq in self._reads.items()
            if uid == user_id and (uid, c) not in self.muted_at(now_ms)
        )

    def muted_at(self, now_ms: int) -> set[tuple[int, str]]:
        """The (user, conversation) entries muted later than ``now_ms``."""
        return {
            key
            for key, (muted_until, _) in self._settings.items()
            if active_mute(muted_until, now_ms) is not None
        }

    async def update_settings(
        self, user_id: int, conversation_id: str, change: SettingsChange
    ) -> tuple[int | None, bool] | None:
        """Apply ``change`` to the user's entry; None (nothing stored) without an entry."""
        key = (user_id, conversation_id)
        if key not in self._reads:
            return None
        muted_until, pinned = self._settings.get(key, (None, False))
        if change.set_muted:
            if change.muted_until is not None and change.muted_until > _BIGINT_MAX:
                raise OverflowError("muted_until does not fit a signed 64-bit integer column")
            muted_until = change.muted_until
        if change.pinned is not None:
            pinned = change.pinned
        self._settings[key] = (muted_until, pinned)
        return muted_until, pinned

    async def muted_users(
        self, conversation_id: str, user_ids: Sequence[int], now_ms: int
    ) -> set[int]:
        """Which of ``user_ids`` have the conversation muted later than ``now_ms``."""
        muted = self.muted_at(now_ms)
        return {u for u in user_ids if (u, conversation_id) in muted}

    async def mark_read(self, user_id: int, conversation_id: str, seq: int) -> ReadPosition:
        """Move the read seq forward, clamped to the last seq; create the entry if missing."""
        conversation = self._conversations.get(conversation_id)
        if conversation is None:
            return ReadPosition(read_seq=0, last_seq=0)
        key = (user_id, conversation_id)
        before = self._reads.get(key, 0)
        read_seq = next_read_seq(before, seq, conversation.last_seq)
        self._reads[key] = read_seq
        return ReadPosition(
            read_seq=read_seq, last_seq=conversation.last_seq, moved=read_seq != before
        )

    async def existing_conversations(self, conversation_ids: list[str]) -> set[str]:
        """Conversations created so far."""
        return {c for c in conversation_ids if c in self._conversations}

    async def peer_read_seqs(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """The other participant's read seq in each of these single chats."""
        wanted = set(conversation_ids)
        return {
            conversation_id: read_seq
            for (uid, conversation_id), read_seq in self._reads.items()
            if uid != user_id and conversation_id in wanted
        }


class MemoryVisibilityStore:
    """``VisibilityStore`` over the windows a :class:`MemoryChatStore` records."""

    def __init__(self, chat: MemoryChatStore) -> None:
        self._chat = chat

    async def windows(self, conversation_id: str, user_id: int) -> list[SeqWindow]:
        """Every spell of the user, oldest first."""
        return list(self._chat.windows.get((conversation_id, user_id), []))

    async def current_starts(self, user_id: int, conversation_ids: list[str]) -> dict[str, int]:
        """Open windows' starts by conversation."""
        return {
            c: w.start
            for c in conversation_ids
            for w in self._chat.windows.get((c, user_id), [])
            if w.end is None
        }

    async def joined_after(self, conversation_id: str, seq: int) -> dict[int, int]:
        """Users whose open window starts after ``seq``, with its start."""
        return {
            u: w.start
            for (c, u), spells in self._chat.windows.items()
            if c == conversation_id
            for w in spells
            if w.end is None and w.start > seq
        }


class RecordingReadEvents:
    """``ReadEventPublisher`` that keeps every event; ``accept=False`` plays a bus that is down."""

    def __init__(self, *, accept: bool = True) -> None:
        self.events: list[ReadPositionMoved] = []
        self.accept = accept

    async def publish(self, items: list[ReadPositionMoved]) -> None:
        """Record ``items`` unless told to refuse them."""
        if not self.accept:
            raise ConnectionError("bus down")
        self.events.extend(items)
