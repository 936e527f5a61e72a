"""The store's own errors, so use-cases can react to what the database said without importing SQLAlchemy."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import IntegrityError


class Conflict(Exception):
    """A write broke a constraint of the schema, in practice a unique one: someone else (often a concurrent
    request) got there first. The caller decides what it means (a taken name, a replayed Idempotency-Key).

    Raised by the store functions that write, and by `Database.transaction` when the commit itself conflicts.
    """


@contextlib.contextmanager
def conflicts() -> Iterator[None]:
    """Wrap a write: the driver's integrity error leaves it as `Conflict`."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(str(exc.orig)) from exc
