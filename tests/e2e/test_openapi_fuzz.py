"""Schemathesis against /openapi.json of a real server: no 500s, no response that breaks its own schema."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.e2e.server import cli_json, process_env, serving

EXAMPLES = os.environ.get("VOXLINE_FUZZ_EXAMPLES", "25")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"


def test_api_never_errors_and_matches_its_schema(database, tmp_path):
    env = process_env(database)
    key = cli_json(
        env,
        "partner",
        "create",
        f"fuzz-{uuid.uuid4().hex[:8]}",
        "--rate-limit",
        "1000000",
        "--calls-rate-limit",
        "1000000",
        "--concurrency",
        "1000",
    )["api_key"]
    st = Path(sys.executable).with_name("st")
    with serving(env) as base:
        done = subprocess.run(
            [
                str(st),
                "run",
                f"{base}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                EXAMPLES,
                "--seed",
                "7",
                "-H",
                f"Authorization: Bearer {key}",
                "--report-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "NO_COLOR": "1"},
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
