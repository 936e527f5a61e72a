"""Spoken opt-out phrase rules (core/opt_out.py): English and Hindi, paraphrases, and what is not an opt-out."""

import pytest

from voxline.core.opt_out import asks_to_stop

OPT_OUTS = [
    "Please don't call me again. Remove my number.",
    "stop calling me",
    "Stop calling this number!",
    "take me off your list",
    "Remove me from your calling list please",
    "I never want you to call me again",
    "Do not call this number again",
    "don't ever call me again",
    "please put me on your do not call list",
    "I want to opt out",
    "Delete my number",
    "no more calls please, I don't want any more calls",
    # Hindi, romanised and in Devanagari
    "mujhe dobara call mat karna",
    "fir kabhi phone mat karna",
    "mera number hata do",
    "call karna band karo",
    "मुझे फिर से कॉल मत करो",
    "मेरा नंबर हटा दीजिए",
    "कृपया दोबारा फोन मत कीजिए",
    "कॉल करना बंद करो",
]
NOT_OPT_OUTS = [
    "Hello, who is this?",
    "Yes, I can talk now.",
    "Call me again tomorrow",
    "Can you call me back later?",
    "Don't call me now, I'm driving",
    "Please remove the late fee",
    "I'd like to book an appointment",
    "haan, boliye",
    "हाँ, बताइए",
    "",
]


@pytest.mark.parametrize("said", OPT_OUTS)
def test_an_opt_out_is_recognised(said):
    assert asks_to_stop(said)


@pytest.mark.parametrize("said", NOT_OPT_OUTS)
def test_other_things_callers_say_are_not_opt_outs(said):
    assert not asks_to_stop(said)
