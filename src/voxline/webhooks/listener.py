"""`voxline webhooks listen`: a local receiver that verifies each webhook and prints it, for development.

It answers 200 to a genuine webhook (signature and timestamp checked with the endpoint's secret, exactly as
a receiver must) and 400 to anything else, prints each verified event as one JSON line, and can stop after
a number of events, so a script can wait for its call's `session.completed`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from aiohttp import web

from voxline.webhooks.verification import WebhookVerificationError, verify


async def listen(host: str, port: int, secret: str, count: int | None, out: TextIO = sys.stdout) -> int:
    """Serve until `count` verified events arrived (None: forever); returns how many were refused."""
    received = 0
    refused = 0
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        nonlocal received, refused
        body = await request.read()
        try:
            event = verify(secret, dict(request.headers), body)
        except WebhookVerificationError as exc:
            refused += 1
            print(f"refused a request to {request.path}: {exc}", file=sys.stderr, flush=True)
            return web.Response(status=400, text="signature check failed")
        received += 1
        out.write(json.dumps(event) + "\n")
        out.flush()
        if count is not None and received >= count:
            done.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"listening on http://{host}:{port}/ for signed webhooks", file=sys.stderr, flush=True)
    try:
        await done.wait()
        await asyncio.sleep(0.2)  # let the last 200 reach the sender before the socket closes
    finally:
        await runner.cleanup()
    return refused
