"""The admission rules: when a server process has room for another call, and the windows they read."""

from __future__ import annotations

from voxline.core.admission import FrameWindow, Limits, PeakWindow, Reading, Refusal, judge

LIMITS = Limits(max_calls=10, max_loop_lag_ms=60, max_late_frames_pct=1.0, max_cpu_pct=90)


def test_room_is_the_ceiling_minus_the_calls_held_while_measurements_are_healthy() -> None:
    assert judge(Reading(3, 10, 0.1, 40), LIMITS).room == 7
    full = judge(Reading(10, 0, 0, 0), LIMITS)
    assert full.room == 0 and full.reason is Refusal.MAX_CALLS


def test_pressure_refuses_each_for_its_own_reason() -> None:
    assert judge(Reading(3, 61, 0, 0), LIMITS).reason is Refusal.LOOP_LAG
    assert judge(Reading(3, 0, 1.5, 0), LIMITS).reason is Refusal.FRAMES_LATE
    assert judge(Reading(3, 0, 0, 95), LIMITS).reason is Refusal.CPU


def test_a_process_with_no_calls_is_never_refused_for_pressure() -> None:
    """Its load cannot come from calls; refusing would leave it idle for good."""
    verdict = judge(Reading(0, 500, 50, 100), LIMITS)
    assert verdict.room == 10 and verdict.reason is None


def test_a_process_whose_engines_are_still_loading_takes_no_call_even_when_idle() -> None:
    cold = judge(Reading(calls=0, loop_lag_ms=0, late_frames_pct=0, cpu_pct=0, ready=False), LIMITS)
    assert cold.room == 0 and cold.reason == Refusal.WARMING_UP
    warm = judge(Reading(calls=0, loop_lag_ms=0, late_frames_pct=0, cpu_pct=0, ready=True), LIMITS)
    assert warm.room == 10 and warm.reason is None


def test_new_calls_are_taken_at_most_the_ramp_a_second() -> None:
    ramped = Limits(max_calls=80, max_loop_lag_ms=60, max_late_frames_pct=1.0, max_cpu_pct=90, max_claims_per_sec=5)
    assert judge(Reading(0, 0, 0, 0, claims_last_sec=0), ramped).room == 5  # not 80 at once
    assert judge(Reading(3, 0, 0, 0, claims_last_sec=3), ramped).room == 2
    spent = judge(Reading(5, 0, 0, 0, claims_last_sec=5), ramped)
    assert spent.room == 0 and spent.reason is Refusal.RAMP
    assert judge(Reading(78, 0, 0, 0, claims_last_sec=0), ramped).room == 2  # the ceiling still binds
    assert judge(Reading(3, 0, 0, 0, claims_last_sec=50), LIMITS).room == 7  # 0: no ramp


def test_frame_window_forgets_seconds_older_than_its_window() -> None:
    now = [100.0]
    window = FrameWindow(secs=5, clock=lambda: now[0])
    for _ in range(98):
        window.record(False)
    window.record(True)
    window.record(True)
    assert window.late_pct() == 2.0
    now[0] = 106.0
    window.record(False)
    assert window.late_pct() == 0.0 and window.total_late == 2 and window.total_frames == 101


def test_peak_window_keeps_the_largest_recent_value() -> None:
    now = [0.0]
    peak = PeakWindow(secs=3, clock=lambda: now[0])
    peak.add(5)
    now[0] = 1
    peak.add(80)
    now[0] = 2
    peak.add(10)
    assert peak.peak() == 80
    now[0] = 4.5  # the 80 is older than 3 s now
    assert peak.peak() == 10
    now[0] = 9
    assert peak.peak() == 0.0


def test_the_default_ceiling_shares_the_cores_among_the_server_processes() -> None:
    from voxline.core.admission import CALLS_PER_CORE, default_ceiling

    assert default_ceiling(cores=2, processes=1) == CALLS_PER_CORE  # one event loop: a second core does not help
    assert default_ceiling(cores=2, processes=2) == CALLS_PER_CORE
    assert default_ceiling(cores=2, processes=4) == CALLS_PER_CORE // 2  # two processes to a core
    assert default_ceiling(cores=1, processes=200) == 1  # never none


def test_a_configured_ceiling_wins_over_the_default(monkeypatch) -> None:
    import os

    from voxline.core.admission import default_ceiling
    from voxline.settings import Settings

    monkeypatch.setenv("VOXLINE_SERVER_PROCESSES", "8")
    cores = len(os.sched_getaffinity(0))
    assert Settings().calls_ceiling == default_ceiling(cores, 8)
    monkeypatch.setenv("VOXLINE_MAX_CALLS_PER_PROCESS", "7")
    assert Settings().calls_ceiling == 7


def test_what_warming_the_engines_cost_the_loop_does_not_refuse_the_first_calls() -> None:
    from voxline.app_state import Admission

    process = Admission(LIMITS)
    process.ready = False
    process.sampled(0.400, now=100.0, loop_cpu_secs=0.0)  # loading Whisper/Piper held the loop 400 ms
    process.sampled(0.0, now=100.05, loop_cpu_secs=0.05)
    process.warmed()
    process.claimed("first")
    verdict = process.verdict()
    assert verdict.reason is None and verdict.room == LIMITS.max_calls - 1
