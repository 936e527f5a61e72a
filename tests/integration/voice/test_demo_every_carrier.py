"""`voxline demo --provider X` works for every carrier the sandbox stands in for (the Twilio one, with the
offline engines, is test_offline_engines.py): the call completes, the webhook is verified, the recording is
kept when asked, and the emulator saw only messages its carrier accepts. Stand-in speech engines keep it quick;
the callee's lines are still real speech."""

from __future__ import annotations

import pytest

from voxline.devtools.demo import CREDENTIALS, DEMO_LINES, quiet_logs, run_demo, shortened
from voxline.devtools.standins import StandInEngines
from voxline.telephony import registry


def test_the_demo_knows_every_sandbox_carrier() -> None:
    assert set(CREDENTIALS) == set(registry.sandbox_providers())


@pytest.mark.parametrize("provider", sorted(set(registry.sandbox_providers()) - {"twilio"}))
async def test_the_demo_runs_on(provider: str, tmp_path) -> None:
    quiet_logs()
    said: list[str] = []
    kept = tmp_path / "call.wav"
    result = await run_demo(
        provider, say=said.append, data_dir=tmp_path / "data", engines=StandInEngines(DEMO_LINES), keep_recording=kept
    )
    assert result.ok, "\n".join(said)
    assert result.wire_errors == []
    assert result.webhook is not None and result.webhook["data"]["call"]["provider"] == provider
    assert shortened(result.webhook) in said, "the demo prints the webhook it verified"
    assert kept.read_bytes()[:4] == b"RIFF", "the recording outlives the demo"
