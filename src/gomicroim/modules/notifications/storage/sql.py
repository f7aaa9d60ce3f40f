"""Push tokens in SQL: one row per (user, device)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tortoise import fields, models
from tortoise.exceptions import IntegrityError

from gomicroim.modules.notifications.ports import StoredToken

#: Users looked up per query; a large group's offline members come in several.
_CHUNK = 500


class PushToken(models.Model):
    """The push token of one device of one user, deleted with the token."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField()
    device_id = fields.CharField(max_length=64)
    platform = fields.CharField(max_length=16)
    token = fields.TextField()
    updated_at = fields.BigIntField()

    class Meta:
        table = "notifications_push_token"
        unique_together = (("user_id", "device_id"),)


def _stored(row: PushToken) -> StoredToken:
    return StoredToken(
        user_id=row.user_id,
        device_id=row.device_id,
        platform=row.platform,
        token=row.token,
        updated_at=row.updated_at,
    )


class SqlPushTokenStore:
    """:class:`~gomicroim.modules.notifications.ports.PushTokenStore` on tortoise."""

    async def put(self, token: StoredToken) -> StoredToken:
        """Store ``token``, replacing the device's earlier one."""
        values = {"platform": token.platform, "token": token.token, "updated_at": token.updated_at}
        key = {"user_id": token.user_id, "device_id": token.device_id}
        # MySQL reports an update that changes nothing as 0 rows, so a miss may still be a row:
        # the insert's unique key settles it, and a racing insert ends in the same update.
        if await PushToken.filter(**key).update(**values):
            return token
        try:
            await PushToken.create(
                user_id=token.user_id,
                device_id=token.device_id,
                platform=token.platform,
                token=token.token,
                updated_at=token.updated_at,
            )
        except IntegrityError:
            await PushToken.filter(**key).update(**values)
        return token

    async def delete(self, user_id: int, device_id: str) -> bool:
        """Forget the device's token; False if it had none."""
        return bool(await PushToken.filter(user_id=user_id, device_id=device_id).delete())

    async def of_users(self, user_ids: Iterable[int]) -> dict[int, list[StoredToken]]:
        """Every token of each user, by device id; users with none are absent."""
        wanted = sorted(set(user_ids))
        found: dict[int, list[StoredToken]] = defaultdict(list)
        for start in range(0, len(wanted), _CHUNK):
            rows = await PushToken.filter(user_id__in=wanted[start : start + _CHUNK]).order_by(
                "user_id", "device_id"
            )
            for row in rows:
                found[row.user_id].append(_stored(row))
        return dict(found)
