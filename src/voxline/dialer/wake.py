"""A nudge from calls/start to the dialer of the same process, so a new call is dialed without waiting
for the next poll. Other processes find it on their next poll; nothing depends on the nudge."""

from __future__ import annotations

import asyncio

_events: dict[int, asyncio.Event] = {}


def register(key: object) -> asyncio.Event:
    event = _events.setdefault(id(key), asyncio.Event())
    return event


def unregister(key: object) -> None:
    _events.pop(id(key), None)


def notify(key: object) -> None:
    event = _events.get(id(key))
    if event is not None:
        event.set()
