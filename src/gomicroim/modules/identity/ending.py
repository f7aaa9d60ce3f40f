"""How an ended session takes effect in a process: its tokens refused, its sockets told."""

from __future__ import annotations

from gomicroim.modules.identity.contract import SessionEnded, SessionEndReason
from gomicroim.modules.identity.ports import RevocationList, SessionEventPublisher


class SessionEnding:
    """Spreads the end of a session the sessions table already records as ended.

    Used by the service (logout, re-login, reuse), the operator commands (disable, password
    reset) and the poller that picks up sessions other processes ended.
    """

    def __init__(
        self,
        *,
        revocations: RevocationList,
        events: SessionEventPublisher | None,
        validity_ms: int,
    ):
        self._revocations = revocations
        self._events = events
        self._validity_ms = validity_ms

    async def spread(
        self,
        *,
        session_id: int,
        user_id: int,
        device_id: str,
        reason: SessionEndReason,
        now_ms: int,
    ) -> None:
        """Refuse the session's tokens from now on, then announce it to socket holders.

        The revocation comes before the event, never after: a socket that authenticates in
        between is then either refused by the revocation list or found open by the event.
        """
        # Remembered as long as one of its access tokens could still pass verification.
        await self._revocations.revoke(session_id, now_ms + self._validity_ms)
        if self._events is not None:
            event = SessionEnded(
                session_id=session_id,
                user_id=user_id,
                device_id=device_id,
                reason=reason,
                ended_at=now_ms,
            )
            await self._events.publish(event)
