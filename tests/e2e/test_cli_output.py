"""What the `voxline` command prints: its own output, not Pipecat's import banner; real warnings still show."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.server import cli, process_env

BANNER = "Pipecat"


def test_help_and_commands_print_no_pipecat_banner(database):
    env = process_env(database)
    env.pop("VOXLINE_LOG_LEVEL")  # the default level (info), at which the banner used to show
    for args in (["--help"], ["partner", "list", "--json"]):
        done = cli(env, *args)
        assert done.returncode == 0, done.stderr
        assert BANNER not in done.stdout and BANNER not in done.stderr, (args, done.stderr)
    assert isinstance(json.loads(cli(env, "partner", "list", "--json").stdout), list)
    script = Path(sys.executable).with_name("voxline")  # the installed console script, too
    done = subprocess.run([str(script), "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Usage" in done.stdout
    assert BANNER not in done.stdout + done.stderr, done.stderr


def test_the_cli_keeps_logging_warnings_at_the_configured_level():
    code = (
        "import voxline.cli\nfrom loguru import logger\nlogger.info('an info line')\nlogger.warning('a real warning')\n"
    )

    def run(level: str) -> str:
        env = {**os.environ, "VOXLINE_LOG_LEVEL": level}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stderr

    info = run("info")
    assert "an info line" in info and "a real warning" in info and BANNER not in info
    warning = run("warning")
    assert "an info line" not in warning and "a real warning" in warning
    assert "a real warning" not in run("error")


def test_a_command_run_where_no_data_is_says_so_and_creates_nothing(tmp_path):
    env = {k: v for k, v in process_env_plain().items() if not k.startswith("VOXLINE_")}
    done = subprocess.run(
        [sys.executable, "-m", "voxline", "key", "create", "acme"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no Voxline data here" in done.stderr, done.stderr
    assert not (tmp_path / ".voxline").exists(), "no empty store is made"
    made = subprocess.run(
        [sys.executable, "-m", "voxline", "partner", "create", "acme", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "voxline", "partner", "list", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    (row,) = json.loads(listed.stdout)
    for field in ("concurrency_limit", "agent_limit", "allowed_providers", "sandbox_concurrency_limit"):
        assert field in row, "--json shows what the table shows"


def process_env_plain() -> dict[str, str]:
    path = os.pathsep.join([os.getcwd(), os.path.join(os.getcwd(), "src")])
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": path}
