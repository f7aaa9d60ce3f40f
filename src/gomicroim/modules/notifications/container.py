"""Wiring of the notifications module."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.infra.database import TortoiseApp
from gomicroim.infra.metrics import Metrics
from gomicroim.modules.notifications import storage
from gomicroim.modules.notifications.contract import OfflineNotifier
from gomicroim.modules.notifications.http import PushTokenController
from gomicroim.modules.notifications.notifier import PushNotifier, delivering
from gomicroim.modules.notifications.ports import MuteLookup, NoMutes
from gomicroim.modules.notifications.sender import WebhookSender
from gomicroim.modules.notifications.service import NotificationsService
from gomicroim.modules.notifications.storage import SqlPushTokenStore
from gomicroim.modules.notifications.transport import HttpxTransport


def _enabled(settings: Settings, notifier: providers.Provider[PushNotifier]) -> Any:
    # Off (no webhook URL): the fan-out gets no hook, so nothing is ever queued.
    return notifier() if settings.push.webhook_url else None


def _delivery(
    settings: Settings,
    metrics: Metrics,
    notifier: providers.Provider[PushNotifier],
    sender: providers.Provider[WebhookSender],
    transport: providers.Provider[HttpxTransport],
) -> AbstractAsyncContextManager[None]:
    if not settings.push.webhook_url:
        return nullcontext()
    resolving, sending = notifier(), sender()
    metrics.watch_push_queue(lambda: resolving.pending + sending.pending)
    return delivering(resolving, sending, transport())


class NotificationsContainer(containers.DeclarativeContainer):
    """Push tokens (API role) and the webhook delivery of offline notifications (fan-out role)."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[Any] = providers.Dependency()
    session_events: providers.Dependency[Any] = providers.Dependency()
    metrics: providers.Dependency[Metrics] = providers.Dependency()

    tortoise_app = providers.Object(TortoiseApp("notifications", storage.__name__))
    tokens = providers.Singleton(SqlPushTokenStore)
    service = providers.Singleton(
        NotificationsService, tokens=tokens, identity=identity, session_events=session_events
    )
    #: Who muted a conversation (:class:`~gomicroim.modules.notifications.ports.MuteLookup`).
    #: Nobody, unless the root container passes chat's adapter as ``mute_lookup=``.
    mute_lookup: providers.Dependency[MuteLookup] = providers.Dependency(
        default=providers.Singleton(NoMutes)
    )

    transport = providers.Singleton(
        HttpxTransport,
        url=settings.provided.push.webhook_url,
        timeout_s=settings.provided.push.timeout_s,
    )
    sender = providers.Singleton(
        WebhookSender, transport=transport, settings=settings.provided.push, metrics=metrics
    )
    notifier = providers.Singleton(
        PushNotifier,
        tokens=tokens,
        mutes=mute_lookup,
        sender=sender,
        settings=settings.provided.push,
        metrics=metrics,
    )
    #: The fan-out's hook, or None when ``push.webhook_url`` is empty.
    offline: providers.Provider[OfflineNotifier | None] = providers.Callable(
        _enabled, settings, notifier.provider
    )
    #: The fan-out role's lifecycle: token lookups and the sender run while it is entered.
    delivery = providers.Callable(
        _delivery, settings, metrics, notifier.provider, sender.provider, transport.provider
    )
    controllers = providers.Object([PushTokenController])
