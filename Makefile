# Safe & Sound: the README's two commands are `make run` and `make test`.
# With nothing configured they use SQLite and an embedded Redis; DATABASE_URL and
# REDIS_URL, when set, are used as they are.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Written after a successful install; pyproject.toml being newer triggers a new one.
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
QUICK ?=

# The development key only where nothing else is configured; never in check-deploy.
DEV_ENV := SAFE_INSECURE_DEV_KEY=1
MANAGE := $(PY) manage.py
COMPILEMESSAGES := $(MANAGE) compilemessages -v 0 -i '$(VENV)' -i node_modules -i var

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv install assets run test lint format check-deploy check-deploy-files bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY) ## Create the virtualenv (.venv) if it is missing

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED) ## Install the pinned dependencies (again only when pyproject.toml changes)

# The console's map libraries come from npm (pinned in the lock file) and are copied into
# frontend/static/console/vendor/; they are built, not committed.
VENDORED := frontend/static/console/vendor/.installed
$(VENDORED): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor
	touch $@

assets: $(VENDORED) ## Fetch and copy the front-end libraries (npm)

run: install assets ## Serve the demo on http://127.0.0.1:8000 (PORT overrides) with worker, beat, Redis
	DEBUG=1 $(DEV_ENV) $(COMPILEMESSAGES)
	DEBUG=1 $(DEV_ENV) $(MANAGE) migrate --no-input
	DEBUG=1 $(DEV_ENV) $(MANAGE) seed_demo
	DEBUG=1 $(DEV_ENV) $(PY) -m backend.devtools.run

test: install assets ## Lint, check the deploy files, then run the whole suite (PYTEST_ARGS=...)
	$(DEV_ENV) $(COMPILEMESSAGES)
	@# Tests run with DEBUG off, as in production: pages need the static files manifest.
	$(DEV_ENV) $(MANAGE) collectstatic --no-input --clear -v 0
	$(MAKE) --no-print-directory lint check-deploy-files check-deploy
	@# pytest's status 5 means it collected no test: that is a failure, not a pass.
	$(DEV_ENV) $(PY) -m backend.devtools.embedded_redis -- $(PY) -m pytest $(PYTEST_ARGS) \
		|| { status=$$?; [ $$status -ne 5 ] || echo "error: pytest ran no test" >&2; exit $$status; }

lint: install ## ruff (lint and format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# The django-stubs plugin imports the settings.
	DEBUG=1 $(VENV)/bin/mypy backend

format: install ## Fix what ruff can and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-deploy: install ## Django's deployment checks with production-like settings
	DEBUG=0 SAFE_INSECURE_DEV_KEY=0 SECURE_HSTS=1 ALLOWED_HOSTS=example.org \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		$(MANAGE) check --deploy --fail-level WARNING

check-deploy-files: install ## Validate deploy/ offline (compose YAML, nginx, systemd, gunicorn)
	PYTHON=$(PY) bash deploy/validate.sh

bench: install ## Run the benchmarks (QUICK=1 for a short run)
	QUICK=$(QUICK) $(DEV_ENV) $(PY) -m backend.devtools.embedded_redis -- $(PY) tests/bench/run.py

clean: ## Remove caches, the demo database and collected static files
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache
	find . -path './$(VENV)' -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
