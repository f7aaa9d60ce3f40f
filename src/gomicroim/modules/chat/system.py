"""System messages: every group change stored as a ``system`` message in the group's chat."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from gomicroim.modules.chat import domain
from gomicroim.modules.chat.ports import ChatStore, DuplicateMessage, MessageDraft, SendMetrics
from gomicroim.modules.groups.contract import GroupChanged, GroupsFacade

log = logging.getLogger("gomicroim.chat")

#: ``sender_id`` of a change made by an operator (``gomicroim groups dissolve``), not a user.
OPERATOR_SENDER_ID = 0
#: Pauses between tries of a system message's store (then it is logged and given up).
RETRY_DELAYS_S = (0.05, 0.25)


def system_body(change: GroupChanged) -> str:
    """The message body: a JSON object with ``event``, ``actor`` and the event's own fields.

    The schema is the README's "System messages" table; keys come in a fixed order.
    """
    body: dict[str, Any] = {"event": change.event, "actor": change.actor_id}
    target = change.targets[0] if change.targets else None
    match change.event:
        case "group_created":
            body["name"] = change.name
            body["targets"] = list(change.targets)
        case "member_added" | "member_removed":
            body["targets"] = list(change.targets)
        case "role_changed":
            body["target"] = target
            body["role"] = change.role
        case "ownership_transferred":
            body["from"] = change.previous_owner_id
            body["to"] = target
        case "member_muted":
            body["target"] = target
            body["until"] = change.until
        case "member_unmuted":
            body["target"] = target
        case "group_renamed":
            body["name"] = change.name
        case "notice_changed":
            body["notice"] = change.notice
        case "avatar_changed":
            body["avatar_url"] = change.avatar_url
        case _:
            pass  # member_left, group_muted, group_unmuted, group_dissolved: actor says it all.
    return msgspec.json.encode(body).decode()


def system_client_msg_id(change: GroupChanged) -> str:
    """``sys:{event}:{group_id}:{change_id}``: the same change always gets the same id.

    At most 59 characters (the longest event name, a 16-digit group id, 16 hex digits), within
    the 64 a client_msg_id may have.
    """
    return f"sys:{change.event}:{change.group_id}:{change.change_id}"


def system_draft(change: GroupChanged) -> MessageDraft:
    """The message that records ``change``, sent by its actor."""
    ref = domain.group_conversation(change.group_id)
    return MessageDraft(
        conversation_id=ref.id,
        session_type="group",
        sender_id=OPERATOR_SENDER_ID if change.actor_id is None else change.actor_id,
        # No device is the sender's: every device of the actor gets the push too.
        sender_device_id="",
        to=change.group_id,
        client_msg_id=system_client_msg_id(change),
        msg_type="system",
        body=system_body(change),
        created_at=change.at,
    )


class SystemMessages:
    """Stores group changes through the normal store path, past the checks a user send has.

    A user's send checks membership, mutes and dissolution; the record of a change must be
    stored whatever they say (the dissolution itself, a muted admin's action, a leaver's
    goodbye), so this path asks only for the member set the entries follow.
    """

    def __init__(
        self, *, store: ChatStore, groups: GroupsFacade, metrics: SendMetrics | None = None
    ):
        self._store = store
        self._groups = groups
        self._metrics = metrics
        groups.watch_changes(self.record)

    async def record(self, change: GroupChanged) -> None:
        """Store ``change`` as a system message; retried, then logged, never raised.

        The group change is committed already: failing the admin's request would only invite
        a retry of a change that stands, so a message that cannot be stored is logged
        (``system message not stored``) with what is needed to find the change.
        """
        draft = system_draft(change)
        for delay in (*RETRY_DELAYS_S, None):
            try:
                await self._store_once(draft)
                return
            except Exception:
                if delay is None:
                    log.error(
                        "system message not stored",
                        extra={
                            "group_id": change.group_id,
                            "group_event": change.event,
                            "client_msg_id": draft.client_msg_id,
                        },
                        exc_info=True,
                    )
                    return
                await asyncio.sleep(delay)

    async def _store_once(self, draft: MessageDraft) -> None:
        members = await self._groups.member_set(draft.to)
        now = draft.created_at
        await self._store.ensure_conversation(draft.conversation_id, "group", set(), now)
        if await self._store.member_version(draft.conversation_id) != members.version:
            await self._store.sync_members(
                draft.conversation_id, members.version, set(members.user_ids), now
            )
        # A leaver or an operator is no member: their entry must not come back.
        member = draft.sender_id in members.user_ids
        try:
            await self._store.append(msgspec.structs.replace(draft, advance_sender=member))
        except DuplicateMessage:
            return  # An earlier try was stored after all.
        if self._metrics is not None:
            self._metrics.message_stored("group")
