"""Wiring of the chat module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.bus import InProcessTopic
from gomicroim.infra.database import TortoiseApp
from gomicroim.infra.kafka.engine import KafkaEngine
from gomicroim.infra.kafka.publisher import KafkaCommittedPublisher, KafkaReadPublisher
from gomicroim.modules.chat import storage
from gomicroim.modules.chat.contract import MessageCommitted, ReadPositionMoved
from gomicroim.modules.chat.edits import MessageChangeService
from gomicroim.modules.chat.edits_http import MessageChangeController
from gomicroim.modules.chat.http import ConversationController, MessageController
from gomicroim.modules.chat.ports import OwnTimeline, RelayMetrics, SendMetrics
from gomicroim.modules.chat.readers import ReadReceiptService
from gomicroim.modules.chat.readers_http import ReadersController
from gomicroim.modules.chat.relay import OutboxRelay
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.settings import ConversationSettingsService
from gomicroim.modules.chat.settings_http import ConversationSettingsController
from gomicroim.modules.chat.storage import SqlChatStore
from gomicroim.modules.chat.storage.changes import SqlMessageChangeStore
from gomicroim.modules.chat.storage.outbox import SqlOutboxStore
from gomicroim.modules.chat.storage.readers import SqlReaderStore
from gomicroim.modules.chat.storage.visibility import SqlVisibilityStore
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import BlocksFacade, IdentityFacade


class ChatContainer(containers.DeclarativeContainer):
    """Chat's providers; the root supplies the other modules and the in-process bus topics."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    blocks: providers.Dependency[BlocksFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()
    committed_topic: providers.Dependency[InProcessTopic[MessageCommitted]] = providers.Dependency()
    read_topic: providers.Dependency[InProcessTopic[ReadPositionMoved]] = providers.Dependency()
    kafka: providers.Dependency[KafkaEngine] = providers.Dependency()
    metrics: providers.Dependency[SendMetrics] = providers.Dependency()
    relay_metrics: providers.Dependency[RelayMetrics] = providers.Dependency()
    own_timeline: providers.Dependency[OwnTimeline] = providers.Dependency()

    # The publishing side of the bus; the fan-out container selects the consuming side.
    publisher = providers.Selector(
        settings.provided.bus_backend,
        memory=committed_topic,
        kafka=providers.Singleton(
            KafkaCommittedPublisher,
            kafka,
            resend_window_s=settings.provided.kafka.resend_window_s,
            metrics=metrics,
        ),
    )
    read_events = providers.Selector(
        settings.provided.bus_backend,
        memory=read_topic,
        kafka=providers.Singleton(KafkaReadPublisher, kafka),
    )

    tortoise_app = providers.Object(TortoiseApp("chat", storage.__name__))
    stale_ms = providers.Callable(lambda s: int(s.fanout.outbox_stale_s * 1000), settings)
    outbox = providers.Singleton(SqlOutboxStore)
    relay = providers.Singleton(
        OutboxRelay,
        store=outbox,
        publisher=publisher,
        owner=settings.provided.node_id,
        batch_size=settings.provided.fanout.relay_batch_size,
        retention_ms=providers.Callable(
            lambda s: int(s.fanout.outbox_retention_s * 1000), settings
        ),
        stale_ms=stale_ms,
        max_buffer=settings.provided.fanout.relay_buffer_size,
        metrics=relay_metrics,
    )
    # The store is the send's unit of work: it hands each commit to the relay itself.
    store = providers.Singleton(
        SqlChatStore,
        on_commit=relay.provided.submit,
        owner=settings.provided.node_id,
        lease_ms=stale_ms,
        max_pending=settings.provided.chat.max_pending_sends,
        cache_stats=metrics,
    )
    change_store = providers.Singleton(SqlMessageChangeStore)
    windows = providers.Singleton(SqlVisibilityStore)
    service = providers.Singleton(
        ChatService,
        store=store,
        users=identity,
        groups=groups,
        max_body_bytes=settings.provided.chat.max_body_bytes,
        read_events=read_events,
        metrics=metrics,
        default_page_size=settings.provided.chat.default_page_size,
        max_page_size=settings.provided.chat.max_page_size,
        conversations_page_limit=settings.provided.chat.conversations_page_limit,
        conversations_max_limit=settings.provided.chat.conversations_max_limit,
        preview_chars=settings.provided.chat.preview_chars,
        hidden=change_store,
        blocks=blocks,
        single_chat_policy=settings.provided.chat.single_chat_policy,
        windows=windows,
        new_members_see_history=settings.provided.groups.new_members_see_history,
        former_member_history=settings.provided.groups.former_member_history,
    )
    changes = providers.Singleton(
        MessageChangeService,
        store=change_store,
        groups=groups,
        publisher=publisher,
        timeline=own_timeline,
        max_body_bytes=settings.provided.chat.max_body_bytes,
        recall_window_s=settings.provided.chat.recall_window_s,
        edit_window_s=settings.provided.chat.edit_window_s,
    )
    reader_store = providers.Singleton(SqlReaderStore)
    readers = providers.Singleton(
        ReadReceiptService,
        store=reader_store,
        entries=store,
        groups=groups,
        page_limit=settings.provided.chat.readers_page_limit,
        max_limit=settings.provided.chat.readers_max_limit,
        windows=windows,
        new_members_see_history=settings.provided.groups.new_members_see_history,
    )
    #: Mute and pin; ``muted_users`` is the seam offline push asks.
    settings_service = providers.Singleton(
        ConversationSettingsService, store=store, groups=groups, events=read_events
    )
    controllers = providers.Object(
        [
            MessageController,
            ConversationController,
            MessageChangeController,
            ConversationSettingsController,
            ReadersController,
        ]
    )
