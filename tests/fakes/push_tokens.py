"""An in-memory ``PushTokenStore``; the contract suite holds it to the SQL adapter's behaviour."""

from __future__ import annotations

from collections.abc import Iterable

from gomicroim.modules.notifications.ports import StoredToken


class MemoryPushTokenStore:
    """Tokens by (user, device)."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[int, str], StoredToken] = {}

    async def put(self, token: StoredToken) -> StoredToken:
        """Store ``token``, replacing the device's earlier one."""
        self.tokens[(token.user_id, token.device_id)] = token
        return token

    async def delete(self, user_id: int, device_id: str) -> bool:
        """Forget the device's token; False if it had none."""
        return self.tokens.pop((user_id, device_id), None) is not None

    async def of_users(self, user_ids: Iterable[int]) -> dict[int, list[StoredToken]]:
        """Every token of each user, by device id; users with none are absent."""
        wanted = set(user_ids)
        found: dict[int, list[StoredToken]] = {}
        for (user_id, _), token in sorted(self.tokens.items()):
            if user_id in wanted:
                found.setdefault(user_id, []).append(token)
        return found
