"""How long a call may run: the agent's (or the deployment's) maximum, and the hard cap past it.

At the maximum the conversation runtime ends the call itself: its farewell, then at most the carrier
hang-up grace before it cuts its pipeline and hangs up. The hard cap, which the carrier is given as the
call's time limit and at which the media edge cuts the conversation, comes after that (plus a margin),
so the runtime's own way out runs first; it is never more than MAX_OVERRUN_SECS past the maximum.
"""

from __future__ import annotations

import math

from voxline.core.keys import TEST

HARD_CAP_MARGIN_SECS = 2.0
MAX_OVERRUN_SECS = 10


def max_call_secs(default_max_secs: int, agent_max_secs: int | None) -> int:
    """The call's maximum duration: the deployment's default, lowered by the agent's own cap if it sets one."""
    return min(default_max_secs, agent_max_secs) if agent_max_secs else default_max_secs


def hard_cap_secs(max_secs: float, hangup_grace_secs: float) -> int:
    """Whole seconds after which the call is cut whatever the conversation is doing (carriers take integers)."""
    overrun = min(math.ceil(hangup_grace_secs + HARD_CAP_MARGIN_SECS), MAX_OVERRUN_SECS)
    return math.ceil(max_secs) + overrun


def concurrency_limit(mode: str, live_limit: int, sandbox_limit: int | None, sandbox_default: int) -> int:
    """How many calls of one mode a partner may have active at once. Each mode has its own limit, so a
    sandbox load test never takes a line from real calls (None: the deployment's sandbox default)."""
    if mode == TEST:
        return sandbox_limit if sandbox_limit is not None else sandbox_default
    return live_limit
