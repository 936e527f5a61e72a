"""All configuration, read from the environment (VOXLINE_*).

The embedded default needs nothing set: an SQLite file and a generated encryption key live in the
data directory (`./.voxline/` unless VOXLINE_DATA_DIR says otherwise).
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from voxline.private_files import private_dir, private_file


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOXLINE_", extra="ignore")

    data_dir: Path = Field(default=Path(".voxline"), description="Where SQLite, keys and recordings live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/voxline.db",
    )
    database_schema: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="PostgreSQL schema to use (search_path); default the server's",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", description="URL carriers and browsers use to reach this server"
    )
    encryption_key: str | None = Field(
        default=None,
        description="base64 32-byte key for credentials at rest; generated into the data dir when unset",
    )
    log_level: str = "info"
    rate_limit_per_min: int = Field(default=60, ge=1, description="General requests per minute per key")
    calls_rate_limit_per_min: int = Field(default=10, ge=1, description="/calls/* requests per minute per key")
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_secs: int = 24 * 3600
    sandbox_concurrency: int = Field(
        default=10,
        ge=1,
        description="Sandbox (rg_test_) calls a partner may have active at once, counted apart from its live limit; "
        "`voxline partner update --sandbox-concurrency N` sets one partner's own",
    )

    # Callee safety (safety/): calling hours in the callee's local time, unless a partner sets its own
    calling_hours: str = Field(
        default="09:00-21:00",
        pattern=r"^\d\d:\d\d-\d\d:\d\d$",
        description="Live calls' default calling hours, every day, in the callee's local time (TRAI: 09:00-21:00)",
    )
    sandbox_calling_hours: str = Field(
        default="00:00-24:00",
        pattern=r"^\d\d:\d\d-\d\d:\d\d$",
        description="Sandbox calls' default hours: they reach only simulated callees (a test-mode policy rehearses "
        "the live one)",
    )
    calling_fallback_timezone: str = Field(
        default="UTC", description="Zone for numbers whose range has no known time zone (a partner may set its own)"
    )
    campaign_poll_secs: float = Field(default=0.5, gt=0, description="How often the campaign scheduler looks for work")

    # Webhooks (session.completed delivery)
    webhook_timeout_secs: float = Field(default=10.0, gt=0, description="Per-attempt timeout; 2xx in time = success")
    webhook_retry_schedule: str = Field(
        default="1,2,4",
        description="Seconds to wait before each retry, comma-separated (default: the v2 API's 1,2,4 = 4 attempts); "
        "'extended' adds a tail up to 6 h: 1,2,4,30,120,600,1800,3600,7200,21600",
    )
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1, description="Each delay is scaled by 1 ± this")
    webhook_allow_http: bool = Field(default=False, description="Development only: allow http:// webhook URLs")
    webhook_allow_private_targets: bool = Field(
        default=False, description="Allow webhook targets on private/loopback networks for every key"
    )
    webhook_url_changes_per_min: int = Field(
        default=10, ge=1, description="Webhook endpoints created or re-pointed per partner per minute"
    )
    webhook_worker_enabled: bool = Field(default=True, description="Run the delivery worker in this process")
    webhook_max_in_flight: int = Field(default=256, ge=1, description="Concurrent posts per process")
    webhook_max_in_flight_per_endpoint: int = Field(
        default=16, ge=1, description="Concurrent posts to one endpoint, so a slow receiver can't take every slot"
    )
    webhook_poll_interval_secs: float = Field(default=0.25, gt=0, description="Idle check for due deliveries")
    webhook_history_days: float = Field(
        default=30.0, gt=0, description="Finished deliveries (delivered, dead, canceled) are kept this long"
    )
    webhook_lease_secs: float = Field(
        default=60.0,
        gt=0,
        description="A claimed delivery becomes due again this long after a worker vanished; keep it above "
        "twice the timeout, or a slow post may be sent twice (same X-Webhook-Id)",
    )

    # Carriers and the dialer (telephony/, dialer/). Base URLs let an emulator or a regional endpoint stand in.
    twilio_api_base: str = Field(default="https://api.twilio.com", description="Twilio REST root")
    plivo_api_base: str = Field(default="https://api.plivo.com", description="Plivo REST root")
    vobiz_api_base: str = Field(default="https://api.vobiz.ai/api", description="Vobiz (Plivo-compatible) REST root")
    exotel_api_base: str | None = Field(
        default=None, description="Exotel REST root; unset = https://<the connection's subdomain>"
    )
    mcube_api_base: str = Field(
        default="https://config.mcube.com", description="MCube REST root (from a third-party integration)"
    )
    dialer_enabled: bool = Field(default=True, description="Run the dialer in this process")
    warm_up_engines: bool = Field(
        default=True,
        description="Load and run the offline speech engines once at start, and claim no call until they are "
        "ready (a cold model's first word takes seconds: the first callee would hear silence)",
    )
    call_runtime: Literal["voice", "responder"] = Field(
        default="voice",
        description="What answers a connected call: voice = the AI conversation; responder = the sandbox's test "
        "tone (carrier tests that need no speech engines)",
    )
    sandbox_callee: Literal["talks", "tone"] = Field(
        default="talks",
        description="Who answers a sandbox call to a number that is not a documented test number: talks = a "
        "person who holds a short spoken conversation (offline speech); tone = a 440 Hz tone for one second "
        "(carrier tests and load runs that need no speech)",
    )
    dialer_poll_secs: float = Field(default=0.2, gt=0, description="How often an idle dialer looks for work")
    dialer_max_inflight: int = Field(default=64, ge=1, description="Create-call requests in flight per process")
    dialer_cps: float | None = Field(default=None, gt=0, description="Calls/second per connection; unset = carrier's")
    dialer_max_attempts: int = Field(default=3, ge=1, description="Tries of a create-call on transient errors")
    dialer_retry_base_secs: float = Field(default=2.0, ge=0, description="First retry delay; doubles each try")
    dialer_lease_secs: float = Field(
        default=30.0, gt=0, description="A call whose owning process stops renewing it this long is reconciled"
    )
    carrier_timeout_secs: float = Field(default=10.0, gt=0, description="Timeout of one carrier REST request")
    ring_timeout_secs: float = Field(default=60.0, gt=0, description="End a call not answered within this")
    default_max_call_secs: int = Field(default=3600, ge=10, description="Hang up longer calls; agents may lower it")
    # SIP trunks (telephony/sip_*): where our user agent listens and what address it writes into SIP and SDP.
    sip_workers: int = Field(
        default=4,
        ge=0,
        le=64,
        description="SIP worker processes (4 calls each, PJSIP's limit); 0 = PJSIP inside the server (1 x 4 calls)",
    )
    sip_bind_host: str = Field(default="0.0.0.0", description="Address SIP and RTP sockets bind to")
    sip_public_host: str | None = Field(
        default=None, description="Public address written in Via/Contact and SDP when behind NAT (unset: the bound one)"
    )
    sip_tls_ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) TLS trunks' certificates are checked against; unset: the system's"
    )
    sip_tls_verify: bool = Field(default=True, description="Check a TLS trunk's certificate and host name")
    sip_keepalive_secs: int = Field(
        default=30, ge=0, description="In-dialog OPTIONS this often on an answered call; 408/481 ends it; 0 = off"
    )
    session_finish_grace_secs: float = Field(
        default=30.0, ge=0, description="After a call ends, how long the conversation has to file its session"
    )

    # Admission control (core/admission.py): a process claims a call only while it has room for it.
    max_calls_per_process: int | None = Field(
        default=None,
        ge=1,
        description="Ceiling of calls one server process holds (claimed, ringing or connected). Unset: 50 per "
        "process while each has a core of its own, shared out when processes outnumber cores (`--workers 4` on 2 "
        "cores: 25 each). 50 is what one process held on a 2-core machine with stand-in engines with no hole in "
        "any callee's audio, and two processes on two cores 50 each. With offline Whisper/Piper a process holds "
        "far fewer, which the measurements below catch. Measure yours with bench/concurrent_calls.py",
    )
    server_processes: int = Field(
        default=1, ge=1, description="Server processes on this machine (`voxline serve --workers` sets it)"
    )
    admission_max_loop_lag_ms: float = Field(
        default=60.0, gt=0, description="No new call while the event loop woke this late (worst of the last 3 s)"
    )
    admission_max_late_frames_pct: float = Field(
        default=1.0, gt=0, description="No new call while more than this share of outgoing frames was late (5 s)"
    )
    admission_max_loop_cpu_pct: float = Field(
        default=90.0, gt=0, description="No new call while the event-loop thread used more CPU than this (5 s)"
    )
    admission_max_claims_per_sec: int = Field(
        default=50,
        ge=0,
        description="New calls one process takes per second at most (0 = no limit): a burst started at once "
        "holds the event loop before its load shows in the measurements above. It bounds dialing too, so it "
        "sits well above any carrier's calls-per-second: at 10 a second, a paced campaign of 10 starts a second "
        "queued up to 7.6 s (p99) before its dial",
    )
    first_audio_timeout_secs: float = Field(
        default=4.0,
        gt=0,
        description="A call whose bot has sent no audio this long after its media stream opened (plus any wait "
        "voicemail detection adds) is a fault: it is ended politely, failed with reason no_first_audio. 4 s suits "
        "real engines (a cloud LLM and TTS, or Piper on a CPU, whose first sentence after start-up is the slowest); "
        "1.5 s suits the stand-in engines the benchmarks use",
    )
    metrics_token: str | None = Field(
        default=None, description="When set, /metrics requires `Authorization: Bearer <token>` (never logged)"
    )

    # The live conversation (voice/): which engines hold a call. Empty LLM base URL = the scripted brain.
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (OpenAI, Groq, Ollama, vLLM); unset = scripted brain"
    )
    llm_api_key: str | None = Field(default=None, description="Key for the LLM endpoint (never logged)")
    llm_model: str = Field(default="gpt-4o-mini", description="Model name sent to the LLM endpoint")
    stt_engine: str = Field(
        default="whisper-local", pattern=r"^(whisper-local|deepgram|openai)$", description="Speech-to-text engine"
    )
    stt_api_key: str | None = Field(default=None, description="Key for a cloud STT engine")
    tts_engines: str = Field(
        default="piper",
        description="Comma list of text-to-speech engines whose voices agents may use: "
        "piper,openai,cartesia,elevenlabs",
    )
    openai_api_key: str | None = Field(default=None, description="Key for OpenAI STT/TTS")
    cartesia_api_key: str | None = None
    elevenlabs_api_key: str | None = None
    deepgram_api_key: str | None = None
    vad_stop_secs: float = Field(default=0.4, ge=0.1, le=2.0, description="Silence that ends the callee's turn")
    vad_start_secs: float = Field(
        default=0.12,
        ge=0.03,
        le=1.0,
        description="Speech the VAD must hear before the callee counts as speaking (and the bot stops)",
    )
    turn_detector: str = Field(
        default="vad", pattern=r"^(vad|smart-turn)$", description="vad = silence only; smart-turn = Pipecat's model"
    )
    silence_timeout_secs: float = Field(default=30.0, gt=0, description="End the call after this long with no speech")
    recording_link_ttl_secs: int = Field(default=7 * 24 * 3600, ge=60, description="Life of a signed recording link")
    webrtc_ice_servers: str = Field(
        default="",
        pattern=r"^(stuns?:[^\s,]+)?(,stuns?:[^\s,]+)*$",
        description="Browser test sessions: comma list of STUN URLs (stun:host:port) the server and the join page "
        "use to find their public addresses; empty = host addresses only (loopback, LAN, VPN)",
    )
    carrier_hangup_grace_secs: float = Field(
        default=5.0, ge=0, description="After the farewell, wait this long for the carrier to close, then hang up"
    )

    @property
    def calls_ceiling(self) -> int:
        """The ceiling of calls per process: the configured one, or the default for this machine's cores."""
        if self.max_calls_per_process is not None:
            return self.max_calls_per_process
        from voxline.core.admission import default_ceiling

        return default_ceiling(len(os.sched_getaffinity(0)), self.server_processes)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxline.db').resolve()}"

    @cached_property
    def resolved_encryption_key(self) -> bytes:
        """The 32-byte data key: from settings, else from `<data_dir>/encryption.key`, made on first use."""
        if self.encryption_key:
            return _decode_key(self.encryption_key)
        private_dir(self.data_dir)  # 0700, also tightening a data dir an older version made 0755
        path = self.data_dir / "encryption.key"
        if path.exists():
            return _decode_key(private_file(path).read_text().strip())
        encoded = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        # Create exclusively with owner-only permissions; a concurrent first start reads the winner's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _decode_key(path.read_text().strip())
        with os.fdopen(fd, "w") as fh:
            fh.write(encoded + "\n")
        return _decode_key(encoded)


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4))
    if len(raw) != 32:
        raise ValueError("VOXLINE_ENCRYPTION_KEY must be 32 bytes, base64-encoded")
    return raw
