"""create_app(): the FastAPI application, its routers and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI

from voxline import __version__, housekeeping
from voxline.api import docs as api_docs
from voxline.api import errors as api_errors
from voxline.api.agents import router as agents_router
from voxline.api.body_guard import BodyGuard
from voxline.api.calling_policy import router as calling_policy_router
from voxline.api.calls import router as calls_router
from voxline.api.campaigns import router as campaigns_router
from voxline.api.config import config_router, connections_router
from voxline.api.dnc import router as dnc_router
from voxline.api.metrics import router as metrics_router
from voxline.api.sessions import router as sessions_router
from voxline.api.talk import router as talk_router
from voxline.api.telephony import router as telephony_router
from voxline.api.voice import calls_router as voice_calls_router
from voxline.api.voice import recordings_router
from voxline.api.webhooks import router as webhooks_router
from voxline.calls import sandbox_callee
from voxline.calls.browser_session import BrowserPeers
from voxline.campaigns import scheduler as campaign_scheduler
from voxline.context import Context
from voxline.core.media import CallRuntime
from voxline.dialer import worker as dialer_worker
from voxline.sandbox import callee
from voxline.sandbox import mount as sandbox
from voxline.sandbox.credentials import seal_for_key
from voxline.sandbox.responder import Responder
from voxline.settings import Settings
from voxline.telephony import registry as carriers
from voxline.voice import engines, recording
from voxline.voice.catalog import voices
from voxline.web import routes as dashboard
from voxline.webhooks import worker as webhook_worker

API_PREFIX = "/api/v2"


log = logging.getLogger("voxline.app")


def api_routers() -> list[APIRouter]:
    """Routers served under /api/v2."""
    return [
        agents_router,
        calls_router,
        sessions_router,
        config_router,
        connections_router,
        webhooks_router,
        voice_calls_router,
        recordings_router,
        dnc_router,
        calling_policy_router,
        campaigns_router,
    ]


def background_services() -> list[Callable[[Context], Awaitable[None]]]:
    """Long-running loops started with the server and cancelled at shutdown (each must survive its own errors)."""
    return [
        housekeeping.run,
        webhook_worker.run,
        recording.keep_registered,
        dialer_worker.measure,
        dialer_worker.run,
        campaign_scheduler.run,
    ]


GC_THRESHOLDS = (20_000, 10, 10)  # see settle_heap


def settle_heap() -> None:
    """Put what start-up loaded (modules, models, routes: ~250k objects) out of the garbage collector's sight,
    and make its full collections rare.

    They live as long as the process, yet every full collection walked them all: 100-400 ms in which no call's
    audio moved and no request was answered, on a busy 2-core machine. Frozen, a full collection walks only
    what calls and requests hold: about 2,300 objects per live call, ~1 ms of a collection each (speech
    waiting to be played is one frame per talk-spurt: voice/pacing.py).
    With Python's default thresholds (700, 10, 10) a process holding 40 calls ran 8 full collections in 10 s,
    each 30-170 ms; with a young collection every 20,000 allocations instead of 700 it ran none in the same
    stretch (at 60 calls: 1 instead of 4), for young collections of a few ms to tens of ms. The outgoing
    audio's lead (voice/pacing.py) covers the pauses that remain up to about 50 calls per process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def call_runtime_factory(settings: Settings) -> Callable[[Context], CallRuntime] | None:
    """What holds a connected call: the AI conversation, unless settings ask for none, in which case sandbox
    calls get the sandbox's test tone and live calls end failed with the reason (never a tone to a person)."""
    if settings.call_runtime == "responder":
        return None
    from voxline.calls.conversation import voice_runtime

    return voice_runtime


async def warm_engines(ctx: Context) -> None:
    """Claim no call until the offline speech engines have loaded and spoken once (on a thread: the event loop
    keeps serving). An engine that cannot load is logged; calls then proceed and fail as they would have."""
    ctx.admission.ready = False
    try:
        await asyncio.to_thread(engines.warm_up, ctx.settings)
    except Exception:  # a missing model must not keep the dialer shut: the calls report the failure themselves
        log.exception("warming the speech engines failed")
    finally:
        ctx.admission.warmed()


def create_app(settings: Settings | None = None, ctx: Context | None = None) -> FastAPI:
    settings = settings or (ctx.settings if ctx else Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = ctx is None
        app.state.ctx = ctx or Context.build(settings)
        settle_heap()
        warm = factory is not None and settings.dialer_enabled and settings.warm_up_engines
        if warm:  # before the dialer's first claim, which could otherwise come before warm_engines first runs
            app.state.ctx.admission.ready = False
        tasks = [asyncio.create_task(run(app.state.ctx)) for run in background_services()]
        if warm:
            tasks.append(asyncio.create_task(warm_engines(app.state.ctx)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.browser_peers.close()  # browser sessions still file their sessions
            if own:
                await app.state.ctx.close()

    app = api_docs.app_with_offline_docs(
        title="Voxline API",
        version=__version__,
        description="Outbound AI voice calls. Wire-compatible with the Vocobase v2 API.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    if ctx is not None:
        app.state.ctx = ctx
    # Read by the media route for each stream (dialer/media.py): the dialer imports no runtime itself.
    factory = call_runtime_factory(settings)
    if factory is not None:
        app.state.call_runtime_factory = factory
    app.state.sandbox_runtime = lambda: Responder(heard=app.state.sandbox.heard)  # tests read what it heard
    app.state.browser_peers = BrowserPeers()  # the browser test sessions this process holds
    api_errors.install(app)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)
    # Carrier-facing routes (answer URLs, callbacks, media) live at the root, and the carrier emulators
    # that sandbox calls dial under /sandbox.
    app.include_router(telephony_router)
    app.include_router(metrics_router)
    app.include_router(talk_router)  # the browser test session's join page
    sandbox.install(
        app,
        settings.public_base_url,
        seal_for_key(settings.resolved_encryption_key),
        carriers.emulators(),
        custom_lines=lambda provider: sandbox_callee.lookup(lambda: app.state.ctx, provider),
        default_script=callee.TONE if settings.sandbox_callee == "tone" else None,
        account_setup=lambda provider: functools.partial(carriers.setup_settings, provider, settings.public_base_url),
    )

    # The web dashboard at the root (its paths never collide with /api/v2, /docs, /telephony or /sandbox).
    dashboard.install(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return {"success": True, "data": {"status": "ok", "version": __version__}}

    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.openapi = _openapi_without_422(app, [v.id for v in voices(settings.tts_engines)])
    return app


def _openapi_without_422(app: FastAPI, voice_ids: list[str]):  # noqa: ANN202
    """FastAPI documents a 422 it never sends here (validation answers 400 in our envelope): drop it.

    And voice_id lists this deployment's voices (its speech engines decide them; others get INVALID_VOICE).
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        _example_ids(schema)
        for model in ("AgentCreate", "AgentUpdate"):
            voice = components.get(model, {}).get("properties", {}).get("voice_id")
            if voice is not None:
                voice["enum"] = voice_ids
        app.openapi_schema = schema
        return schema

    return openapi


EXAMPLE_ID = "3f0b9a52-8d1e-4c7a-9a43-0f6c2d1e5b7a"


def _example_ids(schema: dict[str, Any]) -> None:
    """Every id in a path gets an example, so each operation in /docs shows a filled-in request."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path" and param["name"].endswith("_id"):
                    param.setdefault("example", EXAMPLE_ID)
