"""The store's own errors, so use-cases can react to what the database said without importing SQLAlchemy."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import IntegrityError


class Conflict(Exception):
    """A write broke a constraint of the schema, in practice a unique one: someone else (often a concurrent
    request) got there first. The caller decides what it means (a taken name, a replayed Idempotency-Key).

    Raised by the store functions that write, and by `Database.transaction` when the commit itself conflicts.
    """


class _Conflicts:
    """A plain class, not a generator-based context manager: it wraps every transaction, /calls/start's too."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None) -> None:
        if isinstance(exc, IntegrityError):
            raise Conflict(str(exc.orig)) from exc


_CONFLICTS = _Conflicts()


def conflicts() -> _Conflicts:
    """Wrap a write: the driver's integrity error leaves it as `Conflict`."""
    return _CONFLICTS
