"""The Kafka engine against tansu: topics at start, readiness, a broker that is down or forgot."""

from __future__ import annotations

import pytest

from gomicroim.errors import Unavailable
from tests.integration.conftest import eventually, kafka_settings
from tests.integration.kafka_helpers import engine_for, started, topic_partitions
from tests.integration.tansu import Tansu

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _ours(partitions: dict[str, int], prefix: str) -> dict[str, int]:
    return {name: count for name, count in partitions.items() if name.startswith(prefix)}


async def test_the_engine_creates_every_topic_with_its_configured_partitions(
    tansu: Tansu,
) -> None:
    settings = kafka_settings(
        tansu.bootstrap, committed_partitions=3, read_partitions=2, push_partitions=5
    )
    prefix = settings.topic_prefix

    async with started(engine_for(settings)) as engine:
        await engine.ping()
        topics = _ours(await topic_partitions(tansu.bootstrap), prefix)

    assert topics == {
        f"{prefix}committed": 3,
        f"{prefix}read": 2,
        f"{prefix}push": 5,
        f"{prefix}dead-letter": 1,
    }


async def test_topics_lost_by_a_restarted_broker_come_back_with_their_partitions(
    own_tansu: Tansu,
) -> None:
    settings = kafka_settings(own_tansu.bootstrap, push_partitions=6)
    push = f"{settings.topic_prefix}push"
    engine = engine_for(settings)
    engine.want_producer()

    async with started(engine):
        own_tansu.restart()

        async def recreated() -> bool:
            try:
                return (await topic_partitions(own_tansu.bootstrap)).get(push) == 6
            except Exception:
                return False

        await eventually(recreated, what="the push topic created again")
        await engine.ping()
        epoch = engine.epoch

    # Created by the engine, not by the broker's auto-creation (which would give 4 here).
    assert epoch == 1


async def test_a_broker_that_is_down_is_unavailable_until_it_comes_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = Tansu(tmp_path)
    settings = kafka_settings(broker.bootstrap)
    engine = engine_for(settings)
    engine.want_producer()

    async with started(engine):
        with pytest.raises(Unavailable) as down:
            await engine.ping()
        with pytest.raises(Unavailable) as producing:
            engine.producer()
        broker.start()
        try:

            async def ready() -> bool:
                try:
                    await engine.ping()
                except Unavailable:
                    return False
                return True

            await eventually(ready, what="readiness after the broker came up")
            topics = _ours(await topic_partitions(broker.bootstrap), settings.topic_prefix)
        finally:
            broker.stop()

    assert "kafka.bootstrap_servers" in down.value.message
    assert broker.bootstrap in producing.value.message
    assert len(topics) == 4
