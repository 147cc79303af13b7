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
        ({"DEBUG": "1", "SAFE_CAP_GEOCODES": "{not json"}, "SAFE_CAP_GEOCODES"),
        ({"DEBUG": "1", "SAFE_TWO_OPERATOR_RULE": "sometimes"}, "SAFE_TWO_OPERATOR_RULE"),
    ],
)
def test_a_bad_value_fails_loudly(env, message):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_load_with_a_secret_key():
    result = _load_settings(DEBUG="0", SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr


def test_console_settings_come_from_the_environment():
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY"}}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import backend.config.settings as s; "
            "print(s.SAFE_TWO_OPERATOR_RULE, s.SAFE_CAP_MAX_BYTES, s.SAFE_CAP_GEOCODES)",
        ],
        cwd=ROOT,
        env={
            **clean,
            "DEBUG": "1",
            "SAFE_TWO_OPERATOR_RULE": "1",
            "SAFE_CAP_MAX_BYTES": "5000",
            "SAFE_CAP_GEOCODES": '{"SAME": {}}',
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "True 5000 {'SAME': {}}"
