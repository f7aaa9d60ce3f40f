"""Picks up sessions other processes ended, so this process refuses them and closes their sockets.

In the embedded shape each process keeps revocations in its own memory: a session ended by
``gomicroim users disable`` (a separate, short-lived process) or by another process on the
same database would otherwise stay trusted here until its access token expired. The sessions
table is the truth; this reads the sessions ended since its last look and spreads each one
this process does not know yet (revocation list, ``SessionEnded`` for the gateway).
"""

from __future__ import annotations

import asyncio
import logging

from gomicroim.clock import Clock, now_ms
from gomicroim.infra.tasks import stop_tasks
from gomicroim.modules.identity.ending import SessionEnding
from gomicroim.modules.identity.ports import RevocationList, SessionStore

log = logging.getLogger("gomicroim.identity.revocations")

#: Each look goes back this far before the previous one: a session's ``revoked_at`` is taken
#: before its transaction commits, so it can become visible later than it says.
OVERLAP_MS = 30_000
#: Sessions read per query; a longer backlog is read page by page in one look.
PAGE = 1000


class RevocationPoller:
    """Every ``interval_s``, spreads the sessions ended elsewhere since the last look."""

    def __init__(
        self,
        *,
        sessions: SessionStore,
        revocations: RevocationList,
        ending: SessionEnding,
        interval_s: float,
        clock: Clock = now_ms,
    ):
        self._sessions = sessions
        self._revocations = revocations
        self._ending = ending
        self._interval_s = interval_s
        self._clock = clock
        self._checked_at = clock()
        #: Sessions already spread in the overlap window -> their revoked_at.
        self._seen: dict[int, int] = {}
        #: Sessions skipped because the revocation list had them -> their revoked_at.
        self._known: dict[int, int] = {}
        #: Losses of the list (refilled from the sessions table without telling any socket
        #: holder), and how many a successful look has covered: until it has, a look spreads
        #: every session again, known or not.
        self._losses = 0
        self._losses_covered = 0
        self._task: asyncio.Task[None] | None = None
        revocations.on_lost(self._lost)

    async def _lost(self) -> None:
        self._known = {}
        self._losses += 1

    def start(self) -> None:
        """Look from now on; what ended earlier was loaded by the service's start."""
        self._checked_at = self._clock()
        self._task = asyncio.create_task(self._run(), name="revocation-poll")

    async def stop(self) -> None:
        """Stop looking."""
        if self._task is not None:
            await stop_tasks(self._task)
            self._task = None

    async def poll_once(self) -> int:
        """One look; returns how many sessions were new to this process."""
        started = self._clock()
        since, after_id = self._checked_at - OVERLAP_MS, 0
        spread = 0
        losses = self._losses
        distrust = losses != self._losses_covered
        while True:
            page = await self._sessions.ended_since(since, after_id=after_id, limit=PAGE)
            for session in page:
                if session.revoked_at is None or session.id in self._seen:
                    continue
                if session.id in self._known:
                    continue
                # Ended by this process (or loaded at start): it took effect here already.
                # Not after a loss: the reload revoked sessions without closing their sockets.
                if not distrust and await self._revocations.is_revoked(session.id):
                    self._known[session.id] = session.revoked_at
                    continue
                await self._ending.spread(
                    session_id=session.id,
                    user_id=session.user_id,
                    device_id=session.device_id,
                    reason=session.end_reason or "logout",
                    now_ms=started,
                )
                # Only now: a look that failed half-way (Redis down) repeats this session.
                self._seen[session.id] = session.revoked_at
                spread += 1
            if len(page) < PAGE:
                break
            since, after_id = page[-1].revoked_at or since, page[-1].id
        self._checked_at = started
        self._losses_covered = losses
        horizon = started - 2 * OVERLAP_MS
        self._seen = {sid: at for sid, at in self._seen.items() if at >= horizon}
        self._known = {sid: at for sid, at in self._known.items() if at >= horizon}
        if spread:
            log.info("sessions ended elsewhere took effect", extra={"sessions": spread})
        return spread

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.poll_once()
            except Exception as exc:
                # A database outage: the next look covers this one's window (the overlap is
                # measured from the last successful look).
                log.warning("ended sessions not reloaded", extra={"error": repr(exc)})
