"""In-process presence, built as the embedded container builds it."""

from __future__ import annotations

from gomicroim.infra.broadcast import LocalBroadcast
from gomicroim.modules.presence.service import PresenceService
from gomicroim.modules.presence.storage import MemoryPresenceStore


def memory_presence(lease_ms: int = 15_000) -> tuple[PresenceService, MemoryPresenceStore]:
    """A presence service over a memory store (returned too, to arrange leases)."""
    store = MemoryPresenceStore()
    service = PresenceService(
        store=store, events=LocalBroadcast("presence.displaced"), lease_ms=lease_ms
    )
    return service, store
