"""The one place errors become responses: `{"success": false, "error": {"code", "message", "details"?}}`."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from voxline.core import errors
from voxline.core.validation import from_pydantic

log = logging.getLogger("voxline.api")


def error_response(err: errors.ApiError) -> JSONResponse:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.details:
        body["details"] = err.details
    return JSONResponse({"success": False, "error": body}, status_code=err.status, headers=err.headers)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ApiError)
    return error_response(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(from_pydantic(exc.errors()))


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"\\\{[^/]*?\\\}")


def _allowed_methods(request: Request) -> str:
    """The methods the documented path serves (a literal path such as /agent/voices wins over /agent/{id}, as
    OpenAPI says); for undocumented paths, every method some route serves here."""
    path = request.scope["path"]
    documented = [
        (template.count("{"), operations)
        for template, operations in request.app.openapi().get("paths", {}).items()
        if re.fullmatch(_PARAM.sub("[^/]+", re.escape(template)), path)
    ]
    if documented:
        operations = min(documented, key=lambda found: found[0])[1]
        return ", ".join(m for m in _METHODS if m.lower() in operations)
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(errors.NotFound("No such endpoint."))
    if exc.status_code == 405:
        return error_response(errors.MethodNotAllowed(headers={"Allow": _allowed_methods(request)}))
    err = errors.ApiError(str(exc.detail))
    err.status, err.code = exc.status_code, "HTTP_ERROR"
    return error_response(err)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(errors.InternalError())


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
