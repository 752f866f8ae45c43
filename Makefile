# TrainRight. `make demo` runs the marketplace with demo data; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py
DB_NAME ?= trainright
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/$(DB_NAME)
export STRIPE_EMULATOR_PORT ?= 12111
export STRIPE_API_BASE ?= http://127.0.0.1:$(STRIPE_EMULATOR_PORT)

.PHONY: test-dates help install install-dev assets chromium db migrate demo-data demo test test-fast lint bench bench-import bench-settlement bench-payouts chaos test-deep test-stripe emulator clean

help:
	@echo "make demo   run the marketplace with demo data at http://127.0.0.1:8000"
	@echo "make test   install what the tests need and run the whole suite (lint included)"
	@echo "make lint | make test-fast | make test-dates | make bench | make test-deep | make test-stripe"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed assets

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.package-lock.json

# Browser tests drive Debian's Chromium; install it once when missing.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

db: $(VENV)/.installed
	$(PY) -m config.dbcreate

migrate: db
	$(MANAGE) migrate --noinput

demo-data: migrate
	$(MANAGE) demo_seed

# Starts the Stripe emulator, web server, Celery worker and beat; Ctrl-C stops them all.
demo: install demo-data
	$(MANAGE) collectstatic --noinput -v0
	@bash config/run_demo.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core accounts payments catalog marketplace royalties ledger usage settlement payouts finance frontend sandbox config
	$(VENV)/bin/lint-imports

test: install chromium lint
	$(MANAGE) makemigrations --check --dry-run
	$(VENV)/bin/pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-dates

# The date-rule tests (marked `dates`) pinned at instants that stress calendars: the last second
# of a month, 29 February, 31 December, the first of a month, and an instant when users east of
# UTC (UTC+14) already live on the next day (Django keeps every process and connection in UTC).
TEST_INSTANTS := 2027-01-31T23:59:59Z 2028-02-29T12:00:00Z 2027-12-31T23:59:59Z \
	2027-03-01T00:00:00Z 2027-06-30T20:00:00Z
DATES_PYTEST := $(VENV)/bin/pytest -q -p no:cacheprovider --reuse-db -m dates
test-dates: install
	@set -e; export TEST_DATABASE_NAME=test_trainright_dates; fresh=--create-db; \
	for instant in $(TEST_INSTANTS); do \
	  echo "== date rules at $$instant"; TRAINRIGHT_TEST_INSTANT=$$instant $(DATES_PYTEST) $$fresh; \
	  fresh=; \
	done

test-fast: install
	$(VENV)/bin/pytest -q -m "not browser and not slow"

# Deep Hypothesis profile for the money code (thousands more cases than the suite runs).
test-deep: install
	HYPOTHESIS_PROFILE=deep $(VENV)/bin/pytest -q tests/ledger tests/usage tests/settlement tests/payouts tests/finance tests/test_money_core.py

# The gateway suite against Stripe test mode: STRIPE_SECRET_KEY=sk_test_... make test-stripe
test-stripe: install
	STRIPE_API_BASE= $(VENV)/bin/pytest -q -m "stripe_contract" tests/gateway

emulator: install
	$(PY) -m stripe_emulator --host 127.0.0.1 --port $(STRIPE_EMULATOR_PORT)

# Benchmarks print their figures and the machine; the README records the latest.
bench: install db
	$(MANAGE) migrate --noinput -v0
	@echo "machine: $$(nproc) cores, $$(free -g | awk '/Mem:/{print $$2}') GiB RAM, $$(uname -m), Python $$($(PY) -c 'import platform; print(platform.python_version())')"
	$(MANAGE) bench_import
	$(MANAGE) bench_ingest
	$(MANAGE) bench_ledger
	$(MANAGE) bench_settlement
	$(MANAGE) bench_payouts --payouts 10000 --holders 1000 --rate 25

# Payout chaos at full size: 1,000 payouts while workers are killed and Stripe misbehaves.
chaos: install db
	PAYOUT_CHAOS_HOLDERS=1000 $(VENV)/bin/pytest -q -p no:cacheprovider tests/payouts/test_payout_chaos.py

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache
