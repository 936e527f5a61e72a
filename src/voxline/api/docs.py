"""/docs: Swagger UI from the fastapi-offline package's own copy, so the page works with no internet access
(FastAPI's default page loads its script and styles from a CDN). Its Swagger UI (5.x) reads OpenAPI 3.1."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

ASSETS = "/docs/assets"


def app_with_offline_docs(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs page names only files this server serves under ASSETS."""
    # validatorUrl None: Swagger UI would otherwise send the document to validator.swagger.io.
    params = {"validatorUrl": None}
    return FastAPIOffline(docs_url="/docs", redoc_url=None, static_url=ASSETS, swagger_ui_parameters=params, **kwargs)
