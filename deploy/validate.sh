#!/usr/bin/env bash
# Check the files in deploy/ without Docker or systemd running: each check that needs a
# tool this machine lacks (nginx, systemd-analyze) says so and is skipped.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$root/.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0

ok() { printf '  ok    %s\n' "$*"; }
skip() { printf '  skip  %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*" >&2; failed=1; }

echo "deploy/: offline checks"

# docker-compose.yml: valid YAML, the expected services, healthchecks where promised.
if "$python" - "$here/docker-compose.yml" "$here/healthcheck.py" <<'PY'
import sys

import yaml

with open(sys.argv[1]) as f:
    compose = yaml.safe_load(f)
services = compose["services"]
missing = {"db", "redis", "web", "worker", "beat"} - services.keys()
assert not missing, f"missing services: {sorted(missing)}"
assert services["db"]["image"].startswith("postgres:15"), "db must be postgres:15"
assert services["redis"]["image"].startswith("redis:7"), "redis must be redis:7"
assert "/healthz" in open(sys.argv[2]).read(), "web healthcheck must hit /healthz"
assert services["web"]["healthcheck"]["test"][-1] == "deploy/healthcheck.py"
PY
then ok "docker-compose.yml parses, services and healthchecks present"
else fail "docker-compose.yml"
fi

# gunicorn.conf.py: every name is a gunicorn setting with a valid value; healthcheck.py
# compiles.
if "$python" - "$here/gunicorn.conf.py" <<'PY' && "$python" -m py_compile "$here/healthcheck.py"
import runpy
import sys
import types

from gunicorn.config import Config

config = Config()
for name, value in runpy.run_path(sys.argv[1]).items():
    if not name.startswith("_") and not isinstance(value, types.ModuleType):
        config.set(name, value)  # unknown names and bad values raise
assert config.preload_app, "preload_app should be on"
PY
then ok "gunicorn.conf.py holds valid gunicorn settings, healthcheck.py compiles"
else fail "gunicorn.conf.py / healthcheck.py"
fi

# Procfile: the process types every platform expects.
if grep -q '^web: gunicorn -c deploy/gunicorn.conf.py' "$here/Procfile" \
    && grep -q '^worker: celery -A backend.config worker' "$here/Procfile" \
    && grep -q '^beat: celery -A backend.config beat' "$here/Procfile"; then
    ok "Procfile has web, worker, beat"
else
    fail "Procfile must define web (gunicorn), worker and beat"
fi

# nginx.conf: nginx -t on a copy whose certificate paths point at a throwaway certificate.
if command -v nginx >/dev/null && command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=safe.example.org" \
        -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1
    sed -e "s|/etc/ssl/safe-and-sound/CHANGE-ME-fullchain.pem|$tmp/cert.pem|" \
        -e "s|/etc/ssl/safe-and-sound/CHANGE-ME-privkey.pem|$tmp/key.pem|" \
        "$here/nginx.conf" >"$tmp/nginx.conf"
    if ! ls /etc/nginx/modules-enabled/*brotli* >/dev/null 2>&1; then
        sed -i '/brotli/d' "$tmp/nginx.conf"
        note=" (brotli module not installed: brotli lines left out)"
    fi
    if nginx -t -q -c "$tmp/nginx.conf" 2>"$tmp/nginx.log"; then
        ok "nginx.conf passes nginx -t${note:-}"
    else
        cat "$tmp/nginx.log" >&2
        fail "nginx.conf"
    fi
else
    skip "nginx.conf (no nginx here)"
fi

# systemd units: verify copies whose paths point at this checkout and its virtualenv.
if command -v systemd-analyze >/dev/null; then
    mkdir "$tmp/units"
    for unit in "$here"/systemd/*.service; do
        sed "s|/srv/safe-and-sound|$root|g" "$unit" >"$tmp/units/$(basename "$unit")"
    done
    if systemd-analyze verify --man=no "$tmp"/units/*.service \
        2>"$tmp/systemd.log" && ! grep -q . "$tmp/systemd.log"; then
        ok "systemd units pass systemd-analyze verify"
    else
        cat "$tmp/systemd.log" >&2
        fail "systemd units"
    fi
else
    skip "systemd units (no systemd-analyze here)"
fi

exit "$failed"
