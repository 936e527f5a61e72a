"""Assertions shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the v2 error envelope with this status and code, and a message; returns the body."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code and body["error"]["message"]
    return body
