"""The timeline's MongoDB collections as beanie documents, and every index they need."""

from __future__ import annotations

from datetime import datetime

from beanie import Document
from pydantic import BaseModel, Field
from pymongo import ASCENDING, IndexModel

from gomicroim.infra.mongo import MongoModels

_DAY_S = 24 * 3600

CURSORS = "timeline_cursors"
ENTRIES = "timeline_entries"
#: Index names; the store recognises a duplicate-key error by them.
SLOT_INDEX = "user_seq_once"
MESSAGE_INDEX = "message_once"
EXPIRY_INDEX = "expire_by_created"


class PendingAllocation(BaseModel):
    """User seqs ``lo..hi`` handed out to one append that has not finished writing them."""

    token: str
    lo: int
    hi: int
    #: When the append took them (Unix ms); after the store's lease they are fenced off.
    at: int


class CursorDocument(Document):
    """One user's timeline cursor: the last user seq handed out, and appends in flight.

    Never deleted, never lowered: a user's next entry continues above ``last_seq``.
    """

    id: int = Field(alias="_id")  # type: ignore[assignment]  # the user id
    last_seq: int = 0
    pending: list[PendingAllocation] = Field(default_factory=list)

    class Settings:
        name = CURSORS


class EntryDocument(Document):
    """One slot of one user's timeline: an entry (a message) or a tombstone (a dead slot).

    A tombstone has no ``conversation_id`` and no ``message``: a reader wrote it to decide,
    once and for all, that an append which took the slot and went silent will not fill it.
    """

    user_id: int
    user_seq: int
    conversation_id: str | None = None
    seq: int | None = None
    #: The message as JSON, exactly as the SQL store keeps it.
    message: str | None = None
    #: The message's time (a tombstone's: when it was written), Unix ms; ``prune`` compares it.
    created_at: int
    #: ``created_at`` as a date, for the TTL index that expires entries.
    created: datetime

    class Settings:
        name = ENTRIES
        indexes = [
            # The decision point of a slot: whoever inserts (user, user_seq) first, an append
            # or a reader's tombstone, owns it. So a seq is never handed out twice.
            IndexModel(
                [("user_id", ASCENDING), ("user_seq", ASCENDING)], unique=True, name=SLOT_INDEX
            ),
            # Idempotent appends: a message is in a user's timeline once. Tombstones (no
            # conversation) are left out, or two of one user would clash on null.
            IndexModel(
                [("user_id", ASCENDING), ("conversation_id", ASCENDING), ("seq", ASCENDING)],
                unique=True,
                name=MESSAGE_INDEX,
                partialFilterExpression={"conversation_id": {"$type": "string"}},
            ),
            IndexModel([("created_at", ASCENDING)], name="created_at"),
        ]


def expiry_index(retention_days: float) -> IndexModel:
    """The TTL index: MongoDB deletes an entry ``retention_days`` after its message was sent."""
    return IndexModel(
        [("created", ASCENDING)],
        name=EXPIRY_INDEX,
        expireAfterSeconds=max(1, round(retention_days * _DAY_S)),
    )


def timeline_models(retention_days: float) -> MongoModels:
    """What the timeline keeps in MongoDB, for the engine to set up at start."""
    return MongoModels(
        documents=(CursorDocument, EntryDocument),
        indexes={EntryDocument: [expiry_index(retention_days)]},
    )
