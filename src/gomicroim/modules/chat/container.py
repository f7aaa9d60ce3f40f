"""Wiring of the chat module."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.modules.chat.http import ConversationController, MessageController
from gomicroim.modules.chat.service import ChatService
from gomicroim.modules.chat.storage import SqlChatStore
from gomicroim.modules.groups.contract import GroupsFacade
from gomicroim.modules.identity.contract import IdentityFacade


class ChatContainer(containers.DeclarativeContainer):
    """Chat's providers; needs settings, identity's directory and the groups facade."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    groups: providers.Dependency[GroupsFacade] = providers.Dependency()

    store = providers.Singleton(SqlChatStore)
    service = providers.Singleton(
        ChatService,
        store=store,
        users=identity,
        groups=groups,
        max_body_bytes=settings.provided.chat.max_body_bytes,
    )
    controllers = providers.Object([MessageController, ConversationController])
