"""Client processes: WebSocket receivers and HTTP senders, driven by commands over a pipe.

Each process runs its own uvloop with aiohttp and decodes frames with msgspec, so one process
keeps up with tens of thousands of frames per second; the coordinator spreads clients over
several processes and reports their CPU so a reader can tell whether the client was the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import msgspec
import uvloop

from gomicroim.bench.accounts import Account


class _Message(msgspec.Struct):
    conversation_id: str
    seq: int
    body: str
    msg_type: str = "text"


class _Frame(msgspec.Struct):
    type: str
    message: _Message | None = None
    user_seq: int | None = None


class _Stamp(msgspec.Struct):
    t: int
    s: int


_frame = msgspec.json.Decoder(_Frame).decode
_stamp = msgspec.json.Decoder(_Stamp).decode


@dataclass
class _Step:
    latencies_ms: list[float] = field(default_factory=list)
    received: int = 0
    duplicates: int = 0


class _Receiver:
    """One device's socket; records latency and duplicates of ``message`` frames per step."""

    def __init__(self, account: Account, steps: dict[int, _Step]):
        self.account = account
        self.steps = steps
        self.seen: set[tuple[str, int]] = set()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.task: asyncio.Task[None] | None = None
        self.latest_user_seq = 0

    async def connect(self, session: aiohttp.ClientSession, ws_url: str) -> None:
        self.ws = await session.ws_connect(
            f"{ws_url}?token={self.account.token}",
            autoping=False,
            heartbeat=None,
            max_msg_size=0,
            compress=0,
        )
        hello = await self.ws.receive()
        self.latest_user_seq = msgspec.json.decode(hello.data).get("latest_user_seq", 0)
        self.task = asyncio.create_task(self._run(self.ws))

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = _frame(msg.data)
            # System messages (the group's creation) carry no send stamp: not a measured push.
            if frame.message is None or frame.message.msg_type == "system":
                continue
            now = time.time_ns()
            key = (frame.message.conversation_id, frame.message.seq)
            stamp = _stamp(frame.message.body)
            step = self.steps.setdefault(stamp.s, _Step())
            if key in self.seen:
                step.duplicates += 1
                continue
            self.seen.add(key)
            step.received += 1
            step.latencies_ms.append((now - stamp.t) / 1e6)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


