"""The README's server section and walkthrough, run as written: a newcomer's first hour.

A fresh data dir (the embedded SQLite default), `voxline partner create` and `voxline serve` on a port that
is not 8000 with no VOXLINE_PUBLIC_BASE_URL, then the walkthrough's bash block verbatim: a sandbox key, an
agent, a carrier account, a webhook endpoint received by `voxline webhooks listen`, one call. The call must
complete with a conversation (both sides in the transcript, latency) and a verified `session.completed`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.e2e.server import free_port, serving

README = Path(__file__).parents[2] / "README.md"


def _bash_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + 1)
    end = min(x for x in (end, text.find("\n### ", start + 1)) if x != -1)
    return re.findall(r"```bash\n(.*?)```", text[start:end], re.S)


def test_the_readme_walkthrough_places_a_sandbox_call_with_a_conversation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_") and k != "PYTHONPATH"}
    bin_dir = str(Path(sys.executable).parent)
    env |= {
        "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([os.getcwd(), os.path.join(os.getcwd(), "src")]),
        "VOXLINE_DATA_DIR": str(tmp_path / ".voxline"),
        "VOXLINE_LOG_LEVEL": "warning",
    }
    server_block = _bash_blocks("## Running the server")[0]
    create = next(line for line in server_block.splitlines() if line.startswith("voxline partner create"))
    created = subprocess.run(
        shlex.split(create.split("#")[0]), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert created.returncode == 0, created.stderr
    assert "voxline serve --port 8000" in server_block

    port, hook_port = free_port(), free_port()
    # No VOXLINE_PUBLIC_BASE_URL and a port other than 8000: the emulated carrier reaches the server only if
    # the public URL followed the port.
    with serving(env, port):
        walkthrough = _bash_blocks("### Walkthrough")[0]
        run = subprocess.run(
            ["bash", "-e", "-c", walkthrough],
            env=env | {"PORT": str(port), "HOOK_PORT": str(hook_port)},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
        event = json.loads((tmp_path / "event.json").read_text().splitlines()[0])
        assert event["event"] == "session.completed" and event["livemode"] is False
        data = event["data"]
        roles = [t["role"] for t in data["transcript"]]
        assert "user" in roles and roles.count("bot") >= 2, data["transcript"]
        assert data["latency"] and data["latency"]["avg_ms"] is not None, data["latency"]
        assert data["call"]["status"] == "completed", data["call"]
        wav = subprocess.run(
            ["curl", "-s", "-o", str(tmp_path / "call.wav"), "-w", "%{http_code}", data["recording_url"]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wav.stdout == "200" and (tmp_path / "call.wav").read_bytes()[:4] == b"RIFF", "the recording plays"
        assert data["recording_url"] in run.stdout, "the walkthrough shows the recording link"
