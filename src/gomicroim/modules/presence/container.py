"""Wiring of the presence module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.modules.presence.service import LocalPresence


class PresenceContainer(containers.DeclarativeContainer):
    """Presence's providers: in-process now; the cluster shape selects a Redis adapter."""

    service = providers.Singleton(LocalPresence)
