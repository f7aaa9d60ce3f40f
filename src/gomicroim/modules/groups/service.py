"""GroupsService: implements :class:`GroupsFacade` over :class:`GroupStore`."""

from __future__ import annotations

import logging
from typing import Literal

from gomicroim.caching import CacheStats, Invalidations
from gomicroim.clock import Clock, now_ms
from gomicroim.errors import Conflict, Forbidden, InvalidInput, NotFound
from gomicroim.modules.groups import rules, views
from gomicroim.modules.groups.changes import ChangeAnnouncer
from gomicroim.modules.groups.contract import (
    ChangesWatcher,
    GroupCreate,
    GroupEdit,
    GroupPage,
    GroupRead,
    MemberList,
    MemberRead,
    MemberSet,
    MembersWatcher,
    Role,
)
from gomicroim.modules.groups.member_sets import MemberSets
from gomicroim.modules.groups.ports import (
    GroupFull,
    GroupRecord,
    GroupStore,
    MemberRecord,
    MembersChanged,
    UserDirectory,
)

log = logging.getLogger("gomicroim.groups")


class GroupsService:
    """Group lifecycle and membership rules."""

    def __init__(
        self,
        *,
        store: GroupStore,
        users: UserDirectory,
        max_members: int,
        max_name_chars: int = 64,
        max_notice_chars: int = 2000,
        max_avatar_url_chars: int = 2048,
        members_page_limit: int = 500,
        member_cache_ttl_s: float = 5.0,
        clock: Clock = now_ms,
        member_events: Invalidations[MembersChanged] | None = None,
        cache_stats: CacheStats | None = None,
    ):
        self._member_sets = MemberSets(
            store, ttl_s=member_cache_ttl_s, member_events=member_events, cache_stats=cache_stats
        )
        self._changes = ChangeAnnouncer(clock)
        self._max_name_chars = max_name_chars
        self._max_notice_chars = max_notice_chars
        self._max_avatar_url_chars = max_avatar_url_chars
        self._members_page_limit = members_page_limit
        self._store = store
        self._users = users
        self._max_members = max_members
        self._clock = clock

    async def create(self, owner_id: int, request: GroupCreate) -> GroupRead:
        """Create a group; see :meth:`GroupsFacade.create`."""
        if len(request.name) > self._max_name_chars:
            raise InvalidInput(
                f"name: at most {self._max_name_chars} characters (groups.max_name_chars)",
                code="invalid_field",
                field="name",
            )
        member_ids = set(request.member_ids) - {owner_id}
        if len(member_ids) + 1 > self._max_members:
            raise self._full()
        await self._require_users(member_ids)
        group = await self._store.create(
            name=request.name, owner_id=owner_id, member_ids=member_ids, now_ms=self._clock()
        )
        log.info("group created", extra={"group_id": group.id, "members": group.member_count})
        await self._member_sets.tell_watchers(group.id)
        await self._changes.announce(
            group.id, "group_created", owner_id, targets=tuple(sorted(member_ids)), name=group.name
        )
        return views.group_read(group)

    async def get(self, group_id: int, caller_id: int) -> GroupRead:
        """A group for its members; see :meth:`GroupsFacade.get`."""
        group = await self._group(group_id)
        await self._membership(group_id, caller_id)
        return views.group_read(group)

    async def groups_of(self, user_id: int, *, limit: int, cursor: str | None) -> GroupPage:
        """The caller's groups; see :meth:`GroupsFacade.groups_of`."""
        after = views.parse_cursor(cursor)
        # One extra row says whether another page exists without a count query.
        rows = await self._store.groups_of(user_id, after_group_id=after, limit=limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return GroupPage(
            groups=[views.group_read(g) for g in page],
            next_cursor=str(page[-1].id) if more and page else None,
        )

    async def all_groups(self, *, limit: int, cursor: str | None) -> GroupPage:
        """Every group; see :meth:`GroupsFacade.all_groups`."""
        rows = await self._store.all_groups(
            after_group_id=views.parse_cursor(cursor), limit=limit + 1
        )
        page = rows[:limit]
        return GroupPage(
            groups=[views.group_read(g) for g in page],
            next_cursor=str(page[-1].id) if len(rows) > limit and page else None,
        )

    async def members(
        self, group_id: int, caller_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> MemberList:
        """A page of members for members; see :meth:`GroupsFacade.members`."""
        after = views.parse_cursor(cursor)
        limit = limit or self._members_page_limit
        await self._group(group_id)
        await self._membership(group_id, caller_id)
        rows = await self._store.members_page(group_id, after_position=after, limit=limit + 1)
        page = rows[:limit]
        listed = views.member_list(group_id, page)
        if len(rows) > limit and page:
            listed.next_cursor = str(page[-1].position)
        return listed

    async def add_members(self, group_id: int, caller_id: int, user_ids: list[int]) -> MemberList:
        """Add members; see :meth:`GroupsFacade.add_members`."""
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        if not rules.allowed(caller.role, "add_members"):
            raise Forbidden("only the owner or an admin may add members", code="not_an_admin")
        views.require_active(group)
        wanted = set(user_ids)
        await self._require_users(wanted)
        _, before = await self._store.member_ids(group_id)
        try:
            added = await self._store.add_members(
                group_id, wanted, max_members=self._max_members, now_ms=self._clock()
            )
        except GroupFull as exc:
            raise self._full() from exc
        finally:
            await self._member_sets.saved(group_id)
        await self._member_sets.tell_watchers(group_id)
        new = tuple(sorted(wanted - before))
        if new and added.member_version != group.member_version:
            # After the member watchers: the new members' entries exist, so they get it.
            await self._changes.announce(group_id, "member_added", caller_id, targets=new)
        return views.member_list(group_id, await self._store.members(group_id))

    async def remove_member(self, group_id: int, caller_id: int, user_id: int) -> None:
        """Remove or leave; see :meth:`GroupsFacade.remove_member`."""
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        target = await self._store.member(group_id, user_id)
        if target is None:
            raise NotFound(
                f"user {user_id} is not a member of group {group_id}", code="member_not_found"
            )
        needed = rules.removal_action(target.role)
        if needed is None and not (user_id == caller_id and group.dissolved):
            raise Conflict(
                "the owner cannot leave or be removed: transfer the ownership first"
                " (POST /api/v1/groups/{id}/transfer), or dissolve the group",
                code="owner_cannot_leave",
            )
        if user_id != caller_id:
            if needed is None or not rules.allowed(caller.role, needed):
                raise Forbidden(
                    "only the owner, or an admin removing a plain member, may remove others",
                    code="not_an_admin",
                )
            views.require_active(group)
        removed = await self._store.remove_member(group_id, user_id)
        await self._member_sets.saved(group_id)
        await self._member_sets.tell_watchers(group_id)
        log.info("member removed", extra={"group_id": group_id, "user_id": user_id})
        if not removed:
            return
        if user_id == caller_id:
            await self._changes.announce(group_id, "member_left", caller_id)
        else:
            await self._changes.announce(group_id, "member_removed", caller_id, targets=(user_id,))

    async def set_role(
        self, group_id: int, caller_id: int, user_id: int, role: Literal["admin", "member"]
    ) -> MemberRead:
        """Promote or demote; see :meth:`GroupsFacade.set_role`."""
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        views.require(caller, "set_role")
        views.require_active(group)
        target = await self._target(group_id, user_id)
        if target.role == "owner":
            raise Conflict(
                "the owner's role changes only by a transfer", code="cannot_change_owner_role"
            )
        changed = await self._store.set_role(group_id, user_id, role)
        if changed is None:
            raise self._no_member(group_id, user_id)
        await self._member_sets.saved(group_id)
        log.info("role changed", extra={"group_id": group_id, "user_id": user_id, "role": role})
        if target.role != role:
            await self._changes.announce(
                group_id, "role_changed", caller_id, targets=(user_id,), role=role
            )
        return views.member_read(changed)

    async def transfer(self, group_id: int, caller_id: int, user_id: int) -> GroupRead:
        """Hand over the group; see :meth:`GroupsFacade.transfer`."""
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        views.require(caller, "transfer")
        views.require_active(group)
        if user_id == caller_id:
            raise Conflict("you already own this group", code="already_owner")
        await self._target(group_id, user_id)
        previous = group.owner_id
        group = await self._store.transfer(group_id, user_id)
        await self._member_sets.saved(group_id)
        log.info("group transferred", extra={"group_id": group_id, "user_id": user_id})
        await self._changes.announce(
            group_id,
            "ownership_transferred",
            caller_id,
            targets=(user_id,),
            previous_owner_id=previous,
        )
        return views.group_read(group)

    async def dissolve(self, group_id: int, caller_id: int | None) -> GroupRead:
        """Dissolve; see :meth:`GroupsFacade.dissolve`."""
        group = await self._group(group_id)
        if caller_id is not None:
            views.require(await self._membership(group_id, caller_id), "dissolve")
        if group.dissolved:
            return views.group_read(group)
        group = await self._store.dissolve(group_id)
        await self._member_sets.saved(group_id)
        log.info("group dissolved", extra={"group_id": group_id})
        await self._changes.announce(group_id, "group_dissolved", caller_id)
        return views.group_read(group)

    async def edit(self, group_id: int, caller_id: int, request: GroupEdit) -> GroupRead:
        """Rename, change the notice or avatar, switch mute-all; see :meth:`GroupsFacade.edit`."""
        name = views.given(request.name)
        notice = views.given(request.notice)
        avatar_url = views.given(request.avatar_url)
        muted = views.given(request.muted)
        if name is not None:
            self._check_length("name", name, self._max_name_chars, "groups.max_name_chars")
        if notice is not None:
            self._check_length("notice", notice, self._max_notice_chars, "groups.max_notice_chars")
        if avatar_url is not None:
            self._check_length(
                "avatar_url", avatar_url, self._max_avatar_url_chars, "groups.max_avatar_url_chars"
            )
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        edits = name is not None or notice is not None or avatar_url is not None
        if (edits and not rules.allowed(caller.role, "edit")) or (
            muted is not None and not rules.allowed(caller.role, "mute_all")
        ):
            raise Forbidden("only the owner or an admin may edit the group", code="not_an_admin")
        views.require_active(group)
        before = group
        group = await self._store.edit(
            group_id, name=name, notice=notice, avatar_url=avatar_url, muted=muted
        )
        if muted is not None:
            await self._member_sets.saved(group_id)
        log.info("group edited", extra={"group_id": group_id, "muted": group.muted})
        await self._announce_edit(before, group, caller_id)
        return views.group_read(group)

    async def _announce_edit(self, before: GroupRecord, after: GroupRecord, actor: int) -> None:
        """One event per field that changed, in a fixed order; an edit to the same value is none."""
        announce = self._changes.announce
        if after.name != before.name:
            await announce(after.id, "group_renamed", actor, name=after.name)
        if after.notice != before.notice:
            await announce(after.id, "notice_changed", actor, notice=after.notice)
        if after.avatar_url != before.avatar_url:
            await announce(after.id, "avatar_changed", actor, avatar_url=after.avatar_url)
        if after.muted != before.muted:
            await announce(after.id, "group_muted" if after.muted else "group_unmuted", actor)

    def _check_length(self, field: str, value: str, limit: int, key: str) -> None:
        if len(value) > limit:
            raise InvalidInput(
                f"{field}: at most {limit} characters ({key})", code="invalid_field", field=field
            )

    async def mute(
        self, group_id: int, caller_id: int, user_id: int, until: int | None
    ) -> MemberRead:
        """Mute or unmute; see :meth:`GroupsFacade.mute`."""
        if until is not None and until <= self._clock():
            raise InvalidInput(
                "until: a time in the future (Unix ms)", code="invalid_field", field="until"
            )
        group = await self._group(group_id)
        caller = await self._membership(group_id, caller_id)
        target = await self._target(group_id, user_id)
        needed = rules.mute_action(target.role)
        if needed is None:
            raise Conflict("nobody can mute the group's owner", code="cannot_mute_owner")
        if not rules.allowed(caller.role, needed):
            raise Forbidden(
                "only the owner, or an admin muting a plain member, may mute", code="not_an_admin"
            )
        views.require_active(group)
        changed = await self._store.set_mute(group_id, user_id, until or 0)
        if changed is None:
            raise self._no_member(group_id, user_id)
        await self._member_sets.saved(group_id)
        log.info("member muted", extra={"group_id": group_id, "user_id": user_id, "until": until})
        if until is not None:
            await self._changes.announce(
                group_id, "member_muted", caller_id, targets=(user_id,), until=until
            )
        elif target.muted_until > self._clock():
            # Unmuting someone whose mute has run out changes nothing anyone would notice.
            await self._changes.announce(group_id, "member_unmuted", caller_id, targets=(user_id,))
        return views.member_read(changed)

    async def sendable_version(self, group_id: int, user_id: int) -> int:
        """Membership and send check; see :meth:`GroupsFacade.sendable_version`."""
        version = await self.membership_version(group_id, user_id)
        members = await self.member_set(group_id)
        if members.dissolved:
            raise views.dissolved(group_id)
        if members.muted_all and user_id not in members.moderators:
            raise Forbidden(
                f"group {group_id} is muted: only the owner and admins may send",
                code="group_muted",
            )
        until = members.muted_until.get(user_id, 0)
        if until > self._clock():
            raise Forbidden(
                f"you are muted in group {group_id} until {until} (Unix ms)", code="member_muted"
            )
        return version

    async def dissolved_among(self, group_ids: set[int]) -> set[int]:
        """Dissolved groups; see :meth:`GroupsFacade.dissolved_among`."""
        return await self._store.dissolved_among(group_ids)

    async def co_members(self, user_id: int, candidates: set[int]) -> set[int]:
        """Users sharing a live group; see :meth:`GroupsFacade.co_members`."""
        return await self._store.co_members(user_id, candidates)

    async def is_member(self, group_id: int, user_id: int) -> bool:
        """Membership check; see :meth:`GroupsFacade.is_member`."""
        cached = self._member_sets.cached(group_id)
        if cached is not None and user_id in cached.user_ids:
            return True
        return await self._store.member(group_id, user_id) is not None

    async def share_group(self, user_a: int, user_b: int) -> bool:
        """Common live group; see :meth:`GroupsFacade.share_group`."""
        # The one co-membership query presence asks too, with a single candidate.
        return user_b in await self._store.co_members(user_a, {user_b})

    async def role_of(self, group_id: int, user_id: int) -> Role | None:
        """The member's role; see :meth:`GroupsFacade.role_of`."""
        member = await self._store.member(group_id, user_id)
        return None if member is None else member.role

    async def membership_version(self, group_id: int, user_id: int) -> int:
        """Version plus membership check; see :meth:`GroupsFacade.membership_version`."""
        members = self._member_sets.cached(group_id)
        if members is None or user_id not in members.user_ids:
            # Not a member by the cache: ask the store before refusing (it may be stale).
            members = await self._member_sets.load(group_id)
        if user_id not in members.user_ids:
            raise Forbidden(f"you are not a member of group {group_id}", code="not_a_member")
        return members.version

    async def member_set(self, group_id: int) -> MemberSet:
        """Member ids and version; see :meth:`GroupsFacade.member_set`."""
        return await self._member_sets.get(group_id)

    def watch_members(self, watcher: MembersWatcher) -> None:
        """Register a watcher; see :meth:`GroupsFacade.watch_members`."""
        self._member_sets.watch(watcher)

    def watch_changes(self, watcher: ChangesWatcher) -> None:
        """Register a change watcher; see :meth:`GroupsFacade.watch_changes`."""
        self._changes.watch(watcher)

    async def _group(self, group_id: int) -> GroupRecord:
        group = await self._store.get(group_id)
        if group is None:
            raise NotFound(f"group {group_id} does not exist", code="group_not_found")
        return group

    async def _membership(self, group_id: int, user_id: int) -> MemberRecord:
        member = await self._store.member(group_id, user_id)
        if member is None:
            raise Forbidden(f"you are not a member of group {group_id}", code="not_a_member")
        return member

    async def _target(self, group_id: int, user_id: int) -> MemberRecord:
        target = await self._store.member(group_id, user_id)
        if target is None:
            raise self._no_member(group_id, user_id)
        return target

    def _no_member(self, group_id: int, user_id: int) -> NotFound:
        return NotFound(
            f"user {user_id} is not a member of group {group_id}", code="member_not_found"
        )

    async def _require_users(self, user_ids: set[int]) -> None:
        missing = user_ids - await self._users.existing_user_ids(user_ids)
        if missing:
            listed = ", ".join(str(u) for u in sorted(missing)[:10])
            raise NotFound(f"no such user: {listed}", code="user_not_found")

    def _full(self) -> Conflict:
        return Conflict(
            f"a group may have at most {self._max_members} members (groups.max_members)",
            code="group_full",
        )
