"""Schemathesis against /openapi.json of a real server, on SQLite and on PostgreSQL.

Every check runs (tests/e2e/schemathesis.toml holds the few per-operation exceptions, with reasons): no 5xx,
responses match their schema, schema-valid requests are accepted (ST202) and schema-violating ones refused
(ST201), undeclared methods get 405 with an Allow header (ST204/ST205). fuzz_hooks.py draws the string
formats the schema names (possible phone numbers, webhook URLs).
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.e2e.server import cli_json, process_env, serving

EXAMPLES = os.environ.get("VOXLINE_FUZZ_EXAMPLES", "25")
HERE = Path(__file__).parent


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
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
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
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks", **_importable()},
        )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def _importable() -> dict[str, str]:
    """`tests.e2e.fuzz_hooks` must import in the schemathesis process: the checkout's root on its path."""
    paths = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}
