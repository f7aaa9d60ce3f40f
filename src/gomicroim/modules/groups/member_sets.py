"""The cached member sets every group send reads, and the watchers told of membership changes."""

from __future__ import annotations

import logging

from gomicroim.caching import Cache, CacheStats, Invalidations, invalidate_everywhere
from gomicroim.errors import NotFound
from gomicroim.modules.groups.contract import MemberSet, MembersWatcher
from gomicroim.modules.groups.ports import GroupStore, MembersChanged

log = logging.getLogger("gomicroim.groups")

#: Member ids held in cached member sets, over all groups (about 60 bytes each).
MEMBER_IDS_CACHED = 1_000_000


class MemberSets:
    """Member sets by group, cached per process and invalidated on every process.

    Every group message asks who the members are; membership writes on any process
    invalidate (through ``member_events``), the TTL bounds the rest. Bounded by the member
    ids held, not the groups: one set may hold thousands.
    """

    def __init__(
        self,
        store: GroupStore,
        *,
        ttl_s: float,
        member_events: Invalidations[MembersChanged] | None = None,
        cache_stats: CacheStats | None = None,
    ):
        self._store = store
        self._sets: Cache[int, MemberSet] = Cache(
            "groups_members",
            max_size=MEMBER_IDS_CACHED,
            ttl_s=ttl_s,
            weigh=lambda members: len(members.user_ids),
            stats=cache_stats,
        )
        self._events = member_events
        self._watchers: list[MembersWatcher] = []
        if member_events is not None:
            member_events.subscribe(self._changed_elsewhere)
            member_events.on_gap(self._drop_all)

    def cached(self, group_id: int) -> MemberSet | None:
        """The cached set, if any (possibly stale by up to the TTL)."""
        return self._sets.get(group_id)

    async def get(self, group_id: int) -> MemberSet:
        """The cached set, or a fresh load."""
        return self._sets.get(group_id) or await self.load(group_id)

    async def load(self, group_id: int) -> MemberSet:
        """Load from the store and cache.

        One load per group at a time (when the entry lapses under load, hundreds of sends
        would otherwise each query the same list); a load that began before a membership
        change is not cached.
        """

        async def load() -> MemberSet:
            group = await self._store.get(group_id)
            if group is None:
                raise NotFound(f"group {group_id} does not exist", code="group_not_found")
            version, ids = await self._store.member_ids(group_id)
            mutes = await self._store.mutes(group_id)
            # Only a muted group's sends ask who moderates: skip the query otherwise.
            moderators = await self._store.moderators(group_id) if group.muted else set()
            return MemberSet(
                group_id=group_id,
                version=version,
                user_ids=frozenset(ids),
                dissolved=group.dissolved,
                muted_until=mutes,
                muted_all=group.muted,
                moderators=frozenset(moderators),
            )

        return await self._sets.load(group_id, load)

    async def saved(self, group_id: int) -> None:
        """A membership write was stored: drop the set here and on every other process."""
        event = MembersChanged(group_id=group_id)
        await invalidate_everywhere(self._sets, group_id, self._events, event)

    def watch(self, watcher: MembersWatcher) -> None:
        """Call ``watcher`` with the new member set after each membership change here."""
        self._watchers.append(watcher)

    async def tell_watchers(self, group_id: int) -> None:
        """Hand the watchers the group's fresh member set; a failing watcher is only logged."""
        if not self._watchers:
            return
        try:
            members = await self.load(group_id)
        except Exception:
            log.warning("member set not loaded for watchers", exc_info=True)
            return
        for watcher in self._watchers:
            try:
                await watcher(members)
            except Exception:
                # The membership is stored; chat catches up on the group's next message.
                log.warning("members watcher failed", extra={"group_id": group_id}, exc_info=True)

    async def _changed_elsewhere(self, event: MembersChanged) -> None:
        self._sets.invalidate(event.group_id)

    async def _drop_all(self) -> None:
        self._sets.clear()
        log.info("member sets dropped after missed invalidations")
