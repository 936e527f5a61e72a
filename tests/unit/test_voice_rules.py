"""Pure rules of the voice runtime: prompt assembly, transcript and latency, voicemail phrases, extraction
validation, recording-link signatures, the scripted brain's replies, the clock pacing schedule."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from voxline.calls.plan import build_plan
from voxline.voice import extraction, recording, scripted_brain, voicemail
from voxline.voice.plan import DEFAULT_END_CALL_MESSAGE
from voxline.voice.transcript import Transcript


def _agent(**over):
    base = dict(
        id="a1",
        voice_id="nope",
        end_call_enabled=True,
        end_call_instructions=None,
        end_call_message=None,
        transfer_enabled=False,
        transfer_number=None,
        transfer_message=None,
        transfer_instructions=None,
        max_call_duration_secs=600,
        voicemail_detection_enabled=False,
        voicemail_message=None,
        enable_recording=False,
        extraction_config=None,
    )
    base.update(over)
    return SimpleNamespace(**base)


def test_system_prompt_carries_the_rendered_prompt_and_the_end_call_section_with_variables():
    agent = _agent(end_call_instructions="when {{callee_name}} confirms")
    plan = build_plan(agent, "s", "c", "p", "Call Sajal.", "Hi Sajal", {"callee_name": "Sajal"}, False)
    assert plan.system_prompt.startswith("Call Sajal.")
    assert "## When to end the call" in plan.system_prompt and "when Sajal confirms" in plan.system_prompt
    assert "transfer" not in plan.system_prompt  # transfer is off
    assert plan.end_call_message == DEFAULT_END_CALL_MESSAGE


def test_end_call_disabled_leaves_the_model_without_the_end_call_section():
    plan = build_plan(_agent(end_call_enabled=False), "s", "c", "p", "P", None, {}, False)
    assert "When to end the call" not in plan.system_prompt


def test_voicemail_needs_both_the_account_and_the_agent_switch():
    on = _agent(voicemail_detection_enabled=True, voicemail_message="Hi {{callee_name}}")
    assert build_plan(on, "s", "c", "p", "P", None, {"callee_name": "A"}, True).voicemail_detection
    assert not build_plan(on, "s", "c", "p", "P", None, {}, False).voicemail_detection
    assert build_plan(on, "s", "c", "p", "P", None, {"callee_name": "A"}, True).voicemail_message == "Hi A"


def test_transcript_merges_consecutive_user_segments_and_summarises_bot_latency():
    t = Transcript()
    t.bot_started()
    t.bot_text("Hello!")
    t.bot_stopped()
    t.user_said("I want")
    t.user_said("an appointment")
    t.answered_after(420)
    t.bot_started()
    t.bot_text("Sure.")
    t.bot_stopped()
    t.bot_started()
    t.answered_after(380)
    t.bot_text("Done.")
    t.bot_stopped()
    turns = t.as_list()
    assert [x["role"] for x in turns] == ["bot", "user", "bot", "bot"]
    assert turns[1]["content"] == "I want an appointment"
    assert turns[0]["latency_ms"] is None and turns[2]["latency_ms"] == 420 and turns[3]["latency_ms"] == 380
    assert t.latency_summary() == {"min_ms": 380, "max_ms": 420, "avg_ms": 400}


def test_an_interrupted_turn_keeps_the_sentence_that_was_playing_and_is_marked():
    t = Transcript()
    t.bot_started()
    t.bot_stopped()  # the transport says "stopped" just before the interruption passes
    t.bot_stopped(interrupted=True, cut_sentence="Let me tell you about")
    assert t.as_list() == [
        {
            "role": "bot",
            "content": "Let me tell you about",
            "timestamp": t.turns[0].timestamp,
            "latency_ms": None,
            "interrupted": True,
        }
    ]


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi, you've reached Sam. Please leave a message after the tone.",
        "The person you are calling is not available.",
        "Welcome to the voicemail of 555 0100.",
    ],
)
def test_voicemail_greetings_are_machines(greeting):
    assert voicemail.sounds_like_machine(greeting)


@pytest.mark.parametrize("hello", ["Hello?", "Yes, this is Sam speaking.", "Who is this?"])
def test_people_answering_are_not_machines(hello):
    assert not voicemail.sounds_like_machine(hello)


KEYS = [
    {"name": "n", "type": "integer", "description": ""},
    {"name": "ok", "type": "boolean", "description": ""},
    {"name": "d", "type": "date", "description": ""},
    {"name": "tags", "type": "array", "description": ""},
]


def test_extraction_values_are_validated_against_their_types_and_missing_keys_are_null():
    assert extraction.validate({"n": 3, "ok": False, "tags": ["a"]}, KEYS) == {
        "n": 3,
        "ok": False,
        "d": None,
        "tags": ["a"],
    }
    for bad in ({"n": "3"}, {"ok": "yes"}, {"d": "tomorrow"}, {"tags": [1]}, {"n": True}):
        with pytest.raises(extraction.ExtractionInvalid):
            extraction.validate(bad, KEYS)
    with pytest.raises(extraction.ExtractionInvalid):
        extraction.validate(["not", "an", "object"], KEYS)


def test_recording_links_verify_only_with_the_right_signature_before_expiry():
    signer = recording.LinkSigner(b"k" * 32, "http://x", 60)
    url, exp = signer.link("abc", now=1000)
    sig = url.split("sig=")[1]
    assert exp == 1060 and signer.verify("abc", exp, sig, now=1059)
    assert not signer.verify("abc", exp, sig, now=1061)  # expired
    assert not signer.verify("abd", exp, sig, now=1000)  # another recording
    assert not signer.verify("abc", exp + 1000, sig, now=1000)  # extended expiry
    assert not recording.LinkSigner(b"j" * 32, "http://x", 60).verify("abc", exp, sig, now=1000)  # another key


def test_scripted_brain_calls_the_end_call_tool_only_when_offered():
    said = [{"role": "user", "content": "ok, goodbye"}]
    assert scripted_brain.reply_for(said, ["end_call"]) == ("end_call", None)
    tool, text = scripted_brain.reply_for(said, [])
    assert tool is None and text


def test_scripted_brain_extraction_answers_the_keys_it_was_asked():
    messages = [
        {"role": "system", "content": 'x KEYS_JSON: [{"name": "wants", "type": "boolean"}]'},
        {"role": "user", "content": "user: yes please book it"},
    ]
    assert scripted_brain.extraction_answer(messages) == '{"wants": true}'


def test_pacing_stats_count_frames_later_than_forty_ms():
    from voxline.voice.pacing import PacingStats

    stats = PacingStats(keep_samples=True)
    for late in (0.0, 0.039, 0.041, 0.2):
        stats.record(late)
    assert stats.frames == 4 and stats.late_frames == 2


def test_turn_clock_measures_from_the_end_of_speech_not_from_the_vad_decision():
    from pipecat.frames.frames import VADUserStoppedSpeakingFrame

    from voxline.voice.pacing import TurnClock

    clock = TurnClock()
    clock.user_stopped(VADUserStoppedSpeakingFrame(stop_secs=0.4, timestamp=time.time()))
    ms = clock.audio_sent()
    assert ms is not None and 400 <= ms < 450
    assert clock.take() == ms and clock.take() is None
    assert clock.audio_sent() is None  # later audio of the same turn is not a new answer


def test_the_voice_catalog_lists_the_voices_of_the_configured_tts_engines_only():
    from voxline.voice import catalog

    assert {v.engine for v in catalog.voices("piper")} == {"piper"}
    both = catalog.voices("piper, openai")
    assert {v.engine for v in both} == {"piper", "openai"}
    assert catalog.find(both[-1].id, "piper") is None and catalog.find_any(both[-1].id) is not None
