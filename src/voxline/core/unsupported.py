"""Values no request may carry, whatever the field: the NUL character and non-finite numbers.

PostgreSQL cannot store either (text refuses 0x00, json refuses NaN/Infinity) while SQLite stores both, so
one rule at the edge keeps the two databases answering alike, with a 400 instead of a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

from voxline.core import errors

NUL = "\x00"


def _refuse_constant(name: str) -> Any:
    raise errors.InvalidNumber(f"{name} is not a number JSON allows; numbers must be finite.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise errors.InvalidNumber(f"{text[:40]} is outside the range of a 64-bit float; numbers must be finite.")
    return value


def loads_checked(body: bytes) -> Any:
    """Parse a JSON body, refusing NaN/Infinity/overflowing numbers and NUL in any key or string.

    Raises ValueError for text that is not JSON at all (the route's own parser then names the problem).
    """
    data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    where = nul_path(data)
    if where is not None:
        raise invalid_character(where)
    return data


def nul_path(value: Any, path: str = "") -> str | None:
    """Where the first NUL sits in a parsed JSON value ("body" for the top level), or None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        here, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return here or "body"
        elif isinstance(item, dict):
            for key, sub in item.items():
                child = f"{here}.{key}" if here else str(key)
                if NUL in key:
                    return child.replace(NUL, "\\u0000")
                stack.append((child, sub))
        elif isinstance(item, list):
            stack.extend((f"{here}[{i}]" if here else f"[{i}]", sub) for i, sub in enumerate(item))
    return None


def invalid_character(field: str) -> errors.InvalidCharacter:
    message = "must not contain the NUL character (\\u0000)"
    return errors.InvalidCharacter(
        f"{field}: {message}.", details=[{"field": field, "code": errors.InvalidCharacter.code, "message": message}]
    )
