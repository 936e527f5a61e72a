"""Post-call extraction: one LLM call that turns the transcript into the agent's configured keys.

The model is asked for a JSON object; the answer is validated key by key against the configured types
(string, number, integer, boolean, array, date, datetime). Every configured key is present in `values`
(null when not found). Any failure (unreachable model, bad JSON, a value of the wrong type) gives
`status: failed` with the error, and never blocks finalization.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from voxline.core.timefmt import iso
from voxline.voice.engines import LLMEndpoint

TIMEOUT_SECS = 30.0
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class ExtractionInvalid(ValueError):
    pass


def keys_of(config: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for key in config.get("keys") or []:
        if isinstance(key, dict) and key.get("name"):
            out.append(
                {
                    "name": str(key["name"]),
                    "type": str(key.get("type") or "string"),
                    "description": str(key.get("description") or ""),
                }
            )
    return out


def validate(answer: Any, keys: list[dict[str, str]]) -> dict[str, Any]:
    """The configured keys' values from the model's answer, or ExtractionInvalid saying what is wrong."""
    if not isinstance(answer, dict):
        raise ExtractionInvalid("the model did not answer with a JSON object")
    values: dict[str, Any] = {}
    for key in keys:
        name, kind = key["name"], key["type"]
        value = answer.get(name)
        if value is None:
            values[name] = None
            continue
        ok = {
            "string": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "date": isinstance(value, str) and bool(_DATE.match(value)),
            "datetime": isinstance(value, str) and bool(_DATETIME.match(value)),
        }.get(kind, isinstance(value, str))
        if not ok:
            raise ExtractionInvalid(f"key {name!r}: expected {kind}, got {json.dumps(value)[:80]}")
        values[name] = float(value) if kind == "number" else value
    return values


def _messages(config: dict[str, Any], keys: list[dict[str, str]], transcript: list[dict[str, Any]]) -> list[dict]:
    lines = "\n".join(f"{t.get('role')}: {t.get('content')}" for t in transcript)
    system = (
        "You extract structured data from a phone call transcript. Answer with one JSON object whose keys are "
        "exactly the names below, each value of the given type, or null when the call does not say.\n"
        f"{config.get('prompt') or ''}\nKEYS_JSON: {json.dumps(keys)}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": lines}]


async def extract(endpoint: LLMEndpoint, config: dict[str, Any], transcript: list[dict[str, Any]]) -> dict[str, Any]:
    """The `extraction` object of a session (status, values, model, extractedAt, latencyMs, attempts, error)."""
    keys = keys_of(config)
    started = time.monotonic()
    result: dict[str, Any] = {
        "model": endpoint.model,
        "attempts": 0,
        "values": {k["name"]: None for k in keys},
        "error": None,
    }
    if not any(t.get("role") == "user" for t in transcript):
        result.update(
            status="skipped", error="no transcript to extract from", extractedAt=iso(datetime.now(UTC)), latencyMs=0
        )
        return result
    try:
        result["attempts"] = 1
        async with httpx.AsyncClient(timeout=TIMEOUT_SECS) as client:
            r = await client.post(
                endpoint.base_url.rstrip("/") + "/chat/completions",
                headers={"Authorization": f"Bearer {endpoint.api_key}"},
                json={
                    "model": endpoint.model,
                    "messages": _messages(config, keys, transcript),
                    "response_format": {"type": "json_object"},
                    "temperature": 0,
                },
            )
        if r.status_code >= 400:
            raise ExtractionInvalid(f"the model endpoint answered HTTP {r.status_code}")
        content = r.json()["choices"][0]["message"]["content"] or ""
        try:
            answer = json.loads(content)
        except json.JSONDecodeError:
            raise ExtractionInvalid("the model's answer is not valid JSON") from None
        result["values"] = validate(answer, keys)
        result["status"] = "success"
    except ExtractionInvalid as exc:
        result.update(status="failed", error=str(exc))
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:300])
    result["extractedAt"] = iso(datetime.now(UTC))
    result["latencyMs"] = round((time.monotonic() - started) * 1000)
    return result
