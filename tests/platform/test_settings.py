"""The settings module fails at start with a message naming a bad variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "SAFE_INSECURE_DEV_KEY"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import backend.config.settings"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "perhaps"}, "DEBUG: expected true/false"),
        ({"DEBUG": "1", "SAFE_FANOUT_BATCH": "lots"}, "SAFE_FANOUT_BATCH"),
        ({"DEBUG": "0"}, "SECRET_KEY is not set"),
        ({"DEBUG": "1", "DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
    ],
)
def test_a_bad_value_fails_loudly(env, message):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_load_with_a_secret_key():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr
