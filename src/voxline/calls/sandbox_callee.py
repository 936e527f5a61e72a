"""A sandbox call's own lines for its simulated callee: `variables.sandbox_callee_say` (test keys only).

The emulator asks when the call is answered, by its own call id. The dialer stores that id when the
carrier's create request returns, which can race a very short ring: the lookup waits briefly for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from voxline.context import Context
from voxline.store import sandbox_callee as store

VARIABLE = "sandbox_callee_say"
# Variables a test-mode call may carry without declaring them on the agent: they steer the simulated
# callee and never reach the prompt's declared variables' checks.
SANDBOX_VARIABLES = frozenset({VARIABLE})
_WAIT_SECS, _STEP_SECS = 2.0, 0.1
LINE_SEPARATOR = "|"
MAX_LINES = 10


def parse_custom_lines(value: str) -> tuple[str, ...]:
    """`sandbox_callee_say`: lines separated by `|`, blanks dropped, at most MAX_LINES."""
    return tuple(part.strip() for part in value.split(LINE_SEPARATOR) if part.strip())[:MAX_LINES]


def lookup(ctx_of: Callable[[], Context], provider: str) -> Callable[[str], Awaitable[tuple[str, ...]]]:
    """The emulator's hook for `provider`: a call's own lines, by the emulator's call id (none: empty)."""

    async def lines_for(carrier_call_id: str) -> tuple[str, ...]:
        for _ in range(int(_WAIT_SECS / _STEP_SECS)):
            async with ctx_of().db.transaction() as s:
                found, value = await store.asked_lines(s, provider, carrier_call_id, VARIABLE)
            if found:
                return parse_custom_lines(value) if value else ()
            await asyncio.sleep(_STEP_SECS)
        return ()

    return lines_for
