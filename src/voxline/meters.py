"""What one app counts for `/metrics`: a Prometheus registry of its own (never the library's global one,
so two apps in one process never collide), the counters use-cases bump, and gauges read at scrape time.

Only aggregate numbers: no phone numbers, call ids, partner ids or anything a partner sent.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from voxline.app_state import Admission
from voxline.core.admission import Refusal

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
FIRST_AUDIO_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class _AdmissionCollector(Collector):
    """Read at scrape time from the admission state: cheap for the call path (a frame only bumps ints)."""

    def __init__(self, admission: Admission) -> None:
        self._a = admission

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        a = self._a
        yield GaugeMetricFamily(
            "voxline_calls_active", "Calls in this process's care (claimed to media end)", a.calls()
        )
        yield GaugeMetricFamily("voxline_calls_max", "Ceiling of calls per process (settings)", a.limits.max_calls)
        verdict = a.verdict()
        yield GaugeMetricFamily("voxline_admission_room", "New calls this process would claim now", verdict.room)
        refusing = GaugeMetricFamily(
            "voxline_admission_refusing", "1 while this process takes no new call, by reason", labels=["reason"]
        )
        for reason in Refusal:
            refusing.add_metric([reason.value], 1.0 if verdict.reason is reason else 0.0)
        yield refusing
        refusals = CounterMetricFamily(
            "voxline_admission_refusals", "Dialer rounds that left due jobs queued for lack of room", labels=["reason"]
        )
        for reason in Refusal:
            refusals.add_metric([reason.value], a.refusals.get(reason.value, 0))
        yield refusals
        yield GaugeMetricFamily(
            "voxline_event_loop_lag_seconds", "Worst event-loop wake-up delay over the last 3 s", a.lag.peak() / 1000
        )
        yield GaugeMetricFamily(
            "voxline_event_loop_cpu_ratio",
            "CPU of the event-loop thread over the last 5 s (1 = a core)",
            a.loop_cpu_pct() / 100,
        )
        yield CounterMetricFamily("voxline_frames_sent", "Outgoing 20 ms audio frames", a.frames.total_frames)
        yield CounterMetricFamily(
            "voxline_frames_late", "Outgoing frames more than 40 ms past their clock deadline", a.frames.total_late
        )
        yield GaugeMetricFamily(
            "voxline_frames_late_ratio", "Share of outgoing frames late over the last 5 s", a.frames.late_pct() / 100
        )


class Meters:
    def __init__(self, admission: Admission) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.admission = admission
        r.register(_AdmissionCollector(admission))
        self.first_audio = Histogram(
            "voxline_first_audio_delay_seconds",
            "Media stream open to the first bot audio frame sent",
            buckets=FIRST_AUDIO_BUCKETS,
            registry=r,
        )
        self.turn_latency = Histogram(
            "voxline_turn_latency_seconds",
            "Callee stopped speaking to the bot's answer leaving (as in the transcript's latency_ms)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.call_faults = Counter("voxline_call_faults", "Calls ended as faults, by reason", ["reason"], registry=r)
        self.carrier_errors = Counter(
            "voxline_carrier_api_errors", "Carrier REST requests that failed, by carrier", ["carrier"], registry=r
        )
        self.webhook_failures = Counter(
            "voxline_webhook_failures",
            "Webhook delivery attempts that failed (dead: no retry left)",
            ["final"],
            registry=r,
        )
        self.dial_queue_depth = Gauge("voxline_dial_queue_depth", "Calls queued and due to be dialed", registry=r)
        self.dial_queue_oldest = Gauge(
            "voxline_dial_queue_oldest_age_seconds", "How long the oldest due queued call has waited", registry=r
        )
        self.webhook_backlog = Gauge("voxline_webhook_backlog", "Webhook deliveries not yet delivered", registry=r)
        self.webhook_oldest = Gauge(
            "voxline_webhook_backlog_oldest_age_seconds", "Age of the oldest undelivered webhook", registry=r
        )
        self.call_meter = AppCallMeter(self)


class AppCallMeter:
    """The `core.call_meter.CallMeter` a conversation of this app reports to."""

    def __init__(self, meters: Meters) -> None:
        self._m = meters
        self._frames = meters.admission.frames

    def frame_sent(self, late: bool) -> None:
        self._frames.record(late)

    def first_audio(self, delay_secs: float) -> None:
        self._m.first_audio.observe(delay_secs)

    def turn_latency(self, secs: float) -> None:
        self._m.turn_latency.observe(secs)

    def fault(self, reason: str) -> None:
        self._m.call_faults.labels(reason).inc()
