"""What a running Voxline holds: settings, the database, the secret box, and its in-memory state (see
app_state.py). Built once by the app or the CLI; two contexts never share anything but the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from voxline.app_state import (
    Admission,
    DialWake,
    EndedCalls,
    Leases,
    OutboxSignals,
    ReadyPlans,
    RecentCalls,
    admission_limits,
)
from voxline.core.crypto import SecretBox
from voxline.core.timefmt import utcnow
from voxline.meters import Meters
from voxline.settings import Settings
from voxline.store.db import Database


@dataclass
class Context:
    settings: Settings
    db: Database
    box: SecretBox
    leases: Leases = field(default_factory=Leases)  # the calls this app dials or holds the media of
    dial_wake: DialWake = field(default_factory=DialWake)  # /calls/start nudging this app's dialer
    outbox: OutboxSignals = field(default_factory=OutboxSignals)  # new deliveries reaching this app's worker
    ended: EndedCalls = field(default_factory=EndedCalls)  # calls that ended here, for their media edge
    recent_calls: RecentCalls = field(default_factory=RecentCalls)  # carrier callers verified a moment ago
    ready_plans: ReadyPlans = field(default_factory=ReadyPlans)  # plans of calls this app dialed, read while ringing
    # The wall clock for rules that depend on the time of day (calling hours): a test moves it, not the wall.
    clock: Callable[[], datetime] = field(default_factory=lambda: utcnow)
    # Room for calls in this process (dialer claims, media streams) and what it measures, and the app's
    # own metrics registry: both per app, never module globals.
    admission: Admission = field(init=False)
    meters: Meters = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(admission_limits(self.settings))
        self.meters = Meters(self.admission)

    @classmethod
    def build(cls, settings: Settings) -> Context:
        db = Database(settings.resolved_database_url, settings.database_schema)
        return cls(settings, db, SecretBox(settings.resolved_encryption_key))

    async def close(self) -> None:
        await self.db.dispose()
