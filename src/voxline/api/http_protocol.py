"""The HTTP/1.1 protocol `voxline serve` runs: uvicorn's httptools protocol, sending each response in one write.

uvicorn writes a response's status line and headers, then its body, as two writes to the socket: two system
calls and two TCP segments for every small JSON answer, each one waking the client. Measured on POST
/calls/start (one process, 2-core VM): the write() system calls were a third of the server's CPU, the two
response writes about 11% of it. Here the headers are held back and sent with the body that follows them in
the same step; if no body follows in that step (a streamed response still being produced), they go out
at the end of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_LINE = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"


class _JoinedWrites:
    """A transport that sends a response head together with the next write (everything else is the real
    transport's)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
            self._transport.write(data)
        elif data.startswith(_STATUS_LINE) and data.endswith(_HEAD_END):
            self._held = data
            self._loop.call_soon(self._release)
        else:
            self._transport.write(data)

    def _release(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def writelines(self, lines: Any) -> None:
        self.write(b"".join(lines))

    def close(self) -> None:
        self._release()
        self._transport.close()

    def write_eof(self) -> None:
        self._release()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
