"""Shared unit fixtures."""

from __future__ import annotations

import json
from typing import Any

import pytest


class ScriptedSocket:
    """Just enough of a websocket for a carrier's handshake and serializer: hands out the carrier's messages
    in order and keeps what we send (parsed when it is JSON)."""

    def __init__(self, messages: list[dict[str, Any]] | None = None) -> None:
        self.messages = [json.dumps(m) for m in messages or []]
        self.sent: list[Any] = []

    async def receive_text(self) -> str:
        return self.messages.pop(0)

    async def send_text(self, text: str) -> None:
        try:
            self.sent.append(json.loads(text))
        except ValueError:
            self.sent.append(text)


@pytest.fixture
def carrier_socket() -> type[ScriptedSocket]:
    """Build a ScriptedSocket: `carrier_socket([start_message, ...])`."""
    return ScriptedSocket
