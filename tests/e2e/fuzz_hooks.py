"""Schemathesis hooks for the OpenAPI fuzz run: data for the string formats the schema names.

`e164`: the pattern alone would give numbers such as +1000000 that fit E.164's shape but no country's plan,
which the server rightly refuses (it asks libphonenumber); draw possible numbers of real countries instead.
`webhook-url`: where a URL may point (a public address) is no schema matter; draw https URLs of
a reserved documentation domain, which the server accepts whether or not it resolves here.
"""

from __future__ import annotations

import phonenumbers
import schemathesis
from hypothesis import strategies as st

_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)


def _examples() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(found))


schemathesis.openapi.format("e164", st.sampled_from(_examples()))
schemathesis.openapi.format(
    "webhook-url",
    st.builds(
        lambda path: f"https://hooks.example.com/{path}",
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/", max_size=40),
    ),
)


def _breaks_a_cross_field_rule(body: dict) -> bool:
    """Rules between fields that JSON Schema cannot state, some depending on the stored agent: transfer needs a
    transfer_number, extraction key names are unique (agents/rules.py), a calling window ends after it starts."""
    enabled = body.get("transfer_enabled", body.get("transferEnabled"))
    number = body.get("transfer_number", body.get("transferNumber", ""))
    if (enabled is True and not number) or (number is None and enabled is not False):
        return True
    if any(_ends_before_it_starts(w) for w in _windows(body)):
        return True
    config = body.get("extraction_config")
    if isinstance(config, dict) and isinstance(config.get("keys"), list):
        names = [k.get("name") for k in config["keys"] if isinstance(k, dict)]
        return len(names) != len(set(names))
    return False


def _windows(body: dict) -> list:
    """Calling windows of a calling policy or of a campaign's schedule."""
    schedule = body.get("schedule")
    found = [body.get("calling_windows"), schedule.get("windows") if isinstance(schedule, dict) else None]
    return [w for windows in found if isinstance(windows, list) for w in windows if isinstance(w, dict)]


def _ends_before_it_starts(window: dict) -> bool:
    """A calling window's end must be after its start (core/calling_hours.py); both are HH:MM, so they sort."""
    start, end = window.get("start"), window.get("end")
    return isinstance(start, str) and isinstance(end, str) and end <= start


@schemathesis.hook
def filter_body(context, body):  # noqa: ANN001, ANN201
    return not (isinstance(body, dict) and _breaks_a_cross_field_rule(body))
