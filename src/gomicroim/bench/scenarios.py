"""The five benchmark scenarios. Each returns a flat dict of measurements."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from gomicroim.bench.accounts import Account, create_accounts, create_group
from gomicroim.bench.loadgen import ClientPool, split
from gomicroim.bench.meter import Meter
from gomicroim.bench.stats import progress, summary_ms
from gomicroim.bench.target import Target


@dataclass(frozen=True)
class Sizes:
    """Scenario sizes; ``smoke()`` shrinks them to seconds for CI."""

    pairs: int = 50
    latency_rate: float = 200
    latency_s: float = 20
    ramp_rates: tuple[float, ...] = (300, 400, 500, 650, 800, 1000, 1300, 1600, 2000, 3000, 4000)
    ramp_step_s: float = 5
    group_members: int = 200
    group_rate: float = 250
    group_s: float = 10
    connections: int = 1000
    devices_per_user: int = 10
    storm_clients: int = 1000
    storm_messages: int = 50
    fsync_iterations: int = 500
    fsync_bytes: int = 256
    hello_connections: int = 64
    hello_s: float = 10

    @classmethod
    def smoke(cls) -> Sizes:
        """Tiny sizes: proves every scenario still runs end to end."""
        return cls(
            pairs=4,
            latency_rate=20,
            latency_s=1,
            ramp_rates=(20, 40),
            ramp_step_s=1,
            group_members=10,
            group_rate=10,
            group_s=1,
            connections=40,
            devices_per_user=4,
            storm_clients=20,
            storm_messages=5,
            fsync_iterations=20,
            hello_connections=8,
            hello_s=1,
        )


async def _send_step(
    pool: ClientPool,
    senders: list[tuple[str, int, str]],
    *,
    rate: float,
    duration: float,
    step: int,
    recipients_per_message: int,
    settle_s: float = 5.0,
) -> dict[str, Any]:
    """Send at ``rate`` for ``duration`` from all processes, wait for deliveries, collect."""
    shares = split(senders, pool.size)
    commands = [
        {
            "cmd": "send",
            "args": {
                "senders": share,
                "rate": rate / pool.size,
                "duration": duration,
                "step": step,
            },
        }
        for share in shares
    ]
    started = time.perf_counter()
    sent = await pool.each(commands)
    ok = sum(s["ok"] for s in sent)
    expected = ok * recipients_per_message
    deadline = time.perf_counter() + settle_s
    while time.perf_counter() < deadline:
        received = sum(r["received"] for r in await pool.all("received", step=step))
        if received >= expected:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    collected = await pool.all("collect", step=step)
    latencies = [x for c in collected for x in c["latencies_ms"]]
    delivered = sum(c["received"] for c in collected)
    acks = [x for s in sent for x in s["ack_ms"]]
    return {
        "offered_rate": rate,
        "sent": sum(s["sent"] for s in sent),
        "acked": ok,
        "errors": sum(s["errors"] for s in sent),
        "delivered": delivered,
        "missing": max(0, expected - delivered),
        "duplicates": sum(c["duplicates"] for c in collected),
        "elapsed_s": round(elapsed, 2),
        **summary_ms(latencies),
        "ack_p50_ms": summary_ms(acks)["p50_ms"],
        "ack_p99_ms": summary_ms(acks)["p99_ms"],
    }


async def _pairs(target: Target, pool: ClientPool, count: int) -> list[tuple[str, int, str]]:
    receivers = await create_accounts(target.url, count, client_type="app", label="recv")
    senders = await create_accounts(target.url, count, client_type="web", label="send")
    await pool.each(
        [{"cmd": "connect", "args": {"accounts": part}} for part in split(receivers, pool.size)]
    )
    return [(s.token, r.user_id, "single") for s, r in zip(senders, receivers, strict=True)]


async def latency(target: Target, pool: ClientPool, sizes: Sizes) -> dict[str, Any]:
    """50 single-chat pairs at a fixed total rate: send→receive latency percentiles."""
    pairs = await _pairs(target, pool, sizes.pairs)
    progress(f"latency: {sizes.pairs} pairs connected; warming up")
    await _send_step(pool, pairs, rate=len(pairs), duration=1, step=0, recipients_per_message=1)
    meter = Meter(target, pool)
    await meter.start()
    progress(f"latency: {sizes.latency_rate:g} msg/s for {sizes.latency_s:g} s")
    result = await _send_step(
        pool,
        pairs,
        rate=sizes.latency_rate,
        duration=sizes.latency_s,
        step=1,
        recipients_per_message=1,
    )
    return {**result, **await meter.stop()}


async def throughput(target: Target, pool: ClientPool, sizes: Sizes) -> dict[str, Any]:
    """Ramp the offered rate until delivery falls behind or p99 reaches 100 ms."""
    pairs = await _pairs(target, pool, sizes.pairs)
    await _send_step(pool, pairs, rate=len(pairs), duration=1, step=0, recipients_per_message=1)
    best: dict[str, Any] | None = None
    steps = []
    for index, rate in enumerate(sizes.ramp_rates, start=1):
        meter = Meter(target, pool)
        await meter.start()
        result = await _send_step(
            pool,
            pairs,
            rate=rate,
            duration=sizes.ramp_step_s,
            step=index,
            recipients_per_message=1,
        )
        result.update(await meter.stop())
        passed = (
            result["errors"] == 0
            and result["missing"] == 0
            and result["acked"] == result["sent"]
            and result["p99_ms"] < 100
        )
        result["passed"] = passed
        steps.append(result)
        progress(
            f"throughput: {rate:g} msg/s -> p99 {result['p99_ms']} ms, missing"
            f" {result['missing']}, server cpu {result['server_cpu_pct']}%"
            f" {'ok' if passed else 'FAIL'}"
        )
        if not passed:
            break
        best = result
    return {
        "best_rate": best["offered_rate"] if best else 0,
        "best_p99_ms": best["p99_ms"] if best else None,
        "best_server_cpu_pct": best["server_cpu_pct"] if best else None,
        "best_client_cpu_pct": best["client_cpu_pct"] if best else None,
        "best_client_cpu_max_pct": best["client_cpu_max_pct"] if best else None,
        # A ramp that stopped because a client process was saturated measured the client.
        "client_bound": any(step["client_bound"] for step in steps),
        "steps": steps,
    }


async def group_fanout(target: Target, pool: ClientPool, sizes: Sizes) -> dict[str, Any]:
    """One sender into a group whose members are all online: deliveries per second and p99."""
    members = await create_accounts(
        target.url, sizes.group_members, client_type="app", label="member"
    )
    (owner,) = await create_accounts(target.url, 1, client_type="web", label="owner")
    group_id = await create_group(target.url, owner, [m.user_id for m in members])
    await pool.each(
        [{"cmd": "connect", "args": {"accounts": p}} for p in split(members, pool.size)]
    )
    sender = [(owner.token, group_id, "group")]
    # The one sender lives in the first process only; the others just receive.
    await _group_step(pool, sender, rate=5, duration=1, step=0, members=len(members))
    meter = Meter(target, pool)
    await meter.start()
    progress(
        f"group fan-out: {len(members)} members, {sizes.group_rate:g} msg/s for {sizes.group_s:g} s"
    )
    result = await _group_step(
        pool, sender, rate=sizes.group_rate, duration=sizes.group_s, step=1, members=len(members)
    )
    result.update(await meter.stop())
    result["members"] = len(members)
    result["deliveries_per_s"] = round(result["delivered"] / max(result["elapsed_s"], 1e-9))
    return result


async def _group_step(
    pool: ClientPool,
    sender: list[tuple[str, int, str]],
    *,
    rate: float,
    duration: float,
    step: int,
    members: int,
) -> dict[str, Any]:
    commands: list[dict[str, Any]] = [
        {
            "cmd": "send",
            "args": {"senders": sender, "rate": rate, "duration": duration, "step": step},
        }
    ]
    commands += [{"cmd": "cpu"}] * (pool.size - 1)
    started = time.perf_counter()
    answers = await pool.each(commands)
    sent = answers[0]
    expected = sent["ok"] * members
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if sum(r["received"] for r in await pool.all("received", step=step)) >= expected:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    collected = await pool.all("collect", step=step)
    latencies = [x for c in collected for x in c["latencies_ms"]]
    delivered = sum(c["received"] for c in collected)
    return {
        "sent": sent["sent"],
        "acked": sent["ok"],
        "errors": sent["errors"],
        "delivered": delivered,
        "missing": max(0, expected - delivered),
        "duplicates": sum(c["duplicates"] for c in collected),
        "elapsed_s": round(elapsed, 2),
        **summary_ms(latencies),
    }


async def connections(target: Target, pool: ClientPool, sizes: Sizes) -> dict[str, Any]:
    """Hold N idle authenticated sockets: RSS growth per connection and time to connect."""
    users = max(1, sizes.connections // sizes.devices_per_user)
    accounts = await create_accounts(
        target.url, users, client_type="app", devices_per_user=sizes.devices_per_user, label="idle"
    )
    accounts = accounts[: sizes.connections]
    await asyncio.sleep(1)
    rss_before = target.rss_kib()
    progress(f"connections: opening {len(accounts)} sockets")
    meter = Meter(target, pool)
    await meter.start()
    started = time.perf_counter()
    answers = await pool.each(
        [{"cmd": "connect", "args": {"accounts": p}} for p in split(accounts, pool.size)]
    )
    connect_s = time.perf_counter() - started
    cpu = await meter.stop()
    await asyncio.sleep(2)
    rss_after = target.rss_kib()
    held = sum(a["connected"] for a in answers)
    return {
        "connections": held,
        "connect_s": round(connect_s, 2),
        "connects_per_s": round(held / connect_s),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_after_mib": round(rss_after / 1024, 1),
        "kib_per_connection": round((rss_after - rss_before) / max(held, 1), 1),
        **cpu,
    }


async def reconnect_storm(target: Target, pool: ClientPool, sizes: Sizes) -> dict[str, Any]:
    """Offline app clients get messages, then all reconnect and sync at once."""
    clients = await create_accounts(
        target.url, sizes.storm_clients, client_type="app", label="storm"
    )
    (owner,) = await create_accounts(target.url, 1, client_type="web", label="owner")
    group_id = await create_group(target.url, owner, [c.user_id for c in clients])
    parts = split(clients, pool.size)
    await pool.each([{"cmd": "connect", "args": {"accounts": p}} for p in parts])
    await pool.all("disconnect")
    progress(
        f"storm: {len(clients)} clients offline; sending {sizes.storm_messages} group messages"
    )
    fanout_started = time.perf_counter()
    await _send_sequential(target, owner, group_id, sizes.storm_messages)
    # Every timeline also holds the group's group_created system message.
    expected = sizes.storm_messages + 1
    await _wait_timeline(target, clients[-1], expected)
    fanout_s = time.perf_counter() - fanout_started
    progress("storm: every timeline filled; reconnecting everyone")
    meter = Meter(target, pool)
    await meter.start()
    started = time.perf_counter()
    answers = await pool.each(
        [{"cmd": "sync_all", "args": {"accounts": p, "expected": expected}} for p in parts]
    )
    storm_s = time.perf_counter() - started
    cpu = await meter.stop()
    failures = [f for a in answers for f in a["failures"]]
    return {
        "clients": len(clients),
        "messages_each": sizes.storm_messages,
        "fanout_s": round(fanout_s, 2),
        "storm_s": round(storm_s, 2),
        "complete": not failures,
        "failures": failures[:10],
        **cpu,
    }


async def _send_sequential(target: Target, owner: Account, group_id: int, count: int) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            body = {
                "to": group_id,
                "session_type": "group",
                "client_msg_id": f"storm-{i}",
                "msg_type": "text",
                "body": f'{{"t":{time.time_ns()},"s":99}}',
            }
            async with session.post(
                f"{target.url}/api/v1/messages",
                json=body,
                headers={"Authorization": f"Bearer {owner.token}"},
            ) as response:
                if response.status >= 300:
                    raise RuntimeError(f"send failed: {response.status} {await response.text()}")


async def _wait_timeline(
    target: Target, account: Account, count: int, timeout_s: float = 120
) -> None:
    deadline = time.perf_counter() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() < deadline:
            async with session.get(
                f"{target.url}/api/v1/sync",
                params={"after": 0, "limit": 1},
                headers={"Authorization": f"Bearer {account.token}"},
            ) as response:
                if (await response.json())["latest_seq"] >= count:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("fan-out did not fill the timelines in time")


SCENARIOS = {
    "latency": latency,
    "throughput": throughput,
    "fanout": group_fanout,
    "connections": connections,
    "storm": reconnect_storm,
}
