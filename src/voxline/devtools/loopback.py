"""A Voxline server on loopback whose Twilio-protocol media route goes straight to a VoiceRuntime.

It skips the dialer and the carrier's REST side: a peer connects to `/loopback-media/twilio` and names
its session in the `start` message's customParameters. The route builds the MediaChannel exactly as a
carrier edge does (Pipecat's TwilioFrameSerializer, hang-up REST off) and runs the runtime registered for
that session. Used by the voice tests and the benchmarks to drive many conversations cheaply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import WebSocket
from pipecat.serializers.twilio import TwilioFrameSerializer

from voxline.accounts import partners
from voxline.app import create_app, settle_heap
from voxline.context import Context
from voxline.core.media import MediaChannel
from voxline.settings import Settings
from voxline.store.migrate import upgrade
from voxline.voice.catalog import voices
from voxline.voice.runtime import VoiceRuntime

TWILIO_CREDS = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "0123456789abcdef" * 2,
    "from_number": "+14155551234",
}
MEDIA_PATH = "/loopback-media/twilio"


@dataclass
class PlacedCall:
    call_id: str
    session_id: str
    agent: dict[str, Any]
    headers: dict[str, str]


@dataclass
class LoopbackServer:
    ctx: Context
    base_url: str
    ws_url: str
    http: httpx.AsyncClient
    runtimes: dict[str, VoiceRuntime] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    answered_by: dict[str, str | None] = field(default_factory=dict)
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    _server: Any = None
    _task: asyncio.Task | None = None

    async def wait_finished(self, session_id: str, timeout: float = 30) -> None:  # noqa: ASYNC109
        """Until the runtime has returned for this session (finalization included)."""
        await asyncio.wait_for(self.finished.setdefault(session_id, asyncio.Event()).wait(), timeout)

    async def place_call(self, *, variables: dict[str, Any] | None = None, **agent_fields: Any) -> PlacedCall:
        """A partner, an agent and a started call (call + session rows), ready for its media stream."""
        issued = await partners.create_partner(
            self.ctx, f"v-{uuid.uuid4().hex[:10]}", partners.Limits(concurrency=1000)
        )
        headers = {"Authorization": f"Bearer {issued.api_key}"}
        body = {
            "agent_name": f"agent-{uuid.uuid4().hex[:8]}",
            "prompt": "You are calling {{callee_name}} to confirm an appointment.",
            "voice_id": voices("piper")[0].id,
            "intro_message": "Hello {{callee_name}}, this is the clinic calling.",
            "variables": ["callee_name"],
        }
        body.update(agent_fields)
        r = await self.http.post("/agent", json=body, headers=headers)
        assert r.status_code == 200, r.text
        agent = r.json()["data"]
        r = await self.http.put("/config/telephony/twilio", json=TWILIO_CREDS, headers=headers)
        assert r.status_code == 200, r.text
        r = await self.http.post(
            "/calls/start",
            headers=headers,
            json={
                "agent_id": agent["id"],
                "to_number": "+919876543210",
                "provider": "twilio",
                "variables": variables if variables is not None else {"callee_name": "Sajal"},
            },
        )
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        return PlacedCall(data["call_id"], data["session_id"], agent, headers)

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
        await self.http.aclose()
        await self.ctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start(data_dir: Path, **settings_overrides: Any) -> LoopbackServer:
    """Serve a fresh SQLite-backed Voxline (no dialer, no background services) with the loopback media route."""
    import uvicorn

    port = _free_port()
    values: dict[str, Any] = dict(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'voxline.db'}",
        public_base_url=f"http://127.0.0.1:{port}",
        rate_limit_per_min=1_000_000,
        calls_rate_limit_per_min=1_000_000,
        llm_base_url=None,
        # No dialer runs here, so no carrier is ever asked; a carrier on loopback is what lets the API start
        # live calls on a loopback public URL (see core/reachability.py).
        twilio_api_base=f"http://127.0.0.1:{port}/no-carrier",
        calling_hours="00:00-24:00",  # a loopback callee is a program: any hour will do
    )
    values.update(settings_overrides)
    settings = Settings(**values)
    await asyncio.to_thread(upgrade, settings.resolved_database_url, None)
    ctx = Context.build(settings)
    app = create_app(ctx=ctx)
    settle_heap()  # as `voxline serve` does at start-up (this server runs without the app's lifespan)
    state = LoopbackServer(
        ctx,
        f"http://127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}{MEDIA_PATH}",
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=60),
    )

    @app.websocket(MEDIA_PATH)
    async def twilio_media(websocket: WebSocket) -> None:
        await websocket.accept()
        begin: dict[str, Any] = {}
        while not begin:
            msg = json.loads(await websocket.receive_text())
            if msg.get("event") == "start":
                begin = msg["start"]
        session_id = begin["customParameters"]["session_id"]
        serializer = TwilioFrameSerializer(
            stream_sid=begin["streamSid"],
            call_sid=begin["callSid"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        channel = MediaChannel(
            websocket=websocket,
            serializer=serializer,
            wire_sample_rate=8000,
            provider="twilio",
            call_id=begin["customParameters"].get("call_id", ""),
            session_id=session_id,
            answered_by=state.answered_by.get(session_id),
            control=state.controls.get(session_id),
        )
        # Counted against the process's room like a carrier's stream (dialer/media.py).
        state.ctx.admission.media_started(channel.call_id or session_id)
        try:
            await state.runtimes[session_id].run(channel)
        finally:
            state.ctx.admission.media_ended(channel.call_id or session_id)
            state.finished.setdefault(session_id, asyncio.Event()).set()

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        ws_max_size=1 << 22,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    state._server, state._task = server, task  # noqa: SLF001 - this module's own server, kept for close()
    while not server.started:  # uvicorn exposes only a flag
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return state
