"""Spoken opt-out: does what the callee just said ask us never to call again?

Phrase rules, offline and in English and Hindi (Devanagari and romanised), built from parts so that
paraphrases match ("please stop calling me", "take me off your list", "mujhe dobara call mat karna",
"मुझे फिर से कॉल मत करो"), while "call me again tomorrow" or "don't call me now, I'm driving" do not.
A language model, when one is configured, is asked the same yes/no question (see safety/opt_out_llm.py).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol

ACKNOWLEDGEMENT = "Understood. We will not call you again. Goodbye."

_EN = [
    # stop / quit / cease calling (me / this number)
    r"\b(stop|quit|cease|no more)\s+(calling|ringing|phoning|contacting|bothering)\b",
    r"\bstop\s+(calling|ringing|phoning)?\s*(me|this number|here)\b",
    # don't / do not / never call (me) again | anymore | ever
    r"\b(do ?n[o']?t|never|please don'?t)\s+(ever\s+)?(call|ring|phone|contact)\s+(me|us|this number|here)?\s*"
    r"(again|any ?more|ever|back|in future|in the future)\b",
    r"\bnever\s+(call|ring|phone|contact)\s+(me|us|this number|here)\b",
    # remove / delete / take (me / my number) off / from (your) (calling) list
    r"\b(remove|delete|erase|take)\s+(me|my (phone )?number|this number|my name|my details)\b"
    r"(\s+(off|from|out of)\b)?",
    r"\b(put|add)\s+(me|my number|this number)\s+(on|to)\s+(your|the)\s+(do not call|dnc|don'?t call)",
    r"\b(do not call|dnc) (list|registry)\b",
    r"\bunsubscribe\b|\bopt(ing)? out\b",
    r"\bdon'?t want (any )?(more )?(calls|to be called|you to call)\b",
    r"\b(never|don'?t|do not) want (you|anyone|your company|them) to (call|ring|phone|contact)\b",
    r"\bnot interested[,.]? (and )?(don'?t|do not|never) call\b",
]
_HI = [
    # romanised Hindi: (dobara | phir se | fir se | kabhi) ... call/phone ... mat/na (karna/karo/kijiye)
    r"\b(dobara|dubara|phir se|fir se|phir|fir|kabhi|aage se)\b.{0,30}\b(call|phone|fon)\b.{0,15}"
    r"\b(mat|na|nahi|nahin)\b",
    r"\b(call|phone|fon)\b.{0,10}\b(mat|na)\s+(karna|karo|kijiye|kariye|karein|karen)\b.{0,20}\b"
    r"(dobara|dubara|phir|fir|kabhi|aage)\b",
    r"\b(mera|meri|mere)\s+(number|naam)\b.{0,25}\b(hata|hatao|hataiye|hata do|hata dijiye|remove|delete|nikal)",
    r"\b(call|phone)\s+(karna|karne)\s+band\s+(karo|kijiye|kariye|karein|karen|kar do|kar dijiye)\b",
    # Devanagari
    r"(दोबारा|दुबारा|फिर से|फिर|कभी|आगे से).{0,30}(कॉल|काल|फोन|फ़ोन).{0,15}(मत|न|ना|नहीं)",
    r"(कॉल|काल|फोन|फ़ोन).{0,10}(मत|न)\s*(करना|करो|कीजिए|कीजिये|करिए|करें).{0,20}(दोबारा|दुबारा|फिर|कभी|आगे)",
    r"(मेरा|मेरी|मेरे)\s*(नंबर|नम्बर|नाम).{0,25}(हटा|हटाओ|हटाइए|हटाइये|हटा दो|हटा दीजिए|निकाल)",
    r"(कॉल|काल|फोन|फ़ोन)\s*(करना|करने)\s*बंद\s*(करो|कीजिए|कीजिये|करिए|करें|कर दो|कर दीजिए)",
]
_RULES = [re.compile(p, re.IGNORECASE) for p in _EN + _HI]
# Requests about now, not about the future: "don't call me now", "can you call me again tomorrow".
_NOT_OPT_OUT = re.compile(
    r"\b(call|ring|phone) (me|us) (again |back )?(later|tomorrow|tonight|next week|in an hour|at \d|after)\b"
    r"|\bdon'?t call (me )?(now|right now|at this time|during)\b|\bremove (the|this) (item|charge|fee|order)\b",
    re.IGNORECASE,
)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[^\w\s'\u0900-\u097F]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def asks_to_stop(text: str) -> bool:
    """The phrase rules' verdict on one utterance of the callee."""
    norm = _normal(text)
    if not norm:
        return False
    if _NOT_OPT_OUT.search(norm) and not re.search(r"\b(again|any ?more|never|remove|list)\b", norm, re.I):
        return False
    return any(rule.search(norm) for rule in _RULES)


CLASSIFIER_PROMPT = (
    "You read one thing a person said on a phone call from a business. Answer only YES if they ask not to be "
    "called again, to be removed from the calling list, or to stop all calls (in any language); otherwise NO "
    "(including requests to call back later)."
)


class OptOutGuard(Protocol):
    """What the live call asks about each final utterance (the application implements it: safety/opt_out.py)."""

    async def asks_to_stop(self, text: str) -> bool: ...

    async def record(self, call_id: str, said: str) -> bool:
        """Put the call's number on its partner's do-not-call list; False for a call it does not know."""
        ...
