"""A throwaway MongoDB database for the timeline contract, when ``GOMICROIM_TEST_MONGO_URL`` is set.

No MongoDB server exists on this project's machines and none can be installed on them, so
there the MongoDB backends skip with that reason: the adapter's MongoDB queries were not run
against a real server. Its seq logic still runs through the whole suite on an in-memory
collection layer (``mongo-memory``, :mod:`tests.fakes.mongo_timeline`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from gomicroim.config import MongoSettings
from gomicroim.infra.mongo import MongoEngine
from gomicroim.modules.timeline.storage.mongo import (
    MongoTimelineStore,
    PymongoCollections,
    timeline_models,
)

MONGO_URL = os.environ.get("GOMICROIM_TEST_MONGO_URL", "")

NO_SERVER = (
    "no MongoDB server (GOMICROIM_TEST_MONGO_URL is not set; none exists or can be installed "
    "on this machine): the MongoDB timeline adapter was not run against a real server here"
)


@asynccontextmanager
async def mongo_timeline(*, transactions: bool | None) -> AsyncIterator[MongoTimelineStore]:
    """A store on a fresh database ``gomicroim_test_<random>``, dropped afterwards.

    Args:
        transactions: ``None`` uses them when the server has them; ``False`` forces the
            high-water path that a standalone server gets.
    """
    if not MONGO_URL:
        pytest.skip(NO_SERVER)
    name = f"gomicroim_test_{secrets.token_hex(4)}"
    engine = MongoEngine(MongoSettings(url=MONGO_URL, database=name, timeout_s=5))
    await engine.open([timeline_models(retention_days=30)])
    try:
        # Small $in lists, so a 30-user append already takes several chunks.
        collections = PymongoCollections(engine, max_in_list=8)
        yield MongoTimelineStore(collections=collections, transactions=transactions)
    finally:
        await engine.client.drop_database(name)
        await engine.close()
