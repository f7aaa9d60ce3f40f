"""ReadReceiptService: who has read a message; implements ``ReadReceiptsFacade``.

Derived from the participants' read positions (a conversation entry's ``read_seq``), never
from a row per message and reader: a member has read every message up to their read seq.
A group's entries mirror its membership, so a former member's read position is gone with
their entry; the current member set from groups still filters what the entries say, because
an entry can outlive its member (a read that passed the membership check just before the
removal recreates it, until the next membership change).
"""

from __future__ import annotations

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import InvalidInput
from gomicroim.modules.chat import domain
from gomicroim.modules.chat.contract import Reader, ReaderPage
from gomicroim.modules.chat.ports import ChatStore, ReadCounts, ReaderStore, VisibilityStore
from gomicroim.modules.groups.contract import GroupsFacade, MemberSet


class ReadReceiptService:
    """Reader pages and read/unread counts of one message."""

    def __init__(
        self,
        *,
        store: ReaderStore,
        entries: ChatStore,
        groups: GroupsFacade,
        page_limit: int = 50,
        max_limit: int = 200,
        clock: Clock = now_ms,
        windows: VisibilityStore | None = None,
        new_members_see_history: bool = False,
    ):
        self._store = store
        # Join-time history only (otherwise new members see everything before they joined).
        self._windows = None if new_members_see_history else windows
        self._entries = entries
        self._groups = groups
        self._max_limit = max_limit
        self._default_limit = min(page_limit, max_limit)
        self._clock = clock

    async def readers(
        self,
        user_id: int,
        conversation_id: str,
        seq: int,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ReaderPage:
        """A page of readers; see :meth:`ReadReceiptsFacade.readers`."""
        limit = domain.page_limit(
            limit, self._default_limit, self._max_limit, "chat.readers_max_limit"
        )
        if seq < 1:
            raise InvalidInput("seq: messages start at seq 1", code="invalid_field", field="seq")
        after = None if cursor is None else domain.decode_reader_cursor(cursor)
        ref = domain.parse_conversation_id(conversation_id)
        group = await self._members(ref, user_id)
        members = frozenset(ref.users or ()) if group is None else group.user_ids
        sender = await self._store.sender_of(ref.id, seq)
        if sender is None:
            raise domain.message_not_found(ref.id, seq)
        if group is not None:
            await self._catch_up(ref.id, group)
            members = await self._could_see(ref.id, seq, members)
        # One row past the page says whether another page exists, without a count.
        rows = await self._store.readers(ref.id, seq, exclude=sender, after=after, limit=limit + 1)
        page = rows[:limit]
        counts = await self._counts(ref.id, seq, sender, members)
        return ReaderPage(
            conversation_id=ref.id,
            seq=seq,
            # An entry outliving its member is skipped; the page may then be short.
            readers=[
                Reader(user_id=r.user_id, read_seq=r.read_seq) for r in page if r.user_id in members
            ],
            next_cursor=domain.encode_reader_cursor(page[-1]) if len(rows) > limit else None,
            read_count=counts.total - counts.unread,
            unread_count=counts.unread,
        )

    async def _members(self, ref: domain.ConversationRef, user_id: int) -> MemberSet | None:
        """A group's member set (None in a single chat), once ``user_id`` is one of them."""
        domain.require_single_participant(ref, user_id)
        if ref.group_id is None:
            return None
        await self._groups.membership_version(ref.group_id, user_id)
        return await self._groups.member_set(ref.group_id)

    async def _could_see(
        self, conversation_id: str, seq: int, members: frozenset[int]
    ) -> frozenset[int]:
        """The members whose window holds ``seq``: one who joined after it never saw it.

        A late joiner's read position starts at the seq before their window, so without this
        they would count as readers of every older message.
        """
        if self._windows is None:
            return members
        return members - (await self._windows.joined_after(conversation_id, seq)).keys()

    async def _catch_up(self, conversation_id: str, members: MemberSet) -> None:
        """Bring the group's entries up to its membership version, as a send does.

        A membership change whose watcher did not run here (it failed, or the process that
        made the change stopped first) must not leave joiners out. The conversation exists:
        it holds the message.
        """
        if await self._entries.member_version(conversation_id) < members.version:
            ids = set(members.user_ids)
            await self._entries.sync_members(conversation_id, members.version, ids, self._clock())

    async def _counts(
        self, conversation_id: str, seq: int, sender: int, members: frozenset[int]
    ) -> ReadCounts:
        """Read and unread counts over the members, one aggregate when entries match them.

        Entries are a superset of the members once synced, so equal sizes mean equal sets;
        otherwise (an entry outliving its member) the positions are filtered one by one.
        """
        counts = await self._store.read_counts(conversation_id, seq, exclude=sender)
        others = members - {sender}
        if counts.total == len(others):
            return counts
        positions = await self._store.read_positions(conversation_id)
        known = [positions[u] for u in others if u in positions]
        return ReadCounts(total=len(known), unread=sum(1 for r in known if r < seq))
