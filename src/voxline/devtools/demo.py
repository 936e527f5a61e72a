"""`voxline demo`: one whole call on this machine, with no network and no accounts.

A temporary data dir with SQLite, the server (API, dialer, carrier emulators, webhook worker), a
partner with an rg_test_ key, an agent whose prompt and greeting use {{callee_name}}, a local webhook
receiver, and a sandbox call: the dialer places it on the carrier emulator, whose callee speaks a few
Piper-voiced lines; the offline engines (Whisper, Piper) and the scripted brain (or a real model with
--llm-base-url) hold the conversation. The live transcript prints as it happens, then the call record
and the signed webhook the receiver got.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

DEMO_LINES = (
    "Hi, this is Sam, and I would like to book an appointment for tomorrow.",
    "That sounds good. Thank you, goodbye.",
)
CALLEE_NUMBER = "+14155550100"
INDIA_CALLEE_NUMBER = "+919876500100"  # the Indian carriers' emulators take Indian numbers (MCube: ten digits)
CREDENTIALS: dict[str, dict[str, str]] = {
    "twilio": {
        "account_sid": "AC" + "0123456789abcdef" * 2,
        "auth_token": "fedcba9876543210" * 2,
        "from_number": "+14155551234",
    },
    "plivo": {"auth_id": "MADEMOPLIVOACCOUNT01", "auth_token": "p" * 40, "from_number": "+912231234567"},
    "vobiz": {"auth_id": "MA_TEST1234", "auth_token": "vobiz-token-1234", "from_number": "+912231234568"},
    "exotel": {
        "account_sid": "voxlinedemo1",
        "api_key": "demo-key-123",
        "api_token": "demo-token-456",
        "subdomain": "api.in.exotel.com",
        "caller_id": "+918047112233",
        "applet_id": "424242",
    },
    # MCube's only credential is a bearer token (a JWT); its shape is checked, the sandbox presents its own.
    "mcube": {
        "jwt_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ2b3hsaW5lLWRlbW8ifQ.c2lnbmF0dXJl",
        "exe_number": "08047112244",
    },
    # The sandbox's own SIP trunk takes the call over SIP/RTP on loopback, whatever host is stored here.
    "sip": {"sip_host": "trunk.example.net", "did_number": "+14155551234"},
}
AGENT = {
    "agent_name": "demo-clinic",
    "prompt": "You are the friendly receptionist of a small clinic, calling {{callee_name}} about an appointment.",
    "intro_message": "Hello {{callee_name}}! This is the clinic calling about your appointment.",
    "variables": ["callee_name"],
    "enable_recording": True,
    "extraction_config": {
        "prompt": "What did the callee want?",
        "keys": [{"name": "wants_appointment", "type": "boolean", "description": "asked to book an appointment"}],
    },
}


@dataclass
class DemoResult:
    call: dict[str, Any]
    webhook: dict[str, Any] | None
    heard_lines: list[str] = field(default_factory=list)
    callee_heard: bytes = b""  # PCM16 8 kHz: what reached the callee's phone
    wire_errors: list[str] = field(default_factory=list)  # anything we sent that the carrier would reject
    ok: bool = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve_local(app: Any, port: int, lifespan: str = "on") -> tuple[Any, asyncio.Task]:
    import uvicorn

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", lifespan=lifespan, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:  # uvicorn exposes only a flag
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("the demo server did not start")
        await asyncio.sleep(0.02)
    return server, task


def webhook_receiver(received: asyncio.Queue) -> FastAPI:
    hooks = FastAPI()

    @hooks.post("/hook")
    async def hook(request: Request) -> Response:
        await received.put((dict(request.headers), await request.body()))
        return Response(status_code=204)

    return hooks


async def run_demo(
    provider: str = "twilio",
    *,
    llm_base_url: str | None = None,
    llm_api_key: str | None = None,
    llm_model: str | None = None,
    say: Callable[[str], None] = print,
    keep_recording: Path | None = None,
    engines: Any = None,
    lines: tuple[str, ...] = DEMO_LINES,
    data_dir: Path | None = None,
) -> DemoResult:
    from voxline.accounts import partners
    from voxline.app import create_app
    from voxline.calls.conversation import voice_runtime
    from voxline.context import Context
    from voxline.core import keys
    from voxline.devtools import callee_voice
    from voxline.sandbox.emulator import Script
    from voxline.settings import Settings
    from voxline.store.migrate import upgrade
    from voxline.voice.catalog import voices
    from voxline.voice.transcript import Turn
    from voxline.webhooks.verification import verify

    if provider not in CREDENTIALS:
        raise ValueError(f"no emulator for {provider!r}; the demo can use: {', '.join(CREDENTIALS)}")
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="voxline-demo-"))
    port, hook_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{port}"
    extra: dict[str, Any] = {}
    if llm_base_url:
        extra.update(llm_base_url=llm_base_url, llm_api_key=llm_api_key)
        if llm_model:
            extra["llm_model"] = llm_model
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'voxline.db'}",
        public_base_url=base,
        webhook_allow_http=True,
        webhook_allow_private_targets=True,
        dialer_poll_secs=0.05,
        silence_timeout_secs=15,
        tts_engines="piper",
        **extra,
    )
    say(f"[dim]data dir {data_dir} · server {base} · webhook receiver http://127.0.0.1:{hook_port}/hook[/dim]")
    await asyncio.to_thread(upgrade, settings.resolved_database_url, None)
    ctx = Context.build(settings)
    app = create_app(ctx=ctx)

    def show(turn: Turn) -> None:
        if turn.role == "bot":
            lat = f" [dim]({turn.latency_ms} ms)[/dim]" if turn.latency_ms is not None else ""
            say(f"  [bold cyan]bot[/bold cyan]     {turn.content}{lat}")
        else:
            say(f"  [bold green]callee[/bold green]  {turn.content}  [dim](as Whisper heard it)[/dim]")

    app.state.call_runtime_factory = lambda c: voice_runtime(c, engines, listeners=[show])
    say("[dim]synthesizing the callee's lines with Piper…[/dim]")
    pcm_lines = tuple(callee_voice.line(text).pcm8k.tobytes() for text in lines)
    callee_number = CALLEE_NUMBER if provider in ("twilio", "sip") else INDIA_CALLEE_NUMBER
    emulator = app.state.sandbox[provider]
    emulator.scripts[callee_number] = Script("human", talk_secs=None, lines=pcm_lines)

    received: asyncio.Queue = asyncio.Queue()
    hook_server, hook_task = await serve_local(webhook_receiver(received), hook_port, lifespan="off")
    server, task = await serve_local(app, port)
    result = DemoResult(call={}, webhook=None, heard_lines=list(lines))
    try:
        issued = await partners.create_partner(ctx, "demo", partners.Limits(concurrency=5))
        issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        headers = {"Authorization": f"Bearer {issued.api_key}"}
        async with httpx.AsyncClient(base_url=f"{base}/api/v2", headers=headers, timeout=60) as api:
            r = await api.post("/agent", json={**AGENT, "voice_id": voices("piper")[0].id})
            r.raise_for_status()
            agent = r.json()["data"]
            (await api.put(f"/config/telephony/{provider}", json=CREDENTIALS[provider])).raise_for_status()
            r = await api.post("/config/webhooks", json={"label": "demo", "url": f"http://127.0.0.1:{hook_port}/hook"})
            r.raise_for_status()
            secret = r.json()["data"]["secret"]
            say(f"partner [bold]demo[/bold] with a sandbox key {issued.prefix}…; agent {agent['id']}")
            r = await api.post(
                "/calls/start",
                json={
                    "agent_id": agent["id"],
                    "to_number": callee_number,
                    "provider": provider,
                    "variables": {"callee_name": "Sam"},
                },
            )
            r.raise_for_status()
            call_id = r.json()["data"]["call_id"]
            say(f"call {call_id} via the {provider} emulator → {callee_number}\n")
            headers_body = await asyncio.wait_for(received.get(), 180)
            event = verify(secret, headers_body[0], headers_body[1])
            result.webhook = event
            say(
                f"\n[green]webhook received[/green] at the local receiver, signature verified "
                f"(X-Webhook-Signature with the endpoint's secret): {event['event']}"
            )
            say(shortened(event))
            result.call = (await api.get(f"/calls/{call_id}")).json()["data"]
            if keep_recording is not None:
                wav = data_dir / "recordings" / f"{event['data']['session_id']}.wav"
                if wav.exists():
                    shutil.copyfile(wav, keep_recording)
                    say(f"recording kept: [bold]{keep_recording}[/bold]")
            for emu_call in emulator.calls.values():
                if emu_call.to.lstrip("+")[-10:] == callee_number[-10:]:
                    result.callee_heard = bytes(emu_call.heard)
                    result.wire_errors = list(emu_call.wire_errors)
        result.ok = result.call.get("status") == "completed" and result.webhook is not None
        return result
    finally:
        server.should_exit = True
        hook_server.should_exit = True
        for t in (task, hook_task):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 10)
        with contextlib.suppress(Exception):
            await app.state.sandbox.aclose()
        await ctx.close()


def shortened(event: dict[str, Any]) -> str:
    """The verified webhook body as the receiver got it, with long values cut so it fits a screen."""
    import json

    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > 72:
            return value[:69] + "..."
        if isinstance(value, list) and len(value) > 4:
            return [cut(v) for v in value[:4]] + [f"... {len(value) - 4} more"]
        if isinstance(value, list):
            return [cut(v) for v in value]
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        return value

    return json.dumps(cut(event), indent=2)


def quiet_logs() -> None:
    """Pipecat logs every frame at DEBUG; the demo shows the conversation instead."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")


