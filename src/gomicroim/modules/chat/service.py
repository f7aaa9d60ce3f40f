"""ChatService: implements :class:`ChatFacade`; orchestration only, rules live in ``domain``."""

from __future__ import annotations

import logging
from typing import Literal

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Forbidden, InvalidInput, NotFound
from gomicroim.modules.chat import domain, visibility
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
    Blocks,
    ChatStore,
    Directory,
    DuplicateMessage,
    EntryRow,
    HiddenMessages,
    MessageDraft,
    ReadEventPublisher,
    SendMetrics,
    VisibilityStore,
)
from gomicroim.modules.chat.system import SystemMessages
from gomicroim.modules.chat.visibility import FormerMemberHistory, SeqWindow
from gomicroim.modules.groups.contract import GroupsFacade, MemberSet

log = logging.getLogger("gomicroim.chat")

#: ``chat.single_chat_policy``: who may message whom one to one.
SingleChatPolicy = Literal["anyone", "shared_group"]


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
        blocks: Blocks | None = None,
        single_chat_policy: SingleChatPolicy = "anyone",
        windows: VisibilityStore | None = None,
        new_members_see_history: bool = False,
        former_member_history: FormerMemberHistory = "none",
    ):
        self._hidden = hidden
        self._blocks = blocks
        self._single_chat_policy = single_chat_policy
        # Join-time history applies only with a window store (``groups.*`` settings).
        self._windows = None if new_members_see_history else windows
        self._former: FormerMemberHistory = former_member_history
        self._late_joiners = visibility.LateJoiners()
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
        # Every group change becomes a system message; registered after the member watcher.
        self._system = SystemMessages(store=store, groups=groups, metrics=metrics)

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
        await self._check_single(sender_id, peer)
        return tuple(sorted({sender_id, peer}))

    async def _check_single(self, sender_id: int, peer: int) -> None:
        """Refuse a single-chat send that a block or ``chat.single_chat_policy`` forbids.

        A block stops both directions: the blocked user cannot reach the blocker, and the
        blocker cannot write to someone who could not answer. Both lookups hit identity's
        cache. The policy holds for existing conversations too: leaving the last common
        group ends the right to write.
        """
        if self._blocks is not None:
            if await self._blocks.is_blocked(peer, sender_id):
                raise Forbidden(f"user {peer} has blocked you", code="blocked", field="to")
            if await self._blocks.is_blocked(sender_id, peer):
                raise Forbidden(
                    f"you have blocked user {peer}; unblock them to send",
                    code="you_blocked_user",
                    field="to",
                )
        if self._single_chat_policy == "shared_group" and not await self._groups.share_group(
            sender_id, peer
        ):
            raise Forbidden(
                f"you share no group with user {peer} (chat.single_chat_policy = shared_group)",
                code="no_shared_group",
                field="to",
            )

    async def conversations(
        self, user_id: int, *, limit: int | None = None, before: str | None = None
    ) -> ConversationList:
        """A page of the conversation list; see :meth:`ChatFacade.conversations`."""
        limit = domain.page_limit(
            limit, self._list_default, self._list_max, "chat.conversations_max_limit"
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
        starts: dict[str, int] = {}
        if self._windows is not None:
            groups = [r.conversation_id for r in page if r.session_type == "group"]
            starts = await self._windows.current_starts(user_id, groups)
        return ConversationList(
            conversations=[
                self._entry(
                    user_id, row, peer_reads, dissolved, now, starts.get(row.conversation_id, 1)
                )
                for row in page
            ],
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
        start: int = 1,
    ) -> ConversationRead:
        """One list entry; ``start``: the user's window, nothing before it shows or counts."""
        ref = domain.parse_conversation_id(row.conversation_id)
        peer_read = peer_reads.get(row.conversation_id)
        read_seq = visibility.floor_read_seq(row.read_seq, start)
        last = visibility.visible_last(row.last_message, start)
        return ConversationRead(
            conversation_id=row.conversation_id,
            session_type=row.session_type,
            peer_id=ref.peer_of(user_id),
            group_id=ref.group_id,
            last_seq=row.last_seq,
            read_seq=min(read_seq, row.last_seq),
            unread=domain.unread(row.last_seq, read_seq),
            last_message=None if last is None else domain.preview(last, self._preview_chars),
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
        ref = domain.parse_conversation_id(conversation_id)
        domain.require_single_participant(ref, user_id)
        windows = await self._group_windows(ref, user_id)
        messages, has_more = await self._store.history(
            ref.id, before_seq=before_seq, after_seq=after_seq, limit=limit, windows=windows
        )
        if self._hidden is not None and messages:
            # Deleted for this user only; a page may then hold fewer than ``limit``.
            gone = await self._hidden.hidden(user_id, ref.id, [m.seq for m in messages])
            messages = [m for m in messages if m.seq not in gone]
        return HistoryPage(conversation_id=ref.id, messages=messages, has_more=has_more)

    async def single_peers(self, user_id: int, candidates: set[int]) -> set[int]:
        """Users with a single conversation; see :meth:`ChatFacade.single_peers`."""
        by_id = {domain.single_conversation(user_id, c).id: c for c in candidates if c != user_id}
        existing = await self._store.existing_conversations(list(by_id))
        return {by_id[c] for c in existing}

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
            version = await self._groups.membership_version(ref.group_id, user_id)
            if self._windows is not None:
                # A new entry made by a read would otherwise have no window.
                await self._synced(ref.group_id, version)
        return ref

    async def _group_windows(
        self, ref: domain.ConversationRef, user_id: int
    ) -> list[SeqWindow] | None:
        """The windows the user may read in a group (None: everything), or raise like today.

        A former member reads their past spells with ``while_member``; without any, they are
        refused exactly as someone who never was a member.
        """
        if ref.group_id is None:
            return None
        try:
            version = await self._groups.membership_version(ref.group_id, user_id)
        except Forbidden:
            if self._windows is None or self._former == "none":
                raise
            spells = await self._windows.windows(ref.id, user_id)
            past = visibility.readable(spells, member=False, former=self._former)
            if not past:
                raise
            return past
        if self._windows is None:
            return None
        await self._synced(ref.group_id, version)
        spells = await self._windows.windows(ref.id, user_id)
        return visibility.readable(spells, member=True, former=self._former)

    async def _synced(self, group_id: int, version: int) -> None:
        """Bring the group's entries and windows to membership ``version`` if they lag."""
        conversation_id = domain.group_conversation(group_id).id
        if await self._store.member_version(conversation_id) >= version:
            return
        now = self._clock()
        members = await self._groups.member_set(group_id)
        await self._store.ensure_conversation(conversation_id, "group", set(), now)
        await self._store.sync_members(conversation_id, members.version, set(members.user_ids), now)

    async def group_audience(self, message: MessageRead, members: MemberSet) -> set[int]:
        """Who of ``members`` may get a group message; see :meth:`GroupAudience.group_audience`.

        The entries are synced to ``members`` first, so a member whose join chat has not yet
        recorded gets their window now, starting after this already committed message.
        """
        everyone = set(members.user_ids)
        if self._windows is None:
            return everyone
        ref = domain.group_conversation(members.group_id)
        if await self._store.member_version(ref.id) < members.version:
            now = self._clock()
            await self._store.ensure_conversation(ref.id, "group", set(), now)
            await self._store.sync_members(ref.id, members.version, everyone, now)
        late = self._late_joiners.after(ref.id, members.version, message.seq)
        if late is None:
            starts = await self._windows.joined_after(ref.id, message.seq)
            late = self._late_joiners.remember(ref.id, members.version, message.seq, starts)
        return everyone - late


async def _hint_read(publisher: ReadEventPublisher, event: ReadPositionMoved) -> None:
    try:
        await publisher.publish([event])
    except Exception:
        # The read is stored; the hint only saves the other devices a pull.
        log.warning("read event not published", exc_info=True)
