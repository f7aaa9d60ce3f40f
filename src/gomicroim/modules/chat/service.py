"""ChatService: implements :class:`ChatFacade`; orchestration only, rules live in ``domain``."""

from __future__ import annotations

import logging

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Forbidden, InvalidInput, NotFound
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import (
    ConversationList,
    ConversationRead,
    HistoryPage,
    MessageRead,
    MessageSend,
    ReadPositionMoved,
    ReadResult,
    SendResult,
)
from gomicroim.modules.chat.ports import (
    ChatStore,
    Directory,
    DuplicateMessage,
    EntryRow,
    HiddenMessages,
    MessageDraft,
    ReadEventPublisher,
    SendMetrics,
)
from gomicroim.modules.groups.contract import GroupsFacade, MemberSet

log = logging.getLogger("gomicroim.chat")


class ChatService:
    """Sending, conversation lists, history and read positions."""

    def __init__(
        self,
        *,
        store: ChatStore,
        users: Directory,
        groups: GroupsFacade,
        max_body_bytes: int,
        default_page_size: int = 50,
        max_page_size: int = 100,
        conversations_page_limit: int = 50,
        conversations_max_limit: int = 200,
        preview_chars: int = 200,
        read_events: ReadEventPublisher | None = None,
        metrics: SendMetrics | None = None,
        clock: Clock = now_ms,
        hidden: HiddenMessages | None = None,
    ):
        self._hidden = hidden
        self._default_page_size = default_page_size
        self._max_page_size = max_page_size
        self._list_max = conversations_max_limit
        self._list_default = min(conversations_page_limit, conversations_max_limit)
        self._preview_chars = preview_chars
        self._metrics = metrics
        self._read_events = read_events
        self._store = store
        self._users = users
        self._groups = groups
        self._max_body_bytes = max_body_bytes
        self._clock = clock
        # Members see a group in their list as soon as they join, not at its next message.
        groups.watch_members(self._members_changed)

    async def send(self, sender_id: int, sender_device_id: str, request: MessageSend) -> SendResult:
        """Store a message; see :meth:`ChatFacade.send`.

        The store hands the committed message to the relay itself, so a caller cancelled
        after the commit (a client that went away) loses nothing.
        """
        domain.check_message(request, self._max_body_bytes)
        ref = domain.conversation_for_send(sender_id, request)
        try:
            participants = await self._prepare(ref, sender_id)
        except (Forbidden, NotFound):
            # A retry of a send that was stored before the sender lost access still answers
            # with the stored message; only then is the lookup worth a query.
            existing = await self._store.find_sent(sender_id, request.client_msg_id)
            if existing is not None:
                return self._replayed(existing)
            raise
        draft = MessageDraft(
            conversation_id=ref.id,
            session_type=ref.session_type,
            sender_id=sender_id,
            sender_device_id=sender_device_id,
            to=request.to,
            client_msg_id=request.client_msg_id,
            msg_type=request.msg_type,
            body=request.body,
            created_at=self._clock(),
            participants=participants,
        )
        try:
            message = await self._store.append(draft)
        except DuplicateMessage as duplicate:
            # This send was stored before (a retry, maybe racing the first try): answer with it.
            return self._replayed(duplicate.message)
        if self._metrics is not None:
            self._metrics.message_stored(message.session_type)
        return SendResult(message=message, created=True)

    def _replayed(self, message: MessageRead) -> SendResult:
        if self._metrics is not None:
            self._metrics.message_deduplicated()
        return SendResult(message=message, created=False)

    async def _members_changed(self, members: MemberSet) -> None:
        """Make the group's entries its members: newcomers with nothing unread, leavers gone.

        A leaver's entry goes with them, so no unread count stays behind that they could not
        clear (reading needs membership).
        """
        ref = domain.group_conversation(members.group_id)
        now = self._clock()
        await self._store.ensure_conversation(ref.id, "group", set(), now)
        await self._store.sync_members(ref.id, members.version, set(members.user_ids), now)

    async def _prepare(self, ref: domain.ConversationRef, sender_id: int) -> tuple[int, ...]:
        """Check the sender may post; return who needs an entry if the conversation is new.

        A single chat's conversation and entries are created by the send's own transaction,
        so a send that fails leaves no empty conversation. A group's entries mirror its
        membership, which the sender's membership check has just confirmed exists.
        """
        if ref.group_id is not None:
            now = self._clock()
            version = await self._groups.sendable_version(ref.group_id, sender_id)
            await self._store.ensure_conversation(ref.id, "group", set(), now)
            if await self._store.member_version(ref.id) != version:
                members = await self._groups.member_set(ref.group_id)
                await self._store.sync_members(ref.id, members.version, set(members.user_ids), now)
            return ()
        peer = ref.peer_of(sender_id)
        if peer is None or not await self._users.existing_user_ids({peer}):
            raise NotFound(f"user {peer} does not exist", code="user_not_found", field="to")
        return tuple(sorted({sender_id, peer}))

    async def conversations(
        self, user_id: int, *, limit: int | None = None, before: str | None = None
    ) -> ConversationList:
        """A page of the conversation list; see :meth:`ChatFacade.conversations`."""
        if limit is None:
            limit = self._list_default
        if not 1 <= limit <= self._list_max:
            raise InvalidInput(
                f"limit must be between 1 and {self._list_max} (chat.conversations_max_limit)",
                code="invalid_field",
                field="limit",
            )
        position = None if before is None else domain.decode_cursor(before)
        # One row past the page says whether another page exists, without a count.
        now = self._clock()
        rows = await self._store.entries(user_id, before=position, limit=limit + 1)
        page = rows[:limit]
        singles = [r.conversation_id for r in page if r.session_type == "single"]
        peer_reads = await self._store.peer_read_seqs(user_id, singles)
        group_ids = {domain.parse_conversation_id(r.conversation_id).group_id for r in page}
        dissolved = await self._groups.dissolved_among({g for g in group_ids if g is not None})
        return ConversationList(
            conversations=[self._entry(user_id, row, peer_reads, dissolved, now) for row in page],
            # Muted conversations keep their own unread but leave the badge's total.
            total_unread=await self._store.total_unread(user_id, now),
            next_before=(
                domain.encode_cursor(domain.list_position(page[-1])) if len(rows) > limit else None
            ),
        )

    def _entry(
        self,
        user_id: int,
        row: EntryRow,
        peer_reads: dict[str, int],
        dissolved: set[int],
        now: int,
    ) -> ConversationRead:
        ref = domain.parse_conversation_id(row.conversation_id)
        peer_read = peer_reads.get(row.conversation_id)
        return ConversationRead(
            conversation_id=row.conversation_id,
            session_type=row.session_type,
            peer_id=ref.peer_of(user_id),
            group_id=ref.group_id,
            last_seq=row.last_seq,
            read_seq=min(row.read_seq, row.last_seq),
            unread=domain.unread(row.last_seq, row.read_seq),
            last_message=(
                None
                if row.last_message is None
                else domain.preview(row.last_message, self._preview_chars)
            ),
            updated_at=row.updated_at,
            peer_read_seq=None if ref.group_id is not None else min(peer_read or 0, row.last_seq),
            dissolved=ref.group_id in dissolved,
            muted_until=domain.active_mute(row.muted_until, now),
            pinned=row.pinned,
        )

    async def history(
        self,
        user_id: int,
        conversation_id: str,
        *,
        before_seq: int | None,
        after_seq: int | None,
        limit: int | None = None,
    ) -> HistoryPage:
        """A history page; see :meth:`ChatFacade.history`."""
        limit = min(limit or self._default_page_size, self._max_page_size)
        if before_seq is not None and after_seq is not None:
            raise InvalidInput("give before_seq or after_seq, not both", code="conflicting_cursors")
        ref = await self._readable(user_id, conversation_id)
        messages, has_more = await self._store.history(
            ref.id, before_seq=before_seq, after_seq=after_seq, limit=limit
        )
        if self._hidden is not None and messages:
            # Deleted for this user only; a page may then hold fewer than ``limit``.
            gone = await self._hidden.hidden(user_id, ref.id, [m.seq for m in messages])
            messages = [m for m in messages if m.seq not in gone]
        return HistoryPage(conversation_id=ref.id, messages=messages, has_more=has_more)

    async def mark_read(
        self, user_id: int, conversation_id: str, seq: int, device_id: str = ""
    ) -> ReadResult:
        """Move the read position; see :meth:`ChatFacade.mark_read`."""
        ref = await self._readable(user_id, conversation_id)
        position = await self._store.mark_read(user_id, ref.id, seq)
        if position.moved and self._read_events is not None:
            await _hint_read(
                self._read_events,
                ReadPositionMoved(
                    conversation_id=ref.id,
                    user_id=user_id,
                    device_id=device_id,
                    seq=position.read_seq,
                    peer_id=ref.peer_of(user_id),
                ),
            )
        return ReadResult(
            conversation_id=ref.id,
            read_seq=position.read_seq,
            last_seq=position.last_seq,
            unread=domain.unread(position.last_seq, position.read_seq),
        )

    async def _readable(self, user_id: int, conversation_id: str) -> domain.ConversationRef:
        ref = domain.parse_conversation_id(conversation_id)
        domain.require_single_participant(ref, user_id)
        if ref.group_id is not None:
            await self._groups.membership_version(ref.group_id, user_id)
        return ref


async def _hint_read(publisher: ReadEventPublisher, event: ReadPositionMoved) -> None:
    try:
        await publisher.publish([event])
    except Exception:
        # The read is stored; the hint only saves the other devices a pull.
        log.warning("read event not published", exc_info=True)
