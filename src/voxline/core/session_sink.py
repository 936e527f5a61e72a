"""What a conversation hands back when it ends, and the port it hands it to.

The runtime (`voice/`) builds a `SessionOutcome`; the use-case that files sessions (`calls/finish.py`)
implements `SessionSink`. The runtime thereby never knows the store, the webhooks or the application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from voxline.core.call_status import AnsweredBy, CallStatus, Disposition


@dataclass
class SessionOutcome:
    status: CallStatus = CallStatus.COMPLETED
    transcript: list[dict[str, Any]] = field(default_factory=list)
    latency: dict[str, Any] | None = None
    duration_seconds: int | None = None
    credits_used: float | None = None
    recording_path: str | None = None
    extraction: dict[str, Any] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    disposition: Disposition | None = None  # written on the call when given (e.g. voicemail)
    answered_by: AnsweredBy | None = None  # human | machine | unknown, written on the call when given


class SessionSink(Protocol):
    async def file(self, session_id: str, outcome: SessionOutcome) -> None:
        """Write the session's final state once (a second filing changes nothing)."""
