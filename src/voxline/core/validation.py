"""Pydantic validation failures → one API error with a specific code and a `details` list naming fields."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from voxline.core import errors

_TYPE_ERRORS = {
    "string_type",
    "int_type",
    "int_from_float",
    "int_parsing",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "dict_type",
    "list_type",
    "model_type",
    "model_attributes_type",
    "uuid_type",
    "none_required",
    "is_instance_of",
    "tuple_type",
    "set_type",
    "datetime_type",
    "date_type",
}
_CODE_BY_TYPE: dict[str, type[errors.ApiError]] = {
    "json_invalid": errors.InvalidJson,
    "json_type": errors.InvalidJson,
    "extra_forbidden": errors.UnknownField,
    "missing": errors.MissingField,
    "string_too_long": errors.StringTooLong,
}


def _error_class(kind: str) -> type[errors.ApiError]:
    if kind in _CODE_BY_TYPE:
        return _CODE_BY_TYPE[kind]
    if kind in _TYPE_ERRORS or kind.endswith("_type"):
        return errors.InvalidType
    return errors.ValidationError


def _field(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def from_pydantic(items: Iterable[Mapping[str, Any]], prefix: str = "") -> errors.ApiError:
    """Build the error for a list of pydantic error dicts; the first error decides the code."""
    details = []
    for item in items:
        kind = item.get("type", "value_error")
        field = _field(item.get("loc", ()))
        if prefix:
            field = f"{prefix}.{field}" if field != "body" else prefix
        message = str(item.get("msg", "invalid value"))
        if kind == "json_invalid":  # FastAPI puts the character offset where a field name would go
            loc = tuple(item.get("loc", ()))
            where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            reason = str((item.get("ctx") or {}).get("error") or "").strip()
            field = prefix or "body"
            message = f"not valid JSON{where}" + (f": {reason}" if reason else "")
        elif kind == "extra_forbidden":
            message = "unknown field"
        elif kind.startswith("value_error"):
            message = message.removeprefix("Value error, ")
        details.append({"field": field, "code": _error_class(kind).code, "message": message})
    if not details:
        return errors.ValidationError()
    first = details[0]
    if first["code"] == errors.InvalidJson.code:
        text = f"The request body is {first['message']}." if first["field"] == "body" else first["message"]
        return errors.InvalidJson(text, details=details)
    if first["field"] == "body" and first["code"] in (errors.MissingField.code, errors.InvalidType.code):
        return errors.InvalidJson("The request body must be a JSON object.", details=details)
    cls = _error_class_for_code(first["code"])
    summary = f"{first['field']}: {first['message']}"
    if len(details) > 1:
        summary += f" (and {len(details) - 1} more)"
    return cls(summary, details=details)


def _error_class_for_code(code: str) -> type[errors.ApiError]:
    for cls in (
        errors.InvalidJson,
        errors.UnknownField,
        errors.MissingField,
        errors.StringTooLong,
        errors.InvalidType,
        errors.ValidationError,
    ):
        if cls.code == code:
            return cls
    return errors.ValidationError
