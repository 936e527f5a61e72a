"""Spoken opt-out during a live call: decide (phrase rules, then a language model when one is configured)
and put the number on the partner's do-not-call list at once, before the call has even ended."""

from __future__ import annotations

import logging
import re

import httpx

from voxline.context import Context
from voxline.core import opt_out as rules
from voxline.core.call_status import Disposition
from voxline.settings import Settings
from voxline.store import calls as call_store
from voxline.store import dnc as dnc_store

log = logging.getLogger("voxline.safety")
OPTED_OUT = Disposition.OPTED_OUT.value  # the call's disposition, and `data.opted_out` in session.completed
ACKNOWLEDGEMENT = rules.ACKNOWLEDGEMENT
# Only utterances that talk about calls or numbers are worth a model's time (one request per such utterance).
_CUE = re.compile(r"call|phone|ring|number|list|remove|stop|contact|कॉल|काल|फोन|फ़ोन|नंबर|नम्बर|mat|band", re.I)


async def classify(settings: Settings, text: str, limit_secs: float = 3.0) -> bool:
    """Ask the configured OpenAI-compatible model the yes/no question; any failure counts as no."""
    if not settings.llm_base_url or not _CUE.search(text):
        return False
    body = {
        "model": settings.llm_model,
        "messages": [{"role": "system", "content": rules.CLASSIFIER_PROMPT}, {"role": "user", "content": text}],
        "max_tokens": 3,
        "temperature": 0,
    }
    headers = {"Authorization": f"Bearer {settings.llm_api_key or 'not-needed'}"}
    try:
        async with httpx.AsyncClient(timeout=limit_secs) as http:
            r = await http.post(f"{settings.llm_base_url.rstrip('/')}/chat/completions", json=body, headers=headers)
            r.raise_for_status()
            answer = r.json()["choices"][0]["message"]["content"] or ""
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        log.info("opt-out classification unavailable: %s", type(exc).__name__)
        return False
    return answer.strip().upper().startswith("YES")


async def asks_to_stop(settings: Settings, text: str) -> bool:
    return rules.asks_to_stop(text) or await classify(settings, text)


async def record(ctx: Context, call_id: str, said: str) -> bool:
    """List the call's number for its partner and mode; False for a call we do not know."""
    async with ctx.db.transaction() as s:
        call = await call_store.get_call_by_id(s, call_id)
        if call is None:
            return False
        await dnc_store.add_many(
            s,
            call.partner_id,
            call.mode,
            [call.to_number],
            source="opt_out",
            now=ctx.clock(),
            reason=said[:500],
            call_id=call.id,
        )
    log.info("call %s: the callee opted out; number listed", call_id)
    return True


class Guard:
    """The live call's opt-out guard (core.opt_out.OptOutGuard) for one app."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def asks_to_stop(self, text: str) -> bool:
        return await asks_to_stop(self.ctx.settings, text)

    async def record(self, call_id: str, said: str) -> bool:
        return await record(self.ctx, call_id, said)
