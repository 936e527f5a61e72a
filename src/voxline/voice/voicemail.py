"""Answering-machine handling for carriers without AMD: classify the callee's first utterance in-band.

A voicemail greeting says recognisable things ("leave a message", "after the tone", "not available").
A person picking up says "hello?". The rule is deliberately conservative: only clear greeting phrases
count as a machine, so a person is never hung up on for saying "he is not here" alone.
"""

from __future__ import annotations

import re

_MACHINE = re.compile(
    r"(leave (me )?(a |your )?(message|name)|after the (tone|beep)|record your message|voice ?mail|mailbox"
    r"|(is |am |are )?not available|unavailable|can'?t (take|come to) (your|the) (call|phone)"
    r"|at the tone|please leave)",
    re.I,
)


def sounds_like_machine(first_utterance: str) -> bool:
    return bool(_MACHINE.search(first_utterance or ""))


GREETING_END_TIMEOUT_SECS = 15.0  # wait at most this long for the greeting to stop before speaking anyway
HUMAN_SILENCE_SECS = 3.0  # with in-band detection, speak the intro if the callee says nothing this long
