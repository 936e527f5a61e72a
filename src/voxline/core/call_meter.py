"""The port through which a live call reports what the process should count: frames sent (and late ones),
the delay to the first bot audio, each turn's latency, faults. The runtime (`voice/`) calls it; the app's
meters (meters.py) implement it. Types only."""

from __future__ import annotations

from typing import Protocol


class CallMeter(Protocol):
    def frame_sent(self, late: bool) -> None:
        """One outgoing 20 ms frame left; `late` when it missed its clock deadline by more than 40 ms."""

    def first_audio(self, delay_secs: float) -> None:
        """The call's first bot audio left this long after its media stream opened."""

    def turn_latency(self, secs: float) -> None:
        """The callee stopped speaking this long before the bot's answer began to leave."""

    def fault(self, reason: str) -> None:
        """The call failed in a way an operator must see (e.g. `no_first_audio`)."""


class NoMeter:
    """Counts nothing (a runtime built without an app: tools, some tests)."""

    def frame_sent(self, late: bool) -> None:
        return None

    def first_audio(self, delay_secs: float) -> None:
        return None

    def turn_latency(self, secs: float) -> None:
        return None

    def fault(self, reason: str) -> None:
        return None
