"""In-memory stand-ins for every engine, shared by any number of real containers.

Two :class:`~gomicroim.container.Container` objects wired to one :class:`World` behave like two
processes of one cluster: one database (the fake stores), one bus (in-process topics) and one
presence. The containers themselves are the real wiring; only adapters and engines are
overridden, with ``provider.override``.

A container whose settings select Redis (``redis.url``) keeps its real Redis adapters, engine
and broadcasts: then the World stands in for the database and the bus only, and the
containers share what a cluster shares through Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dependency_injector import providers

from gomicroim.container import Container
from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.infra.bus import InProcessTopic
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from gomicroim.modules.groups.ports import MembersChanged
from gomicroim.modules.identity.contract import SessionEnded
from gomicroim.modules.identity.ports import BlocksChanged, DevicesChanged
from gomicroim.modules.identity.storage import MemoryRevocationList
from gomicroim.modules.presence.service import PresenceService
from tests.fakes.chat import MemoryChatStore
from tests.fakes.groups import MemoryGroupStore
from tests.fakes.identity import (
    FakeHasher,
    MemoryBlockStore,
    MemoryInviteStore,
    MemorySessionStore,
    MemoryUserStore,
)
from tests.fakes.outbox import MemoryOutboxStore
from tests.fakes.presence import memory_presence
from tests.fakes.push_tokens import MemoryPushTokenStore
from tests.fakes.timeline import MemoryTimelineStore

#: The signing secret every container of a world shares, as a cluster's processes do.
JWT_SECRET = "unit-test-secret-0123456789abcdef-shared"


@dataclass
class World:
    """The shared state of one deployment, in memory."""

    invites: MemoryInviteStore = field(default_factory=MemoryInviteStore)
    users: MemoryUserStore = field(init=False)
    sessions: MemorySessionStore = field(default_factory=MemorySessionStore)
    blocks: MemoryBlockStore = field(default_factory=MemoryBlockStore)
    revocations: MemoryRevocationList = field(default_factory=MemoryRevocationList)
    hasher: FakeHasher = field(default_factory=FakeHasher)
    groups: MemoryGroupStore = field(default_factory=MemoryGroupStore)
    outbox: MemoryOutboxStore = field(default_factory=MemoryOutboxStore)
    timeline: MemoryTimelineStore = field(default_factory=MemoryTimelineStore)
    push_tokens: MemoryPushTokenStore = field(default_factory=MemoryPushTokenStore)
    presence: PresenceService = field(default_factory=lambda: memory_presence()[0])
    device_events: LocalBroadcast[DevicesChanged] = field(
        default_factory=lambda: LocalBroadcast("identity.devices")
    )
    block_events: LocalBroadcast[BlocksChanged] = field(
        default_factory=lambda: LocalBroadcast("identity.blocks")
    )
    session_events: LocalBroadcast[SessionEnded] = field(
        default_factory=lambda: LocalBroadcast("session_ended")
    )
    member_events: LocalBroadcast[MembersChanged] = field(
        default_factory=lambda: LocalBroadcast("groups.members")
    )
    committed: InProcessTopic[MessageCommitted] = field(
        default_factory=lambda: InProcessTopic("committed")
    )
    reads: InProcessTopic[ReadPositionMoved] = field(default_factory=lambda: InProcessTopic("read"))
    chat: MemoryChatStore = field(init=False)

    def __post_init__(self) -> None:
        # The send transaction and the relay share one outbox, as in SQL.
        self.chat = MemoryChatStore(outbox_store=self.outbox)
        # Registration takes invite uses in the user store's transaction, as in SQL.
        self.users = MemoryUserStore(self.invites)

    def wire(self, container: Container) -> Container:
        """Override ``container``'s adapters and engines with this world's; return it."""
        overrides: dict[Any, Any] = {
            container.identity.users: self.users,
            container.identity.invites: self.invites,
            container.identity.sessions: self.sessions,
            container.identity.blocks: self.blocks,
            container.identity.hasher: self.hasher,
            container.groups.store: self.groups,
            container.chat.outbox: self.outbox,
            container.timeline.store: self.timeline,
            container.notifications.tokens: self.push_tokens,
            container.committed_topic: self.committed,
            container.read_topic: self.reads,
            # The fakes need no database, so that engine never opens.
            container.database_engine: None,
        }
        if container.settings().shared_state_backend == "memory":
            overrides |= {
                container.identity.revocations: self.revocations,
                container.identity.device_events: self.device_events,
                container.identity.block_events: self.block_events,
                container.identity.session_events: self.session_events,
                container.groups.member_events: self.member_events,
                container.presence.service: self.presence,
            }
        for provider, fake in overrides.items():
            provider.override(providers.Object(fake))
        # One database, but each process's store hands its own commits to its own relay.
        container.chat.store.override(
            providers.Singleton(
                self.chat.replica,
                on_commit=container.chat.relay.provided.submit,
                owner=container.settings.provided.node_id,
            )
        )
        return container
