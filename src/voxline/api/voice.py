"""Recordings and extraction: renew a recording link, download by signed link, replay extraction."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict

from voxline.api.deps import CallsCaller, CtxDep, GeneralCaller
from voxline.api.responses import errors as documented
from voxline.api.responses import ok, raises
from voxline.api.schemas import Envelope, Strict
from voxline.calls import extract, query
from voxline.core import errors
from voxline.core.ids import is_uuid
from voxline.core.timefmt import iso
from voxline.voice import recording

calls_router = APIRouter(prefix="/calls", tags=["calls"], responses=documented(403))
recordings_router = APIRouter(prefix="/recordings", tags=["recordings"], responses=documented(403))


class RecordingLink(BaseModel):
    call_id: str
    session_id: str
    recording_url: str
    expires_at: str


class ExtractBody(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"dry_run": True}]})
    dry_run: bool = False
    """Return the result without saving it on the session."""


class ExtractOut(BaseModel):
    call_id: str
    session_id: str
    dry_run: bool
    extraction: dict[str, Any]


@calls_router.get(
    "/{call_id}/recording-url",
    summary="A fresh signed link to the call's recording",
    responses=raises(errors.RecordingNotFound, statuses=(403,)),
)
async def recording_url(call_id: str, ctx: CtxDep, caller: GeneralCaller) -> Envelope[RecordingLink]:
    """A new signed link to the call's recording, valid for 7 days (links in older responses expire). 404
    `RECORDING_NOT_FOUND` when the agent did not record or the file is gone.
    """
    call, session = await query.get_call(ctx, caller, call_id)
    if not session.recording_path or not await asyncio.to_thread(Path(session.recording_path).exists):
        raise errors.RecordingNotFound()
    url, exp = recording.register(ctx.settings).link(session.id)
    return ok(RecordingLink(call_id=call.id, session_id=session.id, recording_url=url, expires_at=iso(_utc(exp))))


@calls_router.post(
    "/{call_id}/extract",
    summary="Run post-call extraction again with the agent's current config",
    responses=raises(errors.ExtractionNotConfigured, statuses=(403,)),
)
async def replay_extraction(
    call_id: str, ctx: CtxDep, caller: CallsCaller, body: ExtractBody | None = None
) -> Envelope[ExtractOut]:
    """Runs post-call extraction again on the stored transcript with the agent's current `extraction_config`. With
    `dry_run: true` the result is returned but not saved.
    """
    done = await extract.replay(ctx, caller, call_id, (body or ExtractBody()).dry_run)
    return ok(
        ExtractOut(call_id=done.call_id, session_id=done.session_id, dry_run=done.dry_run, extraction=done.extraction)
    )


@recordings_router.get(
    "/{name}",
    summary="Download a recording by signed link (no API key needed)",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/wav": {}}},
        **raises(errors.InvalidRecordingLink, errors.RecordingNotFound, statuses=(403,)),
    },
)
async def download(
    name: str, ctx: CtxDep, exp: Annotated[int, Query()] = 0, sig: Annotated[str, Query(max_length=128)] = ""
) -> FileResponse:
    """Downloads a recording as WAV. The link from `recording_url` carries its own signature (`exp`, `sig`); no API key
    is needed.
    """
    session_id = name.removesuffix(".wav")
    signer = recording.signer(ctx.settings)
    if not name.endswith(".wav") or not is_uuid(session_id) or not signer.verify(session_id, exp, sig, time.time()):
        raise errors.InvalidRecordingLink()
    path = recording.recordings_dir(ctx.settings) / f"{session_id}.wav"
    if not await asyncio.to_thread(path.exists):
        raise errors.RecordingNotFound()
    return FileResponse(path, media_type="audio/wav", filename=f"{session_id}.wav")


def _utc(ts: int):  # noqa: ANN202
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
