"""Invite codes: their tortoise model and the SQL adapter of ``InviteStore``."""

from __future__ import annotations

from tortoise import fields, models
from tortoise.expressions import F, Q

from gomicroim.modules.identity.ports import InviteRecord


class Invite(models.Model):
    """An invite code, by the SHA-256 of the code: the code itself is never stored."""

    id = fields.BigIntField(primary_key=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    uses = fields.IntField(default=0)
    max_uses = fields.IntField()
    expires_at = fields.BigIntField(null=True, default=None)
    note = fields.CharField(max_length=200, default="")
    created_at = fields.BigIntField()
    revoked_at = fields.BigIntField(null=True, default=None)

    class Meta:
        table = "identity_invite"


def _invite(row: Invite) -> InviteRecord:
    return InviteRecord(
        id=row.id,
        code_hash=row.code_hash,
        uses=row.uses,
        max_uses=row.max_uses,
        expires_at=row.expires_at,
        note=row.note,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def take_invite_use(code_hash: str, now_ms: int) -> bool:
    """Take one use of the invite if it can admit someone now; inside the caller's transaction.

    A conditional increment: the database serialises racing registrations on the invite's
    row, and only those that still find a use left change it.
    """
    usable = Invite.filter(
        Q(expires_at=None) | Q(expires_at__gt=now_ms),
        code_hash=code_hash,
        revoked_at=None,
        uses__lt=F("max_uses"),
    )
    return bool(await usable.update(uses=F("uses") + 1))


class SqlInviteStore:
    """``InviteStore`` on the relational database."""

    async def create(
        self, *, code_hash: str, max_uses: int, expires_at: int | None, note: str, now_ms: int
    ) -> InviteRecord:
        """Insert an invite."""
        row = await Invite.create(
            code_hash=code_hash,
            max_uses=max_uses,
            expires_at=expires_at,
            note=note,
            created_at=now_ms,
        )
        return _invite(row)

    async def get(self, invite_id: int) -> InviteRecord | None:
        """An invite by id."""
        row = await Invite.get_or_none(id=invite_id)
        return _invite(row) if row else None

    async def by_hash(self, code_hash: str) -> InviteRecord | None:
        """An invite by its code's hash."""
        row = await Invite.get_or_none(code_hash=code_hash)
        return _invite(row) if row else None

    async def newest(self, limit: int) -> list[InviteRecord]:
        """The newest invites first."""
        return [_invite(row) for row in await Invite.all().order_by("-id").limit(limit)]

    async def revoke(self, invite_id: int, now_ms: int) -> InviteRecord | None:
        """Revoke, keeping an earlier revocation time."""
        await Invite.filter(id=invite_id, revoked_at=None).update(revoked_at=now_ms)
        return await self.get(invite_id)
