"""``SqlOutboxStore``: the outbox's claims and publication marks on the relational database."""

from __future__ import annotations

from typing import cast

from tortoise.expressions import Q

from gomicroim.infra.database import placeholder
from gomicroim.infra.sqlite_unit import run_unit
from gomicroim.modules.chat.ports import OutboxRecord
from gomicroim.modules.chat.storage import Outbox, codec


class SqlOutboxStore:
    """``OutboxStore`` on the relational database, with claims as a lease column.

    A claim is a conditional ``UPDATE`` by primary key, so two relays racing for a row both
    run it and exactly one sees its condition hold (MySQL re-reads the row under its lock);
    no transaction stays open while a relay publishes. Why not ``SELECT ... FOR UPDATE SKIP
    LOCKED``: the rows a node publishes from memory hold no lock, so another replica's scan
    would take them too, and a lock only lives as long as the transaction that holds it open
    across the publish to the bus. A lease works the same on SQLite and MySQL, lets the
    committing node own its rows from the insert on, and frees a crashed node's rows when its
    lease runs out.
    """

    async def claim(
        self, owner: str, *, now_ms: int, lease_ms: int, created_before_ms: int | None, limit: int
    ) -> list[OutboxRecord]:
        """Claim unpublished records that are ``owner``'s or free, oldest first."""
        query = Outbox.filter(published_at=None).filter(
            Q(claimed_by=owner) | Q(claim_until__lte=now_ms)
        )
        if created_before_ms is not None:
            query = query.filter(created_at__lt=created_before_ms)
        ids = [
            int(cast(int, i))
            for i in await query.order_by("id").limit(limit).values_list("id", flat=True)
        ]
        if not ids:
            return []
        until = now_ms + lease_ms
        await (
            Outbox.filter(id__in=ids, published_at=None)
            .filter(Q(claimed_by=owner) | Q(claim_until__lte=now_ms))
            .update(claimed_by=owner, claim_until=until)
        )
        rows = await Outbox.filter(
            id__in=ids, published_at=None, claimed_by=owner, claim_until=until
        ).order_by("id")
        return [OutboxRecord(id=r.id, event=codec.decode_committed(r.payload)) for r in rows]

    async def renew(self, owner: str, *, now_ms: int, lease_ms: int) -> int:
        """Extend ``owner``'s live claims on unpublished records."""
        # Read first, then update by primary key: a range UPDATE on published_at would take
        # gap locks on MySQL that block the inserts of concurrent sends.
        ids = list(
            await Outbox.filter(published_at=None, claimed_by=owner).values_list("id", flat=True)
        )
        if ids:
            await Outbox.filter(id__in=ids, published_at=None, claimed_by=owner).update(
                claim_until=now_ms + lease_ms
            )
        return len(ids)

    async def mark_published(self, ids: list[int], now_ms: int) -> None:
        """Mark relayed records."""
        if ids:
            await Outbox.filter(id__in=ids).update(published_at=now_ms)

    async def mark_published_keys(self, keys: list[tuple[str, int]], now_ms: int) -> None:
        """Mark relayed records by (conversation_id, seq), in one statement."""
        if not keys:
            return
        mark = placeholder(Outbox._meta.db)
        statement = (
            f"UPDATE chat_outbox SET published_at = {mark}"  # noqa: S608 - placeholders only
            f" WHERE conversation_id = {mark} AND seq = {mark} AND published_at IS NULL"
        )
        rows = [[now_ms, conversation_id, seq] for conversation_id, seq in keys]
        # No fsync of its own: a mark lost to a power cut only publishes its event again, and
        # every consumer deduplicates by (conversation, seq).
        await run_unit(lambda db: db.execute_many(statement, rows), durable=False)

    async def prune(self, published_before_ms: int) -> int:
        """Delete old relayed records."""
        return int(await Outbox.filter(published_at__lt=published_before_ms).delete())
