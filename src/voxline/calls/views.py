"""The JSON shapes of calls and sessions, shared by GET /calls, GET /sessions and the session.completed event."""

from __future__ import annotations

from typing import Any

from voxline.core.timefmt import iso
from voxline.store.models import Call, Session


def start_view(call: Call | dict[str, Any]) -> dict[str, Any]:
    """The seed's response to /calls/start, from a stored call or the row just inserted."""
    get = call.get if isinstance(call, dict) else lambda k: getattr(call, k)
    return {
        "call_id": get("id"),
        "session_id": get("session_id"),
        "status": get("status"),
        "provider": get("provider"),
        "from_number": get("from_number"),
        "to_number": get("to_number"),
        "agent_id": get("agent_id"),
    }


def call_view(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "agent_id": call.agent_id,
        "session_id": call.session_id,
        "connection_id": call.connection_id,
        "direction": call.direction,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "status": call.status,
        "provider": call.provider,
        "disposition": call.disposition,
        "answered_by": call.answered_by,
        "sandbox": call.sandbox,
        "duration_seconds": call.duration_seconds,
        "error_message": call.error_message,
        "started_at": iso(call.started_at),
        "ended_at": iso(call.ended_at),
        "created_at": iso(call.created_at),
    }


def recording_url(session: Session) -> str | None:
    """A fresh signed, expiring link to the session's recording (None without a recording)."""
    from voxline.voice.recording import link_for

    return link_for(session.recording_path)


def session_view(session: Session, call: Call | None = None) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "agent_id": session.agent_id,
        "agent_name": session.agent_name,
        "call_id": session.call_id,
        "status": session.status,
        "duration_seconds": session.duration_seconds,
        "credits_used": session.credits_used,
        "transcript": session.transcript,
        "latency": session.latency,
        "recording_url": recording_url(session),
        "variables": session.variables,
        "extraction": session.extraction,
        "processing_complete": session.processing_complete,
        "pipeline_completed_at": iso(session.pipeline_completed_at),
        "started_at": iso(session.started_at),
        "ended_at": iso(session.ended_at),
    }


def call_detail_view(call: Call, session: Session) -> dict[str, Any]:
    out = call_view(call)
    out["variables"] = session.variables
    out["session"] = session_view(session, call)
    return out


def _event_transcript(transcript: list[Any] | None) -> list[dict[str, Any]]:
    """Transcript turns as the webhook documents them: every turn carries `latency_ms` (null when unknown)."""
    return [{**turn, "latency_ms": turn.get("latency_ms")} for turn in transcript or [] if isinstance(turn, dict)]


def _event_latency(session: Session, transcript: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`latency {min_ms, max_ms, avg_ms}`: as recorded, else derived from the turns' latency_ms."""
    if session.latency is not None:
        return session.latency
    values = [t["latency_ms"] for t in transcript if isinstance(t.get("latency_ms"), int | float)]
    if not values:
        return None
    return {"min_ms": min(values), "max_ms": max(values), "avg_ms": round(sum(values) / len(values))}


def completed_event_data(session: Session, call: Call | None) -> dict[str, Any]:
    """`data` of session.completed, as the v2 webhook documents it (also for calls that never connected)."""
    transcript = _event_transcript(session.transcript)
    data = {
        "session_id": session.id,
        "agent_id": session.agent_id,
        "agent_name": session.agent_name,
        "duration_seconds": session.duration_seconds,
        "credits_used": session.credits_used,
        "processing_complete": session.processing_complete,
        "pipeline_completed_at": iso(session.pipeline_completed_at),
        "transcript": transcript,
        "latency": _event_latency(session, transcript),
        "recording_url": recording_url(session),
        "variables": session.variables or {},
    }
    if session.extraction is not None:
        data["extraction"] = session.extraction
    # Beyond Vocobase's payload: the callee asked not to be called again (the number is now on the list).
    data["opted_out"] = call is not None and call.disposition == "opted_out"
    if call is not None:
        data["call"] = {
            "call_id": call.id,
            "from_number": call.from_number,
            "to_number": call.to_number,
            "direction": call.direction,
            "provider": call.provider,
            "status": call.status,
            "disposition": call.disposition,
            "answered_by": call.answered_by,
            "connection_id": call.connection_id,
            "duration_seconds": call.duration_seconds,
            "error_message": call.error_message,
            "started_at": iso(call.started_at),
            "ended_at": iso(call.ended_at),
        }
    return data
