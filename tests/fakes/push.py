"""A ``PushRouter`` that records batches instead of delivering them."""

from __future__ import annotations

from gomicroim.gateway.contract import PushBatch


class RecordingRouter:
    """Keeps every routed batch in order."""

    def __init__(self) -> None:
        self.batches: list[PushBatch] = []

    async def route(self, batch: PushBatch) -> None:
        """Record the batch."""
        self.batches.append(batch)
