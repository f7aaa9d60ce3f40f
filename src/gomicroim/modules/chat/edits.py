"""MessageChangeService: recall, edit and delete for me; implements ``MessageChangesFacade``.

A change is stored first (the message row becomes the new revision), then its event goes on
the committed-message topic the fan-out worker consumes, keyed like the message, so every
participant's devices get a ``recall`` or ``edit`` frame and app timelines an entry. The reply
comes only after the bus has the event: a client that got no reply retries, and a retry of a
change already made publishes the stored state again (consumers keep the highest revision).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gomicroim.clock import Clock, now_ms
from gomicroim.errors import AppError, Unavailable
from gomicroim.modules.chat import changes, domain
from gomicroim.modules.chat.contract import (
    MessageChange,
    MessageCommitted,
    MessageHidden,
    MessageRead,
    MessageSend,
)
from gomicroim.modules.chat.ports import CommittedPublisher, MessageChangeStore, OwnTimeline
from gomicroim.modules.groups.contract import GroupsFacade

log = logging.getLogger("gomicroim.chat")


class NotRelayedYet(Unavailable):
    """The message itself is still on its way to the bus; a change must not overtake it."""

    retry_after_s = 1.0


class MessageChangeService:
    """Changes to stored messages, checked against ``changes``' rules."""

    def __init__(
        self,
        *,
        store: MessageChangeStore,
        groups: GroupsFacade,
        publisher: CommittedPublisher,
        timeline: OwnTimeline | None = None,
        max_body_bytes: int,
        recall_window_s: float = 120,
        edit_window_s: float = 900,
        relay_wait_s: float = 5.0,
        clock: Clock = now_ms,
    ):
        self._store = store
        self._groups = groups
        self._publisher = publisher
        self._timeline = timeline
        self._max_body_bytes = max_body_bytes
        self._recall_window_ms = int(recall_window_s * 1000)
        self._edit_window_ms = int(edit_window_s * 1000)
        self._relay_wait_s = relay_wait_s
        self._clock = clock

    async def recall(
        self, user_id: int, device_id: str, conversation_id: str, seq: int
    ) -> MessageRead:
        """Recall a message; see :meth:`MessageChangesFacade.recall`."""
        ref = await self._readable(user_id, conversation_id)
        role = await self._role_of(ref, user_id)
        now = self._clock()

        def apply(message: MessageRead) -> MessageRead | None:
            if message.recalled:
                # Idempotent for whoever may recall it, whenever they ask again; refused to others.
                changes.may_recall(message, user_id, role, message.created_at, 0)
                return None
            changes.may_recall(message, user_id, role, now, self._recall_window_ms)
            return changes.recalled(message, user_id, now)

        return await self._change(ref.id, seq, apply, "recall", user_id, device_id)

    async def edit(
        self, user_id: int, device_id: str, conversation_id: str, seq: int, body: str
    ) -> MessageRead:
        """Edit a message's body; see :meth:`MessageChangesFacade.edit`."""
        ref = await self._readable(user_id, conversation_id)
        now = self._clock()

        def apply(message: MessageRead) -> MessageRead | None:
            changes.may_edit(message, user_id, now, self._edit_window_ms)
            if message.body == body:
                return None
            domain.check_message(_as_send(message, body), self._max_body_bytes)
            return changes.edited(message, body, now)

        return await self._change(ref.id, seq, apply, "edit", user_id, device_id)

    async def hide(
        self, user_id: int, device_id: str, conversation_id: str, seq: int
    ) -> MessageHidden:
        """Delete for me; see :meth:`MessageChangesFacade.hide`."""
        ref = await self._readable(user_id, conversation_id)
        if await self._store.message(ref.id, seq) is None:
            raise domain.message_not_found(ref.id, seq)
        await self._store.hide(user_id, ref.id, seq, self._clock())
        if self._timeline is not None:
            await self._timeline.forget(user_id, ref.id, seq)
        return MessageHidden(conversation_id=ref.id, seq=seq)

    async def participants(self, user_id: int, conversation_id: str) -> set[int]:
        """Who takes part; see :meth:`MessageChangesFacade.participants`."""
        ref = await self._readable(user_id, conversation_id)
        if ref.users is not None:
            return set(ref.users)
        assert ref.group_id is not None  # noqa: S101 - a group ref always has its id
        return set((await self._groups.member_set(ref.group_id)).user_ids)

    async def hidden_of(self, user_id: int, conversation_id: str, seqs: list[int]) -> set[int]:
        """Which of ``seqs`` the user deleted for themselves (history leaves them out)."""
        return await self._store.hidden(user_id, conversation_id, seqs)

    async def _change(
        self,
        conversation_id: str,
        seq: int,
        apply: Callable[[MessageRead], MessageRead | None],
        kind: MessageChange,
        user_id: int,
        device_id: str,
    ) -> MessageRead:
        await self._wait_relayed(conversation_id, seq)
        outcome = await self._store.change(conversation_id, seq, apply, device_id)
        if outcome is None:
            raise domain.message_not_found(conversation_id, seq)
        message, _ = outcome
        if message.revision == 0:
            return message
        # Published whether this call changed it or a retry finds it changed: the reply
        # promises the participants were told.
        kind = "recall" if message.recalled else kind
        event = MessageCommitted(
            message=message, sender_device_id=device_id, change=kind, actor_id=user_id
        )
        try:
            await self._publisher.publish([event])
        except AppError:
            raise
        except Exception as exc:
            log.warning("message change not published", exc_info=True)
            raise Unavailable(
                "the change is stored but not yet announced; retry (it is idempotent)",
                code="bus_unavailable",
            ) from exc
        return message

    async def _wait_relayed(self, conversation_id: str, seq: int) -> None:
        """Wait until the message's own event is on the bus, so its change cannot overtake it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._relay_wait_s
        while not await self._store.relayed(conversation_id, seq):
            if loop.time() >= deadline:
                raise NotRelayedYet(
                    "the message is still being delivered; retry in a moment",
                    code="not_relayed_yet",
                )
            await asyncio.sleep(0.05)

    async def _readable(self, user_id: int, conversation_id: str) -> domain.ConversationRef:
        ref = domain.parse_conversation_id(conversation_id)
        domain.require_single_participant(ref, user_id)
        if ref.group_id is not None:
            await self._groups.membership_version(ref.group_id, user_id)
        return ref

    async def _role_of(self, ref: domain.ConversationRef, user_id: int) -> changes.GroupRole | None:
        """The caller's group role for the recall policy (None in a single chat).

        Read from the store, not the member cache: a recall is rare, and a role taken away
        on another replica must not let its former holder recall others' messages.
        """
        return None if ref.group_id is None else await self._groups.role_of(ref.group_id, user_id)


def _as_send(message: MessageRead, body: str) -> MessageSend:
    """The edited message in the shape the send rules check (type and body size)."""
    return MessageSend(
        to=message.to,
        session_type=message.session_type,
        client_msg_id=message.client_msg_id,
        msg_type="text" if message.msg_type == "system" else message.msg_type,
        body=body,
    )
