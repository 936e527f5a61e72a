"""The transcript keeps each bot sentence in its own turn whatever order Pipecat's frames arrive in."""

from voxline.voice.transcript import Transcript


def test_a_sentence_whose_text_arrives_just_after_bot_stopped_stays_in_the_turn_that_ended():
    seen = []
    t = Transcript(listeners=[seen.append])
    t.bot_started()
    t.answered_after(120)
    t.bot_stopped()  # "bot stopped" (a system frame) overtook the sentence's text frame
    t.bot_text("Hello Sajal, this is the clinic calling.")
    t.bot_started()
    t.bot_text("Our time is up, Sajal. Goodbye.")
    t.finish()
    assert [x.content for x in t.turns] == [
        "Hello Sajal, this is the clinic calling.",
        "Our time is up, Sajal. Goodbye.",
    ]
    assert t.turns[0].latency_ms == 120
    assert [x.content for x in seen] == [x.content for x in t.turns]  # each announced once


def test_text_long_after_the_bot_stopped_opens_a_new_turn():
    t = Transcript()
    t.bot_started()
    t.bot_text("First.")
    t.bot_stopped()
    t._closed_at -= 1.0  # a second later
    t.bot_text("Second.")
    t.finish()
    assert [x.content for x in t.turns] == ["First.", "Second."]
