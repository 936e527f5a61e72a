"""Mounting the dashboard on the app: its pages at the root, the operator view under /operator, and its
stylesheet and script under /static (served from the package: works offline)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from voxline.web import operator, pages, render


def install(app: FastAPI) -> None:
    app.include_router(operator.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(render.STATIC_DIR)), name="static")