class _Worker:
    def __init__(self, url: str, index: int, session: aiohttp.ClientSession):
        self.session = session
        self.url = url
        self.ws_url = url.replace("http", "ws", 1) + "/ws"
        self.index = index
        self.steps: dict[int, _Step] = {}
        self.receivers: list[_Receiver] = []

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        name = command["cmd"]
        handler = getattr(self, f"cmd_{name}")
        result: dict[str, Any] = await handler(**command.get("args", {}))
        return result

    async def cmd_connect(self, accounts: list[Account]) -> dict[str, Any]:
        started = time.perf_counter()
        new = [_Receiver(a, self.steps) for a in accounts]
        sem = asyncio.Semaphore(200)

        async def one(receiver: _Receiver) -> None:
            async with sem:
                await receiver.connect(self.session, self.ws_url)

        await asyncio.gather(*(one(r) for r in new))
        self.receivers.extend(new)
        return {"connected": len(new), "seconds": time.perf_counter() - started}

    async def cmd_disconnect(self) -> dict[str, Any]:
        await asyncio.gather(*(r.close() for r in self.receivers))
        count = len(self.receivers)
        self.receivers = []
        return {"closed": count}

    async def cmd_send(
        self, senders: list[tuple[str, int, str]], rate: float, duration: float, step: int
    ) -> dict[str, Any]:
        """Open-loop: message i leaves at start + i/rate whatever the answers are doing."""
        session = self.session
        total = max(1, int(rate * duration))
        loop = asyncio.get_running_loop()
        ok = errors = 0
        ack_ms: list[float] = []
        inflight: set[asyncio.Task[None]] = set()
        url = f"{self.url}/api/v1/messages"

        async def post(i: int) -> None:
            nonlocal ok, errors
            token, to, session_type = senders[i % len(senders)]
            sent = time.time_ns()
            body = {
                "to": to,
                "session_type": session_type,
                "client_msg_id": f"w{self.index}s{step}i{i}",
                "msg_type": "text",
                "body": f'{{"t":{sent},"s":{step}}}',
            }
            try:
                async with session.post(
                    url, json=body, headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    await response.read()
                    if response.status < 300:
                        ok += 1
                        ack_ms.append((time.time_ns() - sent) / 1e6)
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1

        start = loop.time()
        for i in range(total):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(post(i))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.gather(*inflight)
        return {
            "sent": total,
            "ok": ok,
            "errors": errors,
            "ack_ms": ack_ms,
            "send_seconds": loop.time() - start,
        }

    async def cmd_collect(self, step: int) -> dict[str, Any]:
        data = self.steps.get(step, _Step())
        return {
            "received": data.received,
            "duplicates": data.duplicates,
            "latencies_ms": data.latencies_ms,
        }

    async def cmd_received(self, step: int) -> dict[str, Any]:
        return {"received": self.steps.get(step, _Step()).received}

    async def cmd_sync_all(self, accounts: list[Account], expected: int) -> dict[str, Any]:
        """Reconnect every device and pull its timeline; check it holds exactly ``expected``."""
        session = self.session
        started = time.perf_counter()
        failures: list[str] = []
        done_at: list[float] = []
        sem = asyncio.Semaphore(200)

        async def one(account: Account) -> None:
            async with sem:
                receiver = _Receiver(account, self.steps)
                await receiver.connect(session, self.ws_url)
                self.receivers.append(receiver)
                seqs: list[int] = []
                keys: set[tuple[str, int]] = set()
                after = 0
                while True:
                    async with session.get(
                        f"{self.url}/api/v1/sync",
                        params={"after": after, "limit": 200},
                        headers={"Authorization": f"Bearer {account.token}"},
                    ) as response:
                        page = msgspec.json.decode(await response.read())
                    for entry in page["entries"]:
                        seqs.append(entry["user_seq"])
                        message = entry["message"]
                        keys.add((message["conversation_id"], message["seq"]))
                    if not page["has_more"]:
                        break
                    after = seqs[-1]
                done_at.append(time.perf_counter() - started)
                if len(seqs) != expected or len(keys) != expected or seqs != sorted(set(seqs)):
                    failures.append(
                        f"user {account.user_id}: {len(seqs)} entries, {len(keys)} distinct,"
                        f" expected {expected}"
                    )
                if receiver.latest_user_seq < (seqs[-1] if seqs else 0):
                    failures.append(f"user {account.user_id}: hello.latest_user_seq too low")

        await asyncio.gather(*(one(a) for a in accounts))
        return {
            "clients": len(accounts),
            "seconds": time.perf_counter() - started,
            "slowest_s": max(done_at, default=0.0),
            "failures": failures,
        }

    async def cmd_http_get(self, path: str, concurrency: int, duration: float) -> dict[str, Any]:
        """Closed loop: ``concurrency`` keep-alive connections each GET ``path`` back to back."""
        session = self.session
        url = f"{self.url}{path}"
        loop = asyncio.get_running_loop()
        latencies_ms: list[float] = []
        errors = 0
        end = loop.time() + duration

        async def one() -> None:
            nonlocal errors
            while loop.time() < end:
                started = time.perf_counter_ns()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                            continue
                except aiohttp.ClientError:
                    errors += 1
                    continue
                latencies_ms.append((time.perf_counter_ns() - started) / 1e6)

        start = loop.time()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        return {
            "requests": len(latencies_ms),
            "errors": errors,
            "latencies_ms": latencies_ms,
            "seconds": loop.time() - start,
        }

    async def cmd_cpu(self) -> dict[str, Any]:
        # The process's user + system time, as psutil's cpu_times gives it, but to the
        # nanosecond instead of in 10 ms ticks: a smoke-sized scenario spends less than a tick.
        return {"cpu_s": time.process_time()}

    async def close(self) -> None:
        await self.cmd_disconnect()
        await self.session.close()


def _worker_main(pipe: Connection, url: str, index: int) -> None:
    async def run() -> None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        worker = _Worker(url, index, session)
        loop = asyncio.get_running_loop()
        try:
            while True:
                command = await loop.run_in_executor(None, pipe.recv)
                if command["cmd"] == "stop":
                    break
                try:
                    pipe.send({"ok": True, **await worker.handle(command)})
                except Exception as exc:
                    pipe.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            await worker.close()

    uvloop.run(run())


class ClientPool:
    """``processes`` client processes; commands go to all and answers come back as a list."""

    def __init__(self, url: str, processes: int):
        context = mp.get_context("spawn")
        self._pipes: list[Connection] = []
        self._procs = []
        for index in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child, url, index), daemon=True)
            proc.start()
            self._pipes.append(parent)
            self._procs.append(proc)

    @property
    def size(self) -> int:
        """How many client processes there are."""
        return len(self._pipes)

    async def each(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send commands[i] to process i (all at once); wait for every answer."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        loop = asyncio.get_running_loop()
        answers = await asyncio.gather(
            *(loop.run_in_executor(None, pipe.recv) for pipe in self._pipes)
        )
        for answer in answers:
            if not answer.get("ok"):
                raise RuntimeError(f"client process failed: {answer.get('error')}")
        return list(answers)

    async def all(self, cmd: str, **args: Any) -> list[dict[str, Any]]:
        """The same command to every process."""
        return await self.each([{"cmd": cmd, "args": args}] * self.size)

    def close(self) -> None:
        """Stop the processes."""
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send({"cmd": "stop"})
        for proc in self._procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """Deal ``items`` round-robin into ``parts`` lists."""
    return [items[i::parts] for i in range(parts)]
