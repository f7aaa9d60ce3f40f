"""Fan-out strategies: what to store for a recipient before pushing to their devices."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gomicroim.modules.chat.contract import MessageRead
from gomicroim.modules.timeline.contract import TimelineFacade

#: One message and the users a strategy should store it for.
Delivery = tuple[MessageRead, set[int]]


@runtime_checkable
class FanoutStrategy(Protocol):
    """Decides storage per recipient; every strategy's recipients are pushed to afterwards.

    ``priority`` settles users whose devices ask for different strategies: the highest wins,
    so a user with an app and a web device gets the app's timeline entries, and both devices
    get the push.
    """

    name: str
    priority: int

    async def deliver(self, batch: list[Delivery]) -> list[dict[int, int | None]]:
        """Store what the strategy stores for each (message, users) of the batch, in order.

        Returns:
            Per item, each user's user seq (None: not stored).
        """
        ...


class ReadFanout:
    """Read fan-out (web clients): nothing per recipient; they read the conversation history."""

    name = "read"
    priority = 0

    def __init__(self, **_: object) -> None:
        pass

    async def deliver(self, batch: list[Delivery]) -> list[dict[int, int | None]]:
        """No storage; pushes carry only the conversation seq."""
        return [dict.fromkeys(user_ids) for _, user_ids in batch]


class WriteFanout:
    """Write fan-out (app and desktop clients): append to each recipient's timeline."""

    name = "write"
    priority = 10

    def __init__(self, *, timeline: TimelineFacade, **_: object) -> None:
        self._timeline = timeline

    async def deliver(self, batch: list[Delivery]) -> list[dict[int, int | None]]:
        """Append to the timelines in one go; pushes carry the user seq."""
        appended = await self._timeline.append_many(batch)
        return [
            dict(seqs)  # the store answers for exactly these users: a copy, not a lookup each
            if len(seqs) == len(user_ids)
            else {user_id: seqs.get(user_id) for user_id in user_ids}
            for (_, user_ids), seqs in zip(batch, appended, strict=True)
        ]
