"""Signing in to the dashboard over plain HTTP (httpx against the app): each browser is its own client with
its own cookie jar, and forms are posted with the CSRF token read from the page, as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF field on {page.request.url}: {page.text[:300]}"
    return found.group(1)


@asynccontextmanager
async def browser(app) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def sign_in(c: httpx.AsyncClient, api_key: str) -> httpx.Response:
    page = await c.get("/signin")
    return await c.post("/signin", data={"csrf": csrf_of(page), "api_key": api_key, "next": "/calls"})


@asynccontextmanager
async def signed_in(app, api_key: str) -> AsyncIterator[httpx.AsyncClient]:  # noqa: ANN001
    async with browser(app) as c:
        r = await sign_in(c, api_key)
        assert r.status_code == 303 and r.headers["location"] == "/calls", r.text
        yield c


async def post_form(c: httpx.AsyncClient, page_path: str, action: str, data: dict) -> httpx.Response:
    """Open `page_path`, take its CSRF token, and submit `data` to `action` as that page's form would."""
    page = await c.get(page_path)
    assert page.status_code == 200, page.text
    return await c.post(action, data={"csrf": csrf_of(page), **data})
