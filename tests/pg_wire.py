"""Count PostgreSQL round trips: a TCP relay in front of the server that counts its ReadyForQuery messages.

The server sends one ReadyForQuery ('Z') at the end of every exchange the client waits for (a simple query,
an extended-protocol Sync: a prepare, an execution, BEGIN, COMMIT), so the count is the number of round
trips whatever the driver or the ORM does. Clients must connect without TLS (`?ssl=disable`): the relay reads
the plain protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator


class RoundTrips:
    def __init__(self, host: str = "127.0.0.1", port: int = 5432) -> None:
        self.upstream = (host, port)
        self.count = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, base: str) -> str:
        """`base` (a SQLAlchemy URL to the upstream server) pointed at this relay, without TLS."""
        host = f"{self.upstream[0]}:{self.upstream[1]}"
        assert host in base, base
        url = base.replace(host, f"127.0.0.1:{self.port}")
        return url + ("&" if "?" in url else "?") + "ssl=disable"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.upstream)
        tasks = [
            asyncio.ensure_future(self._pipe(client_r, server_w, count=False)),
            asyncio.ensure_future(self._pipe(server_r, client_w, count=True)),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
                self._tasks.discard(task)
            for w in (client_w, server_w):
                w.close()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter, *, count: bool) -> None:
        pending = b""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await r.read(65536):
                w.write(data)
                if count:  # server messages: a type byte, then a length that includes itself
                    pending += data
                    while len(pending) >= 5:
                        (length,) = struct.unpack_from("!I", pending, 1)
                        if len(pending) < 1 + length:
                            break
                        if pending[0:1] == b"Z":
                            self.count += 1
                        pending = pending[1 + length :]
                await w.drain()


@contextlib.asynccontextmanager
async def round_trips(host: str = "127.0.0.1", port: int = 5432) -> AsyncIterator[RoundTrips]:
    relay = RoundTrips(host, port)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()
