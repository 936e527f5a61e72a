"""Who answers a sandbox call, and what they say: chosen by the last four digits of the number dialed.

Like a payment provider's test cards, these numbers let an integrator exercise every outcome from the
public API, without code: any `to_number` ending in one of the suffixes below behaves as the table says
(the README's "Sandbox test numbers" and `/docs` show the same table, generated from `TEST_NUMBERS`).
Every other number reaches the talking callee: a person who answers, holds a short conversation with the
agent in real (offline-synthesized) speech, says goodbye and hangs up.

A sandbox call may also give the callee its own lines: `variables.sandbox_callee_say`, lines separated by
`|` (test keys only; see `calls/sandbox_callee.py`). The callee says them, one per turn, then hangs up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

OUTCOMES = ("human", "machine", "busy", "declined", "no_answer", "failed")


@dataclass(frozen=True)
class Script:
    """What the simulated callee does."""

    outcome: str = "human"
    ring_secs: float = 0.05
    talk_secs: float | None = 1.0  # the callee hangs up after this long; None: until a line plan or we end it
    hz: float = 440.0  # the tone the callee "speaks" when it has no lines (0: silence)
    answer_twice: bool = False  # the carrier quirk: ask for the answer document twice, open a second stream
    bridged_secs: float = 0.3  # after a transfer, how long the callee talks with whoever the call was bridged to
    # What the callee says (PCM16, 8 kHz, one item per line) instead of the tone; see `Emulator._say_lines`.
    lines: tuple[bytes, ...] = ()
    # The same as text, synthesized offline when the call is answered (used when `lines` is empty).
    texts: tuple[str, ...] = ()
    speaks_first: bool = False  # says its first line at once (an answering machine), not after the greeting
    interrupts: bool = False  # starts its first line while the bot is still speaking (barge-in)
    hangs_up_after_lines: bool = False  # once the bot has answered its last line, the callee hangs up
    beep_after_first_line: bool = False  # an answering machine's tone after its greeting


@dataclass(frozen=True)
class TestNumber:
    suffix: str
    behaviour: str
    what_happens: str
    script: Script


# The talking callee: every number that ends in no other suffix. The lines suit any agent; against the
# offline scripted brain they confirm, book an appointment and say goodbye (the bot then ends the call).
TALKER = Script(
    "human",
    talk_secs=None,
    texts=("Yes, speaking. What is this about?", "Could you book an appointment for me?", "Great, thank you. Goodbye."),
    hangs_up_after_lines=True,
)

TEST_NUMBERS: tuple[TestNumber, ...] = (
    TestNumber("0486", "busy", "The line is busy: status `busy`, no conversation.", Script("busy")),
    TestNumber(
        "0408", "no_answer", "Rings until the ring timeout: status `no_answer`.", Script("no_answer", ring_secs=0.3)
    ),
    TestNumber(
        "0603", "declined", "The callee rejects the call while it rings: status `busy` (declined).", Script("declined")
    ),
    TestNumber("0500", "failed", "The carrier fails the call: status `failed`.", Script("failed")),
    TestNumber(
        "0666",
        "voicemail",
        "An answering machine: the carrier reports a machine; a voicemail greeting, a beep, 8 s of recording.",
        Script(
            "machine",
            talk_secs=8.0,  # greeting, beep, then it records a few seconds and hangs up
            texts=(
                "Hi, you have reached Sam. I can't take your call right now. Please leave a message after the tone.",
            ),
            speaks_first=True,
            beep_after_first_line=True,
        ),
    ),
    TestNumber(
        "0111",
        "silent",
        "Answers and never says a word; hangs up after 30 seconds if the agent has not.",
        Script("human", talk_secs=30.0, hz=0.0),
    ),
    TestNumber(
        "0222",
        "interrupts",
        "Talks over the agent's greeting (barge-in), then answers briefly and hangs up.",
        Script(
            "human",
            talk_secs=None,
            texts=("Sorry, who is calling? Is this about my appointment?", "Okay. Goodbye."),
            interrupts=True,
            hangs_up_after_lines=True,
        ),
    ),
    TestNumber(
        "0333",
        "opt_out",
        'Says "Please don\'t call me again. Remove my number." and hangs up after the agent answers.',
        Script(
            "human", talk_secs=None, texts=("Please don't call me again. Remove my number.",), hangs_up_after_lines=True
        ),
    ),
    TestNumber(
        "0444",
        "asks_for_human",
        "Asks to speak to a real person (the agent's transfer, when it has one, is exercised).",
        Script(
            "human",
            talk_secs=None,
            texts=("Can I speak to a real person, please?", "Thank you. Goodbye."),
            hangs_up_after_lines=True,
        ),
    ),
    TestNumber(
        "0777",
        "long_call",
        "A long conversation: six turns over a minute or more.",
        Script(
            "human",
            talk_secs=None,
            texts=(
                "Hello, yes, this is me.",
                "I wanted to ask about my appointment.",
                "Could you book one for next week instead?",
                "Is there parking near the clinic?",
                "Yes, that works for me.",
                "Thanks for your help. Goodbye.",
            ),
            hangs_up_after_lines=True,
        ),
    ),
    TestNumber(
        "0999",
        "stays_on_line",
        "Answers, says one line, then stays on the line in silence until the agent ends the call.",
        Script("human", talk_secs=None, texts=("Yes, speaking. What is this about?",)),
    ),
    TestNumber(
        "0300",
        "short_call",
        "Answers with a tone and hangs up after 0.3 seconds (load tests and benchmarks).",
        Script("human", talk_secs=0.3),
    ),
)

TONE = Script()  # the `tone` callee (settings.sandbox_callee): a 440 Hz tone for one second


def script_for(to_number: str, default: Script | None = None) -> Script:
    """The behaviour a sandbox number selects: a test number's, else `default` (None: the talking callee)."""
    for test in TEST_NUMBERS:
        if to_number.endswith(test.suffix):
            return test.script
    return default or TALKER


def with_custom_lines(script: Script, texts: tuple[str, ...]) -> Script:
    """A human callee who says `texts` (the call's `sandbox_callee_say`) and hangs up once answered."""
    if script.outcome != "human" or not texts:
        return script
    return replace(script, lines=(), texts=texts, talk_secs=None, hangs_up_after_lines=True, hz=440.0)


def markdown_table() -> str:
    """The test-number table for the README and the API docs."""
    rows = ["| number ends in | behaviour | what happens |", "|---|---|---|"]
    rows += [f"| `{t.suffix}` | `{t.behaviour}` | {t.what_happens} |" for t in TEST_NUMBERS]
    rows.append(
        "| anything else | `talks` | Answers, holds a short conversation in real speech "
        "(three lines, one per turn), says goodbye and hangs up. |"
    )
    return "\n".join(rows)
