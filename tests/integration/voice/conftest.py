"""A real Voxline server on loopback with a Twilio-protocol media route, for the voice runtime's tests.

The route (voxline.devtools.loopback) builds a MediaChannel with Pipecat's own TwilioFrameSerializer and
hands it to the VoiceRuntime the test registered for that session. The callee is
`voxline.devtools.twilio_peer.TwilioCallee`, a real websocket client speaking Media Streams. These tests
run on one SQLite database: what they check is the conversation, not the SQL dialect (finalization's
SQL is covered on both databases by the platform's own tests). The full carrier path (dialer, Twilio
emulator) is exercised by test_offline_engines.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from voxline.devtools import loopback
from voxline.devtools.loopback import LoopbackServer, PlacedCall

VoiceServer = LoopbackServer


class RecordingCarrierControl:
    """Stand-in for the carrier's REST side (hang up, transfer): records what the runtime asked for.

    The loopback route has no carrier behind it, so this says what was requested, nothing more; the
    carrier's own REST calls are tested with its emulator.
    """

    supports_transfer = True

    def __init__(self) -> None:
        self.hang_ups = 0
        self.transfers: list[str] = []

    async def hang_up(self) -> None:
        self.hang_ups += 1

    async def transfer(self, to_number: str) -> None:
        self.transfers.append(to_number)


@pytest_asyncio.fixture(scope="session")
async def voice_server(tmp_path_factory) -> AsyncIterator[LoopbackServer]:
    from voxline.devtools.demo import quiet_logs

    quiet_logs()
    server = await loopback.start(tmp_path_factory.mktemp("voice-data"), silence_timeout_secs=20)
    try:
        yield server
    finally:
        await server.close()


async def place_call(
    server: LoopbackServer, *, variables: dict[str, Any] | None = None, **agent_fields: Any
) -> PlacedCall:
    return await server.place_call(variables=variables, **agent_fields)


async def wait_finished(server: LoopbackServer, session_id: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    await server.wait_finished(session_id, timeout)
