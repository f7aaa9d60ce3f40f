"""Wiring of the chat module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.modules.chat.http import ConversationController, MessageController
from gomicroim.modules.chat.ports import (
    CommittedPublisher,
    OutboxMetrics,
    ReadEventPublisher,
    SendMetrics,
)
from gomicroim.modules.chat.relay import OutboxRelay
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.storage import SqlChatStore, SqlOutboxStore
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import IdentityFacade


class ChatContainer(containers.DeclarativeContainer):
    """Chat's providers; the root supplies the other modules and the bus topics."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()
    publisher: providers.Dependency[CommittedPublisher] = providers.Dependency()
    read_events: providers.Dependency[ReadEventPublisher] = providers.Dependency()
    metrics: providers.Dependency[SendMetrics | OutboxMetrics] = providers.Dependency()

    store = providers.Singleton(SqlChatStore)
    outbox = providers.Singleton(SqlOutboxStore)
    relay = providers.Singleton(
        OutboxRelay,
        store=outbox,
        publisher=publisher,
        batch_size=settings.provided.fanout.relay_batch_size,
        retention_ms=providers.Callable(
            lambda s: int(s.fanout.outbox_retention_s * 1000), settings
        ),
        metrics=metrics,
    )
    service = providers.Singleton(
        ChatService,
        store=store,
        users=identity,
        groups=groups,
        max_body_bytes=settings.provided.chat.max_body_bytes,
        on_commit=relay.provided.submit,
        read_events=read_events,
        metrics=metrics,
        default_page_size=settings.provided.chat.default_page_size,
        max_page_size=settings.provided.chat.max_page_size,
    )
    controllers = providers.Object([MessageController, ConversationController])
