"""Phone numbers: E.164 as the API speaks it, checked with libphonenumber's metadata."""

from __future__ import annotations

import re

import phonenumbers

# ASCII only and matched whole: `\d` would take other scripts' digits (phonenumbers then quietly converts
# them) and `$` would let a trailing newline through.
E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"  # the same rule for the OpenAPI schema


class InvalidPhoneNumber(ValueError):
    pass


def parse_e164(value: str) -> str:
    """Return the number if it is strict E.164 and possible for its country; raise otherwise.

    "Possible" (length fits the country's plan) rather than "valid" (a range assigned today) so that
    newly opened ranges are not refused by stale metadata.
    """
    if not E164_SHAPE.fullmatch(value):
        raise InvalidPhoneNumber("must be in E.164 format, e.g. +14155551234")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber("is not a possible number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
