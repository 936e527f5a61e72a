"""/metrics: this server process's numbers in the Prometheus text format (see README, "What to alert on").

Open by default, as metrics endpoints usually are: it shows only aggregates (no phone numbers, ids or
partner data). With VOXLINE_METRICS_TOKEN set it requires `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voxline.api.deps import CtxDep
from voxline.core import errors
from voxline.dialer import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, ctx: CtxDep) -> Response:
    token = ctx.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise errors.Unauthorized("/metrics needs the metrics token (Authorization: Bearer ...).")
    await metrics.refresh(ctx)
    return Response(generate_latest(ctx.meters.registry), media_type=CONTENT_TYPE_LATEST)
