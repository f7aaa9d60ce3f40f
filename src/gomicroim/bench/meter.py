"""CPU of the server and of each load client process over a measured interval.

Client CPU is reported per process as well as summed: one client process is one event loop on
one core, so a single process near 100 % means the load client, not the server, set the pace.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gomicroim.bench.loadgen import ClientPool
    from gomicroim.bench.target import Target

#: A client process above this share of one core is taken to bound the result.
CLIENT_BOUND_PCT = 90.0


def cpu_fields(wall_s: float, server_s: float | None, client_s: list[float]) -> dict[str, Any]:
    """Server and client CPU as seconds and percent of one core; whether a client was saturated.

    ``server_s`` is None when there is no server process to measure (the fsync baseline, or
    ``--url`` without ``--pid``).
    """
    wall = max(wall_s, 1e-9)
    busiest = max(client_s, default=0.0)
    return {
        "wall_s": round(wall_s, 2),
        "server_cpu_s": None if server_s is None else round(server_s, 2),
        "server_cpu_pct": None if server_s is None else round(100 * server_s / wall, 1),
        "client_processes": len(client_s),
        "client_cpu_s": round(sum(client_s), 3),
        "client_cpu_pct": round(100 * sum(client_s) / wall, 1),
        "client_cpu_max_pct": round(100 * busiest / wall, 1),
        "client_bound": 100 * busiest / wall >= CLIENT_BOUND_PCT,
    }


class Meter:
    """Measures from ``start()`` to ``stop()``; ``stop()`` answers :func:`cpu_fields`."""

    def __init__(self, target: Target, pool: ClientPool):
        self.target, self.pool = target, pool

    async def start(self) -> None:
        """Take the first readings."""
        self._wall = time.perf_counter()
        self._server = self.target.cpu_seconds()
        self._clients = [a["cpu_s"] for a in await self.pool.all("cpu")]

    async def stop(self) -> dict[str, Any]:
        """CPU used since ``start()``."""
        wall = time.perf_counter() - self._wall
        server = self.target.cpu_seconds() - self._server
        now = [a["cpu_s"] for a in await self.pool.all("cpu")]
        clients = [after - before for before, after in zip(self._clients, now, strict=True)]
        return cpu_fields(wall, server if self.target.process is not None else None, clients)
