"""The dashboard in a real browser: Playwright driving Debian's chromium (`/usr/bin/chromium`, installed by
.ci/run; Playwright's own browser downloads are never used) against a real Voxline server on loopback.

The server is the one the telephony tests use (dialer, carrier emulators), holding calls with the real voice
runtime on stand-in speech engines, so a sandbox call placed from the dashboard rings, talks, ends and leaves
a transcript and a recording. It runs on one SQLite database: what these tests check is the browser side;
the SQL under each page is covered on both databases by tests/integration/dashboard.

A failing test leaves a screenshot of its page in test-artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from tests.conftest import empty_database
from tests.integration.telephony.conftest import LiveServer, free_port, serve, server_settings
from voxline.app import create_app
from voxline.calls.conversation import voice_runtime
from voxline.context import Context
from voxline.devtools.standins import StandInEngines

CHROMIUM = os.environ.get("VOXLINE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests share one server and one chromium (module fixtures): they run in one test process."""
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ARG001
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest_asyncio.fixture(scope="module")
async def dashboard_server(tmp_path_factory) -> AsyncIterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    async with empty_database("sqlite", data_dir, "browser") as db:
        port = free_port()
        ctx = Context.build(server_settings(db, port))
        app = create_app(ctx=ctx)
        # The real conversation runtime with stand-in speech engines: the callee's lines are "heard" as text.
        app.state.call_runtime_factory = lambda c: voice_runtime(c, StandInEngines(["Yes, that works."]))
        server, task = await serve(app, port)
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v2", timeout=30) as api:
            yield LiveServer(f"http://127.0.0.1:{port}", ctx, app, api)
        server.should_exit = True
        await task
        await app.state.sandbox.aclose()
        await ctx.close()


@pytest_asyncio.fixture(scope="module")
async def chromium():  # noqa: ANN201
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is not installed: the browser tests need Debian's chromium (.ci/run installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
        )
        yield browser
        await browser.close()


@pytest_asyncio.fixture
async def open_page(chromium, request):  # noqa: ANN201
    """New browser contexts (each its own cookie jar: one signed-in user each); screenshots on failure."""
    contexts = []

    async def make():  # noqa: ANN202
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                await page.screenshot(path=str(ARTIFACTS / f"{name}-{i}-{j}.png"), full_page=True)
    for context in contexts:
        await context.close()


class HookReceiver:
    """A webhook receiver on loopback that answers 200 and keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")


@pytest_asyncio.fixture
async def hook_receiver() -> AsyncIterator[HookReceiver]:
    receiver = HookReceiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    yield receiver
    await runner.cleanup()
