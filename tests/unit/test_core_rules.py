"""Pure rules: numbers, templating, keys, encryption, the call status machine, error mapping."""

import pytest

from voxline.core import keys
from voxline.core.call_status import CallStatus, can_move
from voxline.core.crypto import DecryptionError, SecretBox, mask
from voxline.core.phone import InvalidPhoneNumber, parse_e164
from voxline.core.templating import placeholders, render, stringify
from voxline.core.validation import from_pydantic


@pytest.mark.parametrize("number", ["+919876543210", "+14155551234", "+442071838750"])
def test_e164_possible_numbers_are_accepted(number):
    assert parse_e164(number) == number


@pytest.mark.parametrize("number", ["919876543210", "+0123456", "+1 415 555 1234", "+1415", "+999123456789", ""])
def test_non_e164_or_impossible_numbers_are_refused(number):
    with pytest.raises(InvalidPhoneNumber):
        parse_e164(number)


@pytest.mark.parametrize(
    "number",
    [
        "+1415555\u0660\u0663\u0660\u0660",  # Arabic-Indic digits mixed in
        "+\u0661\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0663\u0660\u0660",  # all Arabic-Indic
        "+14155550300\n",  # a trailing newline
        "+14155550300 ",
        " +14155550300",
        "\uff0b14155550300",  # fullwidth plus
        "+1415555\uff10300",  # a fullwidth digit
    ],
)
def test_other_scripts_and_trailing_characters_are_refused_not_normalised(number):
    with pytest.raises(InvalidPhoneNumber):
        parse_e164(number)


def test_placeholders_are_found_in_order_without_repeats_and_allow_inner_spaces():
    assert placeholders("Hi {{ name }}, about {{topic}}", "Bye {{name}} {{x1}}") == ["name", "topic", "x1"]


def test_missing_variables_render_as_empty_and_values_are_substituted():
    assert render("Hi {{name}}{{ missing }}!", {"name": "Sajal"}) == "Hi Sajal!"


def test_non_string_values_read_naturally():
    assert [stringify(True), stringify(3), stringify(2.0), stringify(2.5)] == ["true", "3", "2", "2.5"]


def test_api_keys_have_the_documented_shape_and_only_their_hash_is_kept():
    live, test = keys.generate(keys.LIVE), keys.generate(keys.TEST)
    assert live.plaintext.startswith("rg_live_") and len(live.plaintext) == 40
    assert test.plaintext.startswith("rg_test_")
    assert live.hash != live.plaintext and len(live.hash) == 64
    assert keys.hashes_match(live.hash, live.plaintext) and not keys.hashes_match(live.hash, test.plaintext)
    assert keys.mode_of(live.plaintext) == "live" and keys.mode_of("rg_live_short") is None


def test_secret_box_round_trips_and_binds_ciphertext_to_its_row():
    box = SecretBox(b"k" * 32)
    token = box.encrypt_json({"auth_token": "s3cret"}, context="connection:1")
    assert "s3cret" not in token
    assert box.decrypt_json(token, context="connection:1") == {"auth_token": "s3cret"}
    with pytest.raises(DecryptionError):
        box.decrypt_json(token, context="connection:2")
    with pytest.raises(DecryptionError):
        SecretBox(b"x" * 32).decrypt_json(token, context="connection:1")


def test_mask_shows_only_the_ends():
    assert mask("AC0123456789abcdef") == "AC01****cdef"
    assert mask("short") == "*****"


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (CallStatus.PENDING, CallStatus.RINGING, True),
        (CallStatus.RINGING, CallStatus.IN_PROGRESS, True),
        (CallStatus.PENDING, CallStatus.IN_PROGRESS, True),
        (CallStatus.IN_PROGRESS, CallStatus.COMPLETED, True),
        (CallStatus.PENDING, CallStatus.BUSY, True),
        (CallStatus.COMPLETED, CallStatus.RINGING, False),
        (CallStatus.IN_PROGRESS, CallStatus.RINGING, False),
        (CallStatus.FAILED, CallStatus.COMPLETED, False),
        (CallStatus.RINGING, CallStatus.RINGING, False),
        (CallStatus.RINGING, CallStatus.NO_ANSWER, True),
        (CallStatus.IN_PROGRESS, CallStatus.BUSY, False),  # an answered call was never busy
        (CallStatus.IN_PROGRESS, CallStatus.NO_ANSWER, False),
    ],
)
def test_calls_only_move_forward(current, target, allowed):
    assert can_move(current, target) is allowed


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("extra_forbidden", "UNKNOWN_FIELD"),
        ("missing", "MISSING_FIELD"),
        ("string_too_long", "STRING_TOO_LONG"),
        ("int_type", "INVALID_TYPE"),
        ("bool_type", "INVALID_TYPE"),
        ("string_pattern_mismatch", "VALIDATION_ERROR"),
    ],
)
def test_validation_failures_map_to_specific_codes(kind, code):
    err = from_pydantic([{"type": kind, "loc": ("body", "agent_name"), "msg": "bad"}])
    assert err.code == code and err.status == 400
    assert err.details[0]["field"] == "agent_name"


def test_the_hard_cap_leaves_the_runtime_its_farewell_and_never_runs_past_ten_seconds():
    from voxline.core import call_limits

    assert call_limits.max_call_secs(3600, None) == 3600 and call_limits.max_call_secs(3600, 600) == 600
    assert call_limits.max_call_secs(300, 600) == 300  # the deployment's maximum wins over a longer agent cap
    assert call_limits.hard_cap_secs(600, 5.0) == 607  # the farewell's grace and a margin past the maximum
    assert call_limits.hard_cap_secs(600, 0.5) == 603
    assert call_limits.hard_cap_secs(600, 60.0) == 610  # never more than 10 s past it
