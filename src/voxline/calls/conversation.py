"""The conversation runtime of one app: `voice.runtime.VoiceRuntime` wired to this app's plans and sessions.

The runtime reads each call's plan from `calls.plan` and hands its outcome to `calls.finish`; it never
sees the context, the store or the webhooks itself.
"""

from __future__ import annotations

from collections.abc import Callable

from voxline.calls.finish import SessionFiler
from voxline.calls.plan import plan_source
from voxline.context import Context
from voxline.safety import opt_out
from voxline.voice.engines import Engines
from voxline.voice.plan import CallPlan
from voxline.voice.runtime import VoiceRuntime
from voxline.voice.transcript import Turn


def voice_runtime(
    ctx: Context,
    engines: Engines | None = None,
    *,
    adjust_plan: Callable[[CallPlan], CallPlan] | None = None,
    listeners: list[Callable[[Turn], None]] | None = None,
) -> VoiceRuntime:
    """A VoiceRuntime for calls of this app (`engines` default to the deployment's, from settings)."""
    return VoiceRuntime(
        ctx.settings,
        plan_source(ctx),
        SessionFiler(ctx),
        engines,
        adjust_plan=adjust_plan,
        listeners=listeners,
        opt_out=opt_out.Guard(ctx),
        meter=ctx.meters.call_meter,
    )
