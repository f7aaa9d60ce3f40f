"""The composition root: what each role serves and runs, and which adapters config selects.

Every test builds the real :class:`Container` and the real app; only adapters and engines are
overridden with the fakes (``provider.override``), so the wiring itself is under test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from dependency_injector import providers
from litestar import Litestar

from gomicroim.app import build_container, create_app
from gomicroim.config import ConfigError, Settings
from gomicroim.container import Container, tortoise_apps
from gomicroim.infra.kafka.consumer import KafkaEventSource
from gomicroim.infra.kafka.publisher import KafkaCommittedPublisher, KafkaReadPublisher
from gomicroim.infra.kafka.push import KafkaPushRouter, PushPartitionConsumer
from gomicroim.modules.identity.contract import LoginRequest, UserCreate
from tests.fakes.asgi import AsgiWebSocket, ConnectionClosed, serving
from tests.fakes.push import RecordingRouter
from tests.fakes.world import JWT_SECRET, World

Build = Callable[..., tuple[Container, Litestar]]
BACKGROUND = {"outbox-relay", "fanout-committed", "fanout-read", "timeline-pruning"}
PASSWORD = "correct horse battery"
#: Kafka settings that select the Kafka adapters; nothing connects in these tests.
KAFKA = {"bootstrap_servers": "127.0.0.1:1", "node_partitions": {"gw-1": [0, 1], "gw-2": [2]}}


@pytest.fixture
def build(make_settings: Callable[..., Settings]) -> Build:
    """A real container for ``server`` settings, wired to ``world`` (a fresh one by default)."""

    def make(world: World | None = None, **server: Any) -> tuple[Container, Litestar]:
        settings = make_settings(server=server)
        container = (world or World()).wire(Container(settings=settings, jwt_secret=JWT_SECRET))
        return container, create_app(settings, container)

    return make


def running_tasks() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks()}


def paths(app: Litestar) -> set[str]:
    return {route.path for route in app.routes}


async def access_token(container: Container, username: str, device_id: str = "phone") -> str:
    identity = container.identity.service()
    await identity.register(UserCreate(username=username, password=PASSWORD))
    tokens = await identity.login(
        LoginRequest(username=username, password=PASSWORD, device_id=device_id, client_type="app")
    )
    return tokens.access_token


async def test_the_embedded_default_serves_and_runs_every_role(build: Build) -> None:
    _, app = build()

    async with serving(app) as client:
        running = running_tasks()
        assert (await client.get("/healthz")).status_code == 200

    assert {"/ws", "/api/v1/messages", "/api/v1/sync", "/metrics", "/schema"} <= paths(app)
    assert running >= BACKGROUND


async def test_an_api_process_serves_the_api_and_runs_only_the_relay(build: Build) -> None:
    _, app = build(roles=["api"])

    async with serving(app) as client:
        running = running_tasks()
        registered = await client.post(
            "/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}
        )
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        schema = await client.get("/schema/openapi.json")

    assert registered.status_code == 201
    assert (health.status_code, ready.status_code, schema.status_code) == (200, 200, 200)
    assert "/api/v1/messages" in schema.json()["paths"]
    assert "/ws" not in paths(app)
    assert "outbox-relay" in running
    assert not running & {"fanout-committed", "fanout-read", "timeline-pruning"}


async def test_a_gateway_process_serves_websockets_and_operations_but_no_api(
    build: Build,
) -> None:
    container, app = build(roles=["gateway"], node_id="gw-1")

    async with serving(app) as client:
        running = running_tasks()
        send = await client.post("/api/v1/messages", json={})
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
        token = await access_token(container, "bob")
        async with AsgiWebSocket(app, "/ws", token=token) as socket:
            hello = await socket.receive_json()

    assert send.status_code == 404
    assert (health.status_code, metrics.status_code) == (200, 200)
    assert hello["type"] == "hello"
    assert hello["node_id"] == "gw-1"
    assert not running & BACKGROUND


async def test_a_gateway_process_still_refuses_a_socket_without_a_token(build: Build) -> None:
    _, app = build(roles=["gateway"], node_id="gw-1")

    async with serving(app):
        with pytest.raises(ConnectionClosed) as closed:
            async with AsgiWebSocket(app, "/ws") as socket:
                await socket.receive_json()

    assert closed.value.code == 4401


async def test_a_fanout_process_runs_the_worker_and_pruning_and_serves_only_operations(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(server={"roles": ["fanout"]})
    container = World().wire(Container(settings=settings, jwt_secret=JWT_SECRET))
    # Without a gateway of its own, the worker hands pushes to the cluster's router.
    container.gateway.router.override(providers.Object(RecordingRouter()))
    app = create_app(settings, container)

    async with serving(app) as client:
        running = running_tasks()
        health = await client.get("/healthz")
        send = await client.post("/api/v1/messages", json={})

    assert {"fanout-committed", "fanout-read", "timeline-pruning"} <= running
    assert "outbox-relay" not in running
    assert (health.status_code, send.status_code) == (200, 404)
    assert "/ws" not in paths(app)


def test_all_roles_in_one_process_push_through_their_own_gateway(build: Build) -> None:
    container, _ = build()

    assert container.fanout.router() is container.gateway.service()


def test_a_fanout_process_without_its_own_gateway_routes_over_kafka(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(server={"roles": ["fanout"]}, kafka=KAFKA)
    container = World().wire(Container(settings=settings, jwt_secret=JWT_SECRET))

    assert isinstance(container.fanout.router(), KafkaPushRouter)
    assert isinstance(container.fanout.committed_source(), KafkaEventSource)


def test_a_process_on_kafka_takes_its_bus_adapters_from_kafka(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(server={"node_id": "gw-1"}, kafka=KAFKA)
    container = Container(settings=settings, jwt_secret=JWT_SECRET)

    assert isinstance(container.chat.publisher(), KafkaCommittedPublisher)
    assert isinstance(container.chat.read_events(), KafkaReadPublisher)
    assert isinstance(container.gateway.push_consumer(), PushPartitionConsumer)
    assert container.gateway.push_consumer().partitions == (0, 1)
    assert [engine.name for engine in container.engines()] == ["database", "kafka"]


def test_a_gateway_on_kafka_without_push_partitions_does_not_start(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(server={"roles": ["gateway"], "node_id": "gw-9"}, kafka=KAFKA)
    container = World().wire(Container(settings=settings, jwt_secret=JWT_SECRET))

    with pytest.raises(ConfigError, match=r"server.node_id = 'gw-9' owns no partition"):
        create_app(settings, container)


def test_a_split_role_without_its_cluster_engines_does_not_build(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError, match=r"set kafka\.bootstrap_servers"):
        build_container(make_settings(server={"roles": ["api"]}))


def test_only_modules_that_store_in_sql_bring_tables(
    make_settings: Callable[..., Settings],
) -> None:
    sql = make_settings()
    mongo = make_settings(timeline={"backend": "mongo"}, mongo={"url": "mongodb://h:27017"})

    assert [app.label for app in tortoise_apps(sql)] == [
        "identity",
        "groups",
        "chat",
        "timeline",
        "notifications",
    ]
    assert [app.label for app in tortoise_apps(mongo)] == [
        "identity",
        "groups",
        "chat",
        "notifications",
    ]


async def test_a_message_crosses_from_an_api_process_to_a_gateway_process(
    build: Build,
) -> None:
    """Two containers in one loop, sharing one bus, one presence and one set of stores."""
    world = World()
    api, api_app = build(world, roles=["api"])
    _, edge_app = build(world, roles=["fanout", "gateway"], node_id="gw-1")

    async with serving(api_app) as http, serving(edge_app):
        alice = await access_token(api, "alice", device_id="laptop")
        bob = await access_token(api, "bob")
        bob_id = (await api.identity.service().authenticate(bob)).user_id
        async with AsgiWebSocket(edge_app, "/ws", token=bob) as socket:
            hello = await socket.receive_json()
            sent = await http.post(
                "/api/v1/messages",
                json={
                    "to": bob_id,
                    "session_type": "single",
                    "client_msg_id": "c1",
                    "msg_type": "text",
                    "body": "across processes",
                },
                headers={"Authorization": f"Bearer {alice}"},
            )
            pushed = await socket.receive_json()
        synced = await http.get("/api/v1/sync", headers={"Authorization": f"Bearer {bob}"})

    assert hello["node_id"] == "gw-1"
    assert sent.status_code == 201
    assert pushed["type"] == "message"
    assert pushed["message"] == sent.json()
    # Bob's device is an app: the worker in the other process also wrote his timeline.
    assert pushed["user_seq"] == 1
    assert [entry["message"]["body"] for entry in synced.json()["entries"]] == ["across processes"]
