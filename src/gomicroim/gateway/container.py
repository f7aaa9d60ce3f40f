"""Wiring of this node's WebSocket gateway."""

from __future__ import annotations

from dependency_injector import containers, providers

from gomicroim.config import Settings
from gomicroim.gateway.http import ws_endpoint
from gomicroim.gateway.quota import MemoryConnectionQuota
from gomicroim.gateway.service import Gateway
from gomicroim.modules.identity.contract import IdentityFacade, SessionEvents
from gomicroim.modules.presence.contract import PresenceFacade
from gomicroim.modules.timeline.contract import TimelineFacade


class GatewayContainer(containers.DeclarativeContainer):
    """The gateway needs identity (tokens, ended sessions), presence and timeline (``hello``)."""

    settings = providers.Dependency(instance_of=Settings)
    identity: providers.Dependency[IdentityFacade] = providers.Dependency()
    presence: providers.Dependency[PresenceFacade] = providers.Dependency()
    timeline: providers.Dependency[TimelineFacade] = providers.Dependency()
    session_events: providers.Dependency[SessionEvents] = providers.Dependency()

    # In process: one node holds every socket. A cluster counts in Redis instead.
    quota = providers.Singleton(
        MemoryConnectionQuota,
        per_user=settings.provided.gateway.max_connections_per_user,
        per_ip=settings.provided.gateway.max_connections_per_ip,
    )
    service = providers.Singleton(
        Gateway,
        node_id=settings.provided.server.node_id,
        identity=identity,
        presence=presence,
        timeline=timeline,
        session_events=session_events,
        quota=quota,
        idle_timeout_s=settings.provided.gateway.idle_timeout_s,
        max_pending_bytes=settings.provided.gateway.max_pending_bytes,
        max_frames_per_second=settings.provided.gateway.max_frames_per_second,
        frame_burst=settings.provided.gateway.frame_burst,
    )
    controllers = providers.Object([ws_endpoint])
