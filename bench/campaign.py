"""Campaigns: contacts called through the scheduler, the dialer and the Twilio emulator of one in-process
server (sandbox mode), with short calls.

The contacts are split into campaigns of at most 1,000 (a campaign calls at most 10 at once, §9.3) of one
partner, which share its concurrency limit. Most callees are busy (…0486: create → ringing → busy), a share
answer and talk briefly (…0300: media both ways). A tenth are Californian numbers outside the campaigns'
calling window (the window is the two hours of the current Indian time, evaluated in each callee's own
zone): they must never be dialed. Reports the scheduler's own time per contact (its ticks: settle, claim,
start the call through the ordinary start-call use-case), dials/s against the connection's pacing, and
checks from the database and the emulator: 0 double dials, 0 calls outside a window.

    python bench/campaign.py [--contacts 10000] [--limit 50] [--cps 50] [--answered-share 0.1]
                             [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from bench._common import PG_URL, fresh_schema, print_table, write_json  # noqa: E402

TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "fedcba9876543210" * 2,
    "from_number": "+14155551234",
}
PER_CAMPAIGN = 1000


def window_now() -> dict[str, str]:
    """The two hours around now in India (a window every Indian callee is inside, no Californian one)."""
    ist = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    start = max(0, ist.hour - 1)
    return {"start": f"{start:02d}:00", "end": f"{min(24, start + 2):02d}:00"}


def callees(n: int, answered_share: float) -> list[str]:
    every = max(1, round(1 / answered_share)) if answered_share > 0 else 0
    out = []
    for i in range(n):
        if i % 10 == 9:
            out.append(f"+1415{2000000 + i:07d}")  # California: outside the window now
        else:
            out.append(f"+9198{i:04d}" + ("0300" if every and i % every == 0 else "0486"))
    return out


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn
    from sqlalchemy import select

    from voxline.accounts import partners
    from voxline.app import create_app
    from voxline.campaigns import scheduler as sched_mod
    from voxline.context import Context
    from voxline.core import calling_hours as hours
    from voxline.core import keys
    from voxline.settings import Settings
    from voxline.store.campaign_tables import Campaign, CampaignAttempt, CampaignContact
    from voxline.store.migrate import upgrade
    from voxline.store.models import Call

    data_dir = Path(tempfile.mkdtemp(prefix=f"vxbench-campaign-{backend}-"))
    schema = fresh_schema() if backend == "postgres" else None
    url = PG_URL if backend == "postgres" else f"sqlite+aiosqlite:///{data_dir}/voxline.db"
    await asyncio.to_thread(upgrade, url, schema)
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        database_schema=schema,
        public_base_url=base,
        rate_limit_per_min=1_000_000,
        calls_rate_limit_per_min=1_000_000,
        call_runtime="responder",
        dialer_poll_secs=0.05,
        dialer_cps=args.cps,
        session_finish_grace_secs=0.5,
        carrier_hangup_grace_secs=1.0,
        campaign_poll_secs=0.2,
        webhook_worker_enabled=False,
        log_level="warning",
        twilio_api_base=f"{base}/sandbox/twilio",
    )
    # The scheduler's own time: every tick, measured around the real method.
    spent = {"ticks": 0, "secs": 0.0, "started": 0}
    real_tick = sched_mod.Scheduler.tick

    async def timed_tick(self):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        stats = await real_tick(self)
        spent["ticks"] += 1
        spent["secs"] += time.perf_counter() - t0
        spent["started"] += stats.started
        return stats

    sched_mod.Scheduler.tick = timed_tick  # type: ignore[method-assign]
    ctx = Context.build(settings)
    app = create_app(ctx=ctx)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="websockets")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag
        await asyncio.sleep(0.05)
    try:
        issued = await partners.create_partner(
            ctx,
            f"bench-{uuid.uuid4().hex[:8]}",
            partners.Limits(concurrency=args.limit, sandbox_concurrency=args.limit),
        )
        issued = await partners.create_key(ctx, issued.partner_id, keys.TEST)
        h = {"Authorization": f"Bearer {issued.api_key}"}
        async with httpx.AsyncClient(base_url=f"{base}/api/v2", timeout=120) as api:
            agent = (
                await api.post(
                    "/agent",
                    headers=h,
                    json={
                        "agent_name": "bench",
                        "prompt": "Hi {{callee_name}}",
                        "intro_message": "Hello",
                        "voice_id": (await api.get("/agent/voices", headers=h)).json()["data"]["voices"][0]["id"],
                    },
                )
            ).json()["data"]
            assert (await api.put("/config/telephony/twilio", json=TWILIO, headers=h)).status_code == 200
            window = window_now()
            phones = callees(args.contacts, args.answered_share)
            campaign_ids = []
            for k in range(math.ceil(len(phones) / PER_CAMPAIGN)):
                body = {
                    "name": f"bench-{k}",
                    "agent_id": agent["id"],
                    "provider": "twilio",
                    "concurrency_limit": 10,
                    "schedule": {"windows": [window]},
                    "retry_policy": {"retry_on": ["no_answer"], "delays_secs": [1], "max_attempts": 1},
                }
                cid = (await api.post("/campaigns", json=body, headers=h)).json()["data"]["campaign_id"]
                chunk = phones[k * PER_CAMPAIGN : (k + 1) * PER_CAMPAIGN]
                r = await api.post(
                    f"/campaigns/{cid}/contacts",
                    headers=h,
                    json={"contacts": [{"phone": p, "metadata": {"callee_name": "B"}} for p in chunk]},
                )
                assert r.status_code == 200, r.text
                campaign_ids.append(cid)
            began = time.monotonic()
            for cid in campaign_ids:
                assert (await api.post(f"/campaigns/{cid}/start", headers=h)).status_code == 200
            indian = sum(1 for p in phones if p.startswith("+91"))
            while True:
                async with ctx.db.transaction() as s:
                    statuses = Counter(
                        (
                            await s.execute(
                                select(CampaignContact.status).where(
                                    CampaignContact.campaign_id.in_(campaign_ids), CampaignContact.phone.like("+91%")
                                )
                            )
                        ).scalars()
                    )
                finished = statuses["completed"] + statuses["failed"] + statuses["skipped"]
                if finished >= indian:
                    break
                if time.monotonic() - began > args.timeout:
                    raise SystemExit(f"timed out: {statuses}")
                await asyncio.sleep(1.0)
            elapsed = time.monotonic() - began
        async with ctx.db.transaction() as s:
            contacts = list(
                (
                    await s.execute(select(CampaignContact).where(CampaignContact.campaign_id.in_(campaign_ids)))
                ).scalars()
            )
            attempts = (
                list(
                    (
                        await s.execute(
                            select(CampaignAttempt).where(CampaignAttempt.contact_id.in_([c.id for c in contacts]))
                        )
                    ).scalars()
                )
                if len(contacts) < 30000
                else []
            )
            calls = list((await s.execute(select(Call).where(Call.partner_id == issued.partner_id))).scalars())
            camps = list((await s.execute(select(Campaign).where(Campaign.id.in_(campaign_ids)))).scalars())
        emulator = app.state.sandbox["twilio"]
        created = Counter(c.to for c in emulator.calls.values())
        per_number = Counter(c.to_number for c in calls)
        double = sum(1 for n in created.values() if n > 1) + sum(1 for n in per_number.values() if n > 1)
        rules = [hours.parse_windows([window])]
        outside = sum(
            1
            for c in calls
            if c.dialed_at is None or not hours.allowed(hours.zones_for(c.to_number, "UTC"), rules, c.dialed_at)
        )
        dials = sorted(c.dialed_at.timestamp() for c in calls if c.dialed_at)
        span = (dials[-1] - dials[0]) if len(dials) > 1 else float("nan")
        peak_1s = max((sum(1 for d in dials[i : i + 2000] if d < t + 1) for i, t in enumerate(dials)), default=0)
        us_dialed = sum(1 for c in calls if c.to_number.startswith("+1"))
        return {
            "backend": backend,
            "contacts": len(phones),
            "campaigns": len(camps),
            "called": len(calls),
            "elapsed_s": round(elapsed, 1),
            "scheduler_ms_per_contact": round(1000 * spent["secs"] / max(1, spent["started"]), 2),
            "ticks": spent["ticks"],
            "dials_per_s": round(len(dials) / span, 1) if span == span and span > 0 else None,
            "peak_dials_in_1s": peak_1s,
            "pacing_cps": args.cps,
            "partner_limit": args.limit,
            "double_dials": double,
            "calls_outside_window": outside,
            "outside_window_contacts_dialed": us_dialed,
            "attempt_rows_without_call": sum(1 for a in attempts if not a.call_id),
            "outcomes": dict(Counter(c.outcome or c.status for c in contacts)),
            "window_ist": f"{window['start']}-{window['end']}",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    finally:
        server.should_exit = True
        await task
        await app.state.sandbox.aclose()
        await ctx.close()
        sched_mod.Scheduler.tick = real_tick  # type: ignore[method-assign]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=50, help="the partner's sandbox concurrency limit")
    parser.add_argument("--cps", type=float, default=50.0, help="the connection's calls per second")
    parser.add_argument("--answered-share", type=float, default=0.1)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    results = [await run_backend(b, args) for b in args.backends.split(",")]
    print_table(
        "campaign",
        results,
        [
            "backend",
            "contacts",
            "called",
            "elapsed_s",
            "scheduler_ms_per_contact",
            "dials_per_s",
            "peak_dials_in_1s",
            "pacing_cps",
            "double_dials",
            "calls_outside_window",
            "outside_window_contacts_dialed",
        ],
    )
    write_json("campaign", {"args": vars(args), "results": results})


if __name__ == "__main__":
    asyncio.run(main())
