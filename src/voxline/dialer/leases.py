"""Which calls this process is responsible for (dialing them, or holding their media), kept alive in the
database by a heartbeat. When a process dies its leases lapse and another process reconciles its calls."""

from __future__ import annotations

import os
import socket
import uuid

WORKER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    def __init__(self) -> None:
        self._owned: set[str] = set()

    def hold(self, call_id: str) -> None:
        self._owned.add(call_id)

    def release(self, call_id: str) -> None:
        self._owned.discard(call_id)

    def owned(self) -> list[str]:
        return list(self._owned)

    def __contains__(self, call_id: str) -> bool:
        return call_id in self._owned


OWNED = Leases()
