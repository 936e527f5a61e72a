"""A call's plan, read once from the store, for the conversation runtime: while the call rings (the dialer
starts the read as it places the call), or when its media stream connects in another process.

The session, its agent (even if deleted since the call started) and the partner's voicemail switch become
a `voice.plan.CallPlan`: plain data, with this deployment's limits applied. The runtime is handed
`plan_source(ctx)` and never reads the database itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from voxline.context import Context
from voxline.core import call_limits, templating
from voxline.store import calls as calls_store
from voxline.store import live_calls as live_store
from voxline.store.models import Agent
from voxline.voice import catalog
from voxline.voice.plan import DEFAULT_END_CALL_MESSAGE, DEFAULT_TRANSFER_MESSAGE, CallPlan, PlanSource


def system_prompt(agent: Agent, rendered_prompt: str, values: dict[str, str]) -> str:
    """The agent's prompt plus what the model must know about ending and transferring the call."""
    parts = [rendered_prompt.strip()]
    parts.append(
        "You are speaking on a phone call. Keep replies short (one or two sentences), plain spoken text "
        "with no lists, markup or emojis."
    )
    if agent.end_call_enabled:
        section = "## When to end the call\nCall the `end_call` tool when the conversation is over"
        if agent.end_call_instructions:
            section += ", specifically:\n" + (templating.render(agent.end_call_instructions, values) or "")
        else:
            section += " (the callee says goodbye, or asks to end the call)."
        parts.append(section)
    if agent.transfer_enabled and agent.transfer_number:
        section = "## When to transfer the call\nCall the `transfer_call` tool when the callee needs a human"
        if agent.transfer_instructions:
            section += ", specifically:\n" + (templating.render(agent.transfer_instructions, values) or "")
        else:
            section += " (they ask for a person, or you cannot help)."
        parts.append(section)
    return "\n\n".join(p for p in parts if p)


def build_plan(
    agent: Agent,
    session_id: str,
    call_id: str | None,
    partner_id: str,
    rendered_prompt: str,
    rendered_intro: str | None,
    variables: dict[str, str],
    partner_vmd: bool,
) -> CallPlan:
    values = {k: templating.stringify(v) if not isinstance(v, str) else v for k, v in (variables or {}).items()}
    voice = catalog.find_any(agent.voice_id) or catalog.OFFLINE_VOICES[0]
    return CallPlan(
        session_id=session_id,
        call_id=call_id,
        partner_id=partner_id,
        agent_id=agent.id,
        system_prompt=system_prompt(agent, rendered_prompt, values),
        intro=(rendered_intro or None),
        voice=voice,
        end_call_enabled=agent.end_call_enabled,
        end_call_message=(templating.render(agent.end_call_message, values) or DEFAULT_END_CALL_MESSAGE),
        transfer_enabled=bool(agent.transfer_enabled and agent.transfer_number),
        transfer_number=agent.transfer_number,
        transfer_message=(templating.render(agent.transfer_message, values) or DEFAULT_TRANSFER_MESSAGE),
        max_duration_secs=agent.max_call_duration_secs,
        # A browser test session (no call) is a person at a microphone, never an answering machine.
        voicemail_detection=bool(call_id and agent.voicemail_detection_enabled and partner_vmd),
        voicemail_message=(templating.render(agent.voicemail_message, values) or None),
        recording=agent.enable_recording,
        extraction_config=agent.extraction_config,
        variables=values,
    )


async def load_plan(ctx: Context, session_id: str) -> CallPlan:
    """The call's plan, with this deployment's limits: its silence timeout, and its maximum call length
    (default_max_call_secs) when the agent sets none or a longer one, as the dialer and the carrier edge
    apply it, so the runtime's own farewell comes at the same cap."""
    plan = await _read_plan(ctx, session_id)
    cap = call_limits.max_call_secs(ctx.settings.default_max_call_secs, plan.max_duration_secs)
    return replace(plan, silence_timeout_secs=ctx.settings.silence_timeout_secs, max_duration_secs=cap)


async def _read_plan(ctx: Context, session_id: str) -> CallPlan:
    """Read the session, its agent (even if deleted since the call started) and the partner's VMD switch."""
    async with ctx.db.read() as s:
        session = await calls_store.get_session_by_id(s, session_id)
        if session is None:
            raise LookupError(f"no session {session_id}")
        agent = await live_store.agent_any_state(s, session.agent_id)
        if agent is None:
            raise LookupError(f"no agent {session.agent_id}")
        partner_vmd = await live_store.partner_voicemail_detection(s, session.partner_id)
        return build_plan(
            agent,
            session.id,
            session.call_id,
            session.partner_id,
            session.rendered_prompt,
            session.rendered_intro,
            dict(session.variables or {}),
            partner_vmd,
        )


def prefetch(ctx: Context, session_id: str) -> None:
    """Start reading the call's plan now (it is about to ring), for its media stream to find in memory."""
    reading = asyncio.create_task(load_plan(ctx, session_id))
    reading.add_done_callback(_consume_error)  # a failed read is read again, and reported, at media start
    ctx.ready_plans.put(session_id, reading)


def _consume_error(task: asyncio.Task[CallPlan]) -> None:
    if not task.cancelled():
        task.exception()


def plan_source(ctx: Context) -> PlanSource:
    """The `PlanSource` a runtime of this app reads its calls' plans from: the one read while the call rang,
    else the store."""

    async def source(session_id: str) -> CallPlan:
        reading = ctx.ready_plans.take(session_id)
        if reading is not None:
            with contextlib.suppress(Exception):
                return await reading
        return await load_plan(ctx, session_id)

    return source
