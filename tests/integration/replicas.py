"""Replicas in one test process: real containers and apps that share a World and a real Redis.

Each :class:`Replica` is what one ``gomicroim serve --config cluster.toml`` process would be:
its own container, app, lifecycles, Redis engine (connections, pub/sub, instance id) and
caches. They share the fake database and bus of one :class:`World` (a real database is not
what these tests are about) and everything a cluster shares through Redis, under a key
prefix of the test's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from gomicroim.app import create_app
from gomicroim.config import Role, Settings
from gomicroim.container import Container
from gomicroim.modules.identity.contract import UserCreate
from tests.fakes.asgi import serving
from tests.fakes.world import JWT_SECRET, World

PASSWORD = "correct horse battery"


@dataclass
class Replica:
    """One process of the cluster."""

    container: Container
    app: Litestar
    http: httpx.AsyncClient

    async def register(self, username: str) -> int:
        """Create an account; return its id."""
        user = await self.container.identity.service().register(
            UserCreate(username=username, password=PASSWORD)
        )
        return user.id

    async def login(self, username: str, device_id: str = "phone", client_type: str = "app") -> str:
        """Log a device in over HTTP; return its access token."""
        answer = await self.http.post(
            "/api/v1/auth/login",
            json={
                "username": username,
                "password": PASSWORD,
                "device_id": device_id,
                "client_type": client_type,
            },
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])


def auth(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


Start = Callable[..., Awaitable[Replica]]


@asynccontextmanager
async def replicas(
    make_settings: Callable[..., Settings], redis_url: str, prefix: str
) -> AsyncIterator[Start]:
    """Yield ``start(node_id, roles=[...], **sections)``, which starts one more replica."""
    world = World()
    async with AsyncExitStack() as stack:

        async def start(node_id: str, roles: list[Role] | None = None, **sections: Any) -> Replica:
            redis = {"url": redis_url, "key_prefix": prefix, "check_interval_s": 0.2}
            settings = make_settings(
                server={"roles": roles or ["api", "gateway"], "node_id": node_id},
                redis=redis | sections.pop("redis", {}),
                limits={"requests_per_second": 0},
                # Long TTLs: what keeps caches coherent here must be invalidation, not expiry.
                groups={"member_cache_ttl_s": 600},
                identity={
                    "device_cache_ttl_s": 600,
                    "block_cache_ttl_s": 600,
                    "password_time_cost": 1,
                    "password_memory_kib": 8192,
                },
                **sections,
            )
            container = world.wire(Container(settings=settings, jwt_secret=JWT_SECRET))
            app = create_app(settings, container)
            http = await stack.enter_async_context(serving(app))
            return Replica(container, app, http)

        yield start


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait until ``check()`` is true (recovery after a fault takes a moment); fail after."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        await asyncio.sleep(0.1)
