"""Telling watchers about group changes (:class:`GroupChanged`), one event per change."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from gomicroim.clock import Clock
from gomicroim.modules.groups.contract import ChangesWatcher, GroupChanged, GroupEvent

log = logging.getLogger("gomicroim.groups")


def change_id() -> str:
    """A fresh id for one change: 16 hex digits, so a retry of its recording deduplicates.

    Random rather than counted: the groups table keeps no per-change counter, and two changes
    on two replicas in the same millisecond must still get different ids.
    """
    return secrets.token_hex(8)


class ChangeAnnouncer:
    """The watchers of group changes and the one way to tell them."""

    def __init__(self, clock: Clock):
        self._clock = clock
        self._watchers: list[ChangesWatcher] = []

    def watch(self, watcher: ChangesWatcher) -> None:
        """Register ``watcher``; see :meth:`GroupsFacade.watch_changes`."""
        self._watchers.append(watcher)

    async def announce(
        self, group_id: int, event: GroupEvent, actor_id: int | None, **fields: Any
    ) -> None:
        """Tell every watcher that ``event`` happened to the group; a failing watcher is logged.

        Called only after the change is stored: a watcher's failure never undoes it.
        """
        if not self._watchers:
            return
        change = GroupChanged(
            group_id=group_id,
            event=event,
            change_id=change_id(),
            actor_id=actor_id,
            at=self._clock(),
            **fields,
        )
        for watcher in self._watchers:
            try:
                await watcher(change)
            except Exception:
                log.error(
                    "group change watcher failed",
                    extra={
                        "group_id": group_id,
                        "group_event": event,
                        "change_id": change.change_id,
                    },
                    exc_info=True,
                )