def main(provider: str, llm_base_url: str | None, llm_api_key: str | None, llm_model: str | None, keep: bool) -> int:
    import json

    from rich.console import Console
    from rich.syntax import Syntax

    from voxline.voice.local_models import local_engines_available

    quiet_logs()
    console = Console()
    if not local_engines_available():
        console.print("[red]The offline engines are missing.[/red] Install them: pip install 'voxline[local]'")
        return 2
    if provider not in CREDENTIALS:
        console.print(f"[red]No emulator for {provider!r}.[/red] The demo can use: {', '.join(CREDENTIALS)}")
        return 2
    data_dir = Path(tempfile.mkdtemp(prefix="voxline-demo-"))
    recording = Path.cwd() / f"voxline-demo-{provider}.wav" if keep else None
    try:
        result = asyncio.run(
            run_demo(
                provider,
                llm_base_url=llm_base_url,
                llm_api_key=llm_api_key,
                llm_model=llm_model,
                say=console.print,
                data_dir=data_dir,
                keep_recording=recording,
            )
        )
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    console.print("\n[bold]The call record[/bold] (GET /api/v2/calls/{id}):")
    console.print(Syntax(json.dumps(result.call, indent=2), "json", word_wrap=True))
    if keep:
        console.print(f"[dim]kept {data_dir}[/dim]")
    return 0 if result.ok else 1
