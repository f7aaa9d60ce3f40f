"""HTTP route of the presence module: ``GET /api/v1/presence``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from gomicroim.errors import InvalidInput
from gomicroim.http.auth import caller
from gomicroim.http.openapi import documented
from gomicroim.modules.presence.contract import MAX_QUERY_IDS, PresenceList, PresenceViewFacade

_MAX_ID = 2**53 - 1


def parse_user_ids(value: str) -> list[int]:
    """``1,2,3`` → ``[1, 2, 3]``: positive integers below 2^53, comma separated.

    Raises:
        InvalidInput: ``invalid_field`` for an empty list, an empty item or a non-id.
    """
    items = value.split(",")
    ids: list[int] = []
    for item in items:
        text = item.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 16:
            raise InvalidInput(
                f"user_ids: {item[:32]!r} is not a user id; send ids (1 to 2^53-1) separated"
                " by commas, e.g. user_ids=1,2,3",
                code="invalid_field",
                field="user_ids",
            )
        user_id = int(text)
        if not 1 <= user_id <= _MAX_ID:
            raise InvalidInput(
                f"user_ids: {user_id} is out of range (1 to 2^53-1)",
                code="invalid_field",
                field="user_ids",
            )
        ids.append(user_id)
    return ids


class PresenceController(Controller):
    """Online state and last seen time of users the caller shares a conversation with."""

    path = "/api/v1/presence"
    tags = ["presence"]

    @get(
        "/",
        summary="Online state and last seen time of the users the caller shares a conversation"
        " with",
        description=(
            "Answers for the asked users that have a single conversation with the caller, share"
            " a live group with them, or are the caller; any other id (a stranger or no such"
            " user) is left out of the answer, with no error. Entries follow the asked order,"
            f" repeated ids once. At most {MAX_QUERY_IDS} distinct ids (else 400"
            " too_many_user_ids); a malformed list is 400 invalid_field. last_seen_at is"
            " null while the user is online, and for a user not seen disconnecting yet."
        ),
        **documented(),
    )
    async def presence(
        self,
        request: Request[Any, Any, Any],
        presence_view: NamedDependency[PresenceViewFacade],
        user_ids: str = Parameter(
            description=f"Comma-separated user ids, at most {MAX_QUERY_IDS} distinct",
        ),
    ) -> PresenceList:
        ids = parse_user_ids(user_ids)
        return await presence_view.presence(caller(request).user_id, ids)
