# The README's quick start: `make run` and `make test` work on a fresh machine with nothing but Python ≥ 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# The services the tests use; empty either one (make test EXECUTOR_TEST_REDIS_URL=) to skip its tests.
export EXECUTOR_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export EXECUTOR_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test proof lint bench install dev lock clean browser

# Installs come from the lock files in requirements/ (exact versions, every file's hash checked), so a
# fresh machine gets the versions that were tested. uv installs them (~3x faster than pip from an empty
# cache, docs/operations.md); it is itself bootstrapped from PyPI, pinned with its hashes. uv writes no
# bytecode unless asked, and with PYTHONDONTWRITEBYTECODE set nothing ever does: every process would then
# compile ccxt, SQLAlchemy & co. from source (a daemon's imports 6.5 s of CPU instead of 2 s), so
# --compile-bytecode (which compiles the whole site-packages whenever uv installs something).
UV := $(BIN)/uv
UV_INSTALL := $(UV) pip install --quiet --compile-bytecode --python $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): requirements/bootstrap.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/bootstrap.lock
	touch $@

$(VENV)/.installed: requirements/runtime.lock pyproject.toml | $(UV)
	$(UV_INSTALL) --require-hashes -r requirements/runtime.lock
	$(UV_INSTALL) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements/dev.lock pyproject.toml | $(UV)
	$(UV_INSTALL) --require-hashes -r requirements/dev.lock
	$(UV_INSTALL) --no-deps -e .
	touch $@ $(VENV)/.installed

# After changing dependencies in pyproject.toml: resolve again and rewrite the lock files.
LOCK := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 --no-header pyproject.toml
lock: | $(UV)
	$(LOCK) -o requirements/runtime.lock
	$(LOCK) --extra dev -o requirements/dev.lock

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

run: install
	$(BIN)/executor db upgrade
	$(BIN)/executor run

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Parallel workers: the suite mostly waits on subprocesses and sockets, so more workers than cores help
# (on 2 cores, idle: 3 workers 11 min 23 s of pytest, 4 workers 9 min 22 s; docs/testing.md);
# work stealing keeps a worker from idling at the end while another still holds a queue of e2e tests.
TEST_WORKERS ?= 4

# The dashboard's test drives Debian's chromium through Debian's chromedriver (no browser download); as
# root it is installed when missing, otherwise that one test is skipped (a failure under CI=true).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium chromium-driver; \
	  else echo "no chromium: run 'sudo apt-get install chromium chromium-driver' for the dashboard's test"; fi; \
	fi

test: lint browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --durations=30

# The long forms of the stress suites: a year of soak, and 200 + 50 + 50 crash trials (the last ones
# also losing their database) with their tallies. About an hour and a half.
proof: dev
	EXECUTOR_SOAK_DAYS=365 $(BIN)/pytest -p no:cacheprovider tests/soak --durations=5
	$(BIN)/python -m bench.chaos --trials 200 --seed 7000 --database sqlite
	$(BIN)/python -m bench.chaos --trials 50 --seed 9000 --database postgresql
	$(BIN)/python -m bench.chaos --trials 50 --seed 9500 --database sqlite --db-outages

bench: dev
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
