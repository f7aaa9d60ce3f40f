"""MongoDB lifecycle: the pymongo async client, beanie init, indexes, readiness, error mapping."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from beanie import Document, init_beanie
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from gomicroim.config import MongoSettings
from gomicroim.errors import Unavailable
from gomicroim.infra.database import describe_url

log = logging.getLogger("gomicroim.mongo")

#: Server errors meaning "an index of this name or these keys exists with other options":
#: IndexOptionsConflict, IndexKeySpecsConflict.
_INDEX_CONFLICT = frozenset({85, 86})


class MongoModels(NamedTuple):
    """What one module keeps in MongoDB: contributed by its container when it selects MongoDB.

    ``documents`` are beanie documents; beanie creates the indexes they declare. Indexes whose
    options come from settings (a TTL from a retention setting) go in ``indexes``, keyed by
    document; the engine creates them, and changes their options in place when a setting
    changed since the last start.
    """

    documents: tuple[type[Document], ...]
    indexes: Mapping[type[Document], Sequence[IndexModel]] = {}


@contextmanager
def unavailable_on_error(what: str) -> Iterator[None]:
    """Turn connection-class pymongo errors into :class:`Unavailable` (503 at the edge).

    Args:
        what: the operation, for the message (``"timeline append"``).
    """
    try:
        yield
    except ConnectionFailure as exc:
        # ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout, NotPrimaryError: the
        # server is down, unreachable or failing over; the caller may retry later.
        # pymongo appends the whole topology description; the first part names the cause.
        cause = str(exc).split(", Timeout: ")[0]
        raise Unavailable(
            f"MongoDB is unavailable during {what}: {cause}; check mongo.url and that the "
            "server (or a primary of its replica set) is running"
        ) from exc


class MongoEngine:
    """One pymongo async client per process, opened by :func:`open_mongo`.

    Writes are acknowledged by a majority and reads see majority-committed data, so what a
    reader saw survives a replica set failover. ``mongo.timeout_s`` bounds how long an
    operation waits for a usable server before it fails as :class:`Unavailable`.
    """

    def __init__(self, settings: MongoSettings):
        self._settings = settings
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._transactions = False

    @property
    def url(self) -> str:
        """The configured URL with any password masked."""
        return describe_url(self._settings.url)

    @property
    def client(self) -> AsyncMongoClient[dict[str, Any]]:
        """The open client.

        Raises:
            RuntimeError: the engine is not open.
        """
        if self._client is None:
            raise RuntimeError("MongoDB is not open; the engine resource opens it at start")
        return self._client

    @property
    def database(self) -> AsyncDatabase[dict[str, Any]]:
        """The database named by ``mongo.database``."""
        return self.client[self._settings.database]

    @property
    def transactions(self) -> bool:
        """Whether the server takes multi-document transactions (a replica set or mongos)."""
        return self._transactions

    def _new_client(self) -> AsyncMongoClient[dict[str, Any]]:
        timeout_ms = round(self._settings.timeout_s * 1000)
        options: dict[str, Any] = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "w": "majority",
            "readConcernLevel": "majority",
        }
        # Options written into the URL win over these defaults.
        given = self._settings.url.lower()
        options = {k: v for k, v in options.items() if f"{k.lower()}=" not in given}
        return AsyncMongoClient(self._settings.url, tz_aware=True, **options)

    async def open(self, models: Sequence[MongoModels]) -> None:
        """Connect, learn whether transactions work, init beanie and create every index.

        Raises:
            Unavailable: the server cannot be reached or refused a command, naming the URL.
        """
        self._client = self._new_client()
        try:
            with unavailable_on_error(f"start (connecting to {self.url})"):
                hello = await self.client.admin.command("hello")
                self._transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
                documents = [doc for m in models for doc in m.documents]
                await init_beanie(database=self.database, document_models=documents)
                for model in models:
                    for document, indexes in model.indexes.items():
                        for index in indexes:
                            await self._ensure_index(document, index)
        except (Unavailable, PyMongoError) as exc:
            await self.close()
            if isinstance(exc, Unavailable):
                raise
            raise Unavailable(
                f"cannot prepare MongoDB at {self.url}: {exc}; check mongo.url, mongo.database "
                "and the user's rights (it creates collections and indexes)"
            ) from exc
        log.info(
            "mongodb ready",
            extra={
                "url": self.url,
                "database": self._settings.database,
                "transactions": self._transactions,
            },
        )

    async def _ensure_index(self, document: type[Document], index: IndexModel) -> None:
        collection = self.database[document.get_collection_name()]
        spec = index.document
        try:
            await collection.create_indexes([index])
        except OperationFailure as exc:
            if exc.code not in _INDEX_CONFLICT or "expireAfterSeconds" not in spec:
                raise
            # The same TTL index with another expiry: retention changed since the last start.
            await self.database.command(
                "collMod",
                collection.name,
                index={"name": spec["name"], "expireAfterSeconds": spec["expireAfterSeconds"]},
            )
            log.info(
                "mongodb index expiry changed",
                extra={"index": spec["name"], "expire_after_s": spec["expireAfterSeconds"]},
            )

    async def close(self) -> None:
        """Close the client (no-op when it is not open)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        """Raise :class:`Unavailable` unless the server answers ``ping``."""
        try:
            await self.client.admin.command("ping")
        except (PyMongoError, RuntimeError) as exc:
            raise Unavailable(f"mongodb does not answer: {exc}") from exc


async def open_mongo(engine: MongoEngine, models: Sequence[MongoModels]) -> AsyncIterator[None]:
    """Keep ``engine`` open for the life of the app: the form a ``providers.Resource`` runs."""
    await engine.open(models)
    try:
        yield
    finally:
        await engine.close()
