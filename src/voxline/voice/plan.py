"""What one call's conversation must do: plain data, handed to the runtime before the pipeline starts.

The plan holds the rendered system prompt (the agent's prompt with the call's variables, plus the
end-call and transfer instructions), the rendered greeting and voicemail line, the limits and the
switches. The pipeline is built from it; the runtime never reads the database. Where a plan comes from
(`calls/plan.py` reads it from the store) is the `PlanSource` the runtime is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxline.voice import catalog

DEFAULT_END_CALL_MESSAGE = "Thank you for your time. Goodbye!"
DEFAULT_TRANSFER_MESSAGE = "Please hold while I transfer you to a colleague."
TIME_WARNING = "Just so you know, we are almost out of time for this call."
MAX_DURATION_WARNING_SECS = 30


@dataclass(frozen=True)
class CallPlan:
    session_id: str
    call_id: str | None
    partner_id: str
    agent_id: str
    system_prompt: str
    intro: str | None
    voice: catalog.Voice
    end_call_enabled: bool
    end_call_message: str
    transfer_enabled: bool
    transfer_number: str | None
    transfer_message: str
    max_duration_secs: int | None
    voicemail_detection: bool
    voicemail_message: str | None
    recording: bool
    extraction_config: dict | None
    variables: dict[str, str] = field(default_factory=dict)
    silence_timeout_secs: float = 30.0  # from settings; end the call after this long with nobody speaking


# The call's plan by its session id (raises LookupError for an unknown session).
PlanSource = Callable[[str], Awaitable[CallPlan]]
