"""In-memory adapters of the module ports, for unit tests and as the reference in contract tests."""

from tests.fakes.chat import MemoryChatStore, MemoryVisibilityStore, RecordingReadEvents
from tests.fakes.clock import FakeClock
from tests.fakes.directory import StaticDirectory
from tests.fakes.groups import MemoryGroupStore
from tests.fakes.identity import (
    FakeHasher,
    MemoryBlockStore,
    MemoryInviteStore,
    MemorySessionStore,
    MemoryUserStore,
)
from tests.fakes.outbox import MemoryOutboxStore, RecordingPublisher

__all__ = [
    "FakeClock",
    "FakeHasher",
    "MemoryBlockStore",
    "MemoryChatStore",
    "MemoryGroupStore",
    "MemoryInviteStore",
    "MemoryOutboxStore",
    "MemorySessionStore",
    "MemoryUserStore",
    "MemoryVisibilityStore",
    "RecordingPublisher",
    "RecordingReadEvents",
    "StaticDirectory",
]
