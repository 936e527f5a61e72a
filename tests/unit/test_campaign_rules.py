"""Campaign rules (core/campaign_rules.py): outcomes, retries, concurrency clamp, metadata → variables."""

from datetime import UTC, datetime, timedelta

from voxline.core import campaign_rules as r

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_outcomes_from_the_call():
    assert r.outcome_of("completed", "completed", False) == r.COMPLETED
    assert r.outcome_of("completed", "voicemail", False) == r.VOICEMAIL
    assert r.outcome_of("completed", "opted_out", True) == r.OPTED_OUT
    assert r.outcome_of("busy", None, False) == r.BUSY and r.outcome_of("no_answer", None, False) == r.NO_ANSWER


def test_retries_follow_the_policy_then_give_up():
    policy = r.RetryPolicy(retry_on=("busy",), delays_secs=(60, 300), max_attempts=3)
    assert r.after_attempt(policy, 1, r.BUSY, NOW) == r.Next(r.WAITING, NOW + timedelta(seconds=60))
    assert r.after_attempt(policy, 2, r.BUSY, NOW) == r.Next(r.WAITING, NOW + timedelta(seconds=300))
    assert r.after_attempt(policy, 3, r.BUSY, NOW) == r.Next(r.GAVE_UP)
    assert r.after_attempt(policy, 1, r.NO_ANSWER, NOW) == r.Next(r.GAVE_UP)  # not in retry_on
    assert r.after_attempt(policy, 1, r.COMPLETED, NOW) == r.Next(r.DONE)
    assert r.after_attempt(policy, 1, r.OPTED_OUT, NOW) == r.Next(r.DONE)  # never again, whatever the policy


def test_the_last_delay_repeats():
    policy = r.RetryPolicy(retry_on=("busy",), delays_secs=(10,), max_attempts=5)
    assert policy.delay_after(4) == timedelta(seconds=10)


def test_concurrency_is_clamped_to_one_to_ten():
    assert [r.clamp_concurrency(v) for v in (None, 0, -3, 1, 7, 10, 11, 500)] == [1, 1, 1, 1, 7, 10, 10, 10]


def test_metadata_fills_declared_variables_by_name_or_mapping():
    v = r.Variables(["callee_name", "plan", "phone"], {"callee_name": "first"})
    got = v.for_contact("+919800000001", "Asha", {"first": "Asha K", "plan": "gold", "other": "x"})
    assert got == {"callee_name": "Asha K", "plan": "gold", "phone": "+919800000001"}
    assert r.Variables(["name"]).for_contact("+919800000001", "Asha", {}) == {"name": "Asha"}
