"""Creating the users, devices and groups a scenario needs, over the public HTTP API."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import aiohttp
import msgspec

from gomicroim.bench.stats import progress


class Account(msgspec.Struct, frozen=True, array_like=True):
    """A logged-in device: what a client process needs to act as it."""

    user_id: int
    device_id: str
    token: str


async def create_accounts(
    url: str, count: int, *, client_type: str = "app", devices_per_user: int = 1, label: str
) -> list[Account]:
    """Register ``count`` users and log each in on ``devices_per_user`` devices."""
    prefix = f"b{secrets.token_hex(3)}"
    sem = asyncio.Semaphore(32)
    done = 0

    async def one(session: aiohttp.ClientSession, index: int) -> list[Account]:
        nonlocal done
        name = f"{prefix}{index}"
        async with sem:
            user = await _post(
                session,
                f"{url}/api/v1/auth/register",
                {"username": name, "password": "benchmark-pw"},
            )
            accounts = []
            for d in range(devices_per_user):
                login = await _post(
                    session,
                    f"{url}/api/v1/auth/login",
                    {
                        "username": name,
                        "password": "benchmark-pw",
                        "device_id": f"{label}-{d}",
                        "client_type": client_type,
                    },
                )
                accounts.append(Account(user["id"], f"{label}-{d}", login["access_token"]))
        done += 1
        if done % 500 == 0:
            progress(f"{label}: {done}/{count} users ready")
        return accounts

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        nested = await asyncio.gather(*(one(session, i) for i in range(count)))
    return [a for group in nested for a in group]


async def create_group(url: str, owner: Account, member_ids: list[int]) -> int:
    """A group owned by ``owner`` with ``member_ids``; returns its id."""
    async with aiohttp.ClientSession() as session:
        group = await _post(
            session,
            f"{url}/api/v1/groups",
            {"name": "bench", "member_ids": member_ids},
            token=owner.token,
        )
    group_id: int = group["id"]
    return group_id


async def _post(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as response:
        if response.status >= 300:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        return await response.json()
