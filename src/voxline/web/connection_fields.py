"""The telephony connection form: each carrier's credential fields as form inputs, read from the carrier's own
credentials model, so a new carrier gets its form without a template change. Secret fields are password
inputs and are never filled back in."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from voxline.telephony.registry import PROVIDERS, credentials_model
from voxline.web.forms import Form


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool
    secret: bool
    choices: tuple[str, ...]  # a fixed set of values: a select
    integer: bool
    hint: str | None


def providers() -> tuple[str, ...]:
    return PROVIDERS


def _plain(annotation: Any) -> tuple[Any, ...]:
    """The member types of an optional/union annotation (without None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def fields(provider: str) -> list[Field]:
    """Text, number or choice fields; structured ones (lists, maps) are left to the API."""
    model = credentials_model(provider)
    found = []
    for name, info in model.model_fields.items():
        kinds = _plain(info.annotation)
        kind = kinds[0] if len(kinds) == 1 else None
        if typing.get_origin(kind) is typing.Literal:
            choices = tuple(str(v) for v in typing.get_args(kind))
        elif kind in (str, int):
            choices = ()
        else:
            continue
        found.append(
            Field(
                name=name,
                label=name.replace("_", " ").capitalize(),
                required=info.is_required(),
                secret=name in model.secret_fields or "token" in name or "password" in name,
                choices=choices,
                integer=kind is int,
                hint=info.description,
            )
        )
    return found


def submitted(provider: str, form: Form) -> dict[str, Any]:
    """The credential fields the form filled in (blank optional ones left out; numbers as numbers)."""
    values: dict[str, Any] = {}
    for field in fields(provider):
        text = form.get(field.name)
        if not text and not field.required:
            continue
        values[field.name] = int(text) if field.integer and text.isdigit() and len(text) < 7 else text
    return values
