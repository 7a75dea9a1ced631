# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PORT ?= 5000
# Tests are isolated (own databases, ports, temp dirs): run them on every core.
TEST_WORKERS ?= auto
BIN := $(VENV)/bin
HTMX := static/vendor/htmx.min.js
APT_GET := $(if $(filter 0,$(shell id -u)),apt-get,sudo apt-get)
export DEBIAN_FRONTEND := noninteractive

.PHONY: run test lint bench soak system-test-deps clean

run: $(VENV)/.runtime $(HTMX)
	$(BIN)/python manage.py db upgrade
	$(BIN)/python manage.py demo
	$(BIN)/python manage.py run --host 127.0.0.1 --port $(PORT)

test: $(VENV)/.dev $(HTMX) system-test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# Front-end packages come from the npm registry at the versions the lock file pins.
$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# Debian's Chromium (never a downloaded browser), PostgreSQL and wrk (the benchmark's load tool),
# installed only where missing.
system-test-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium chromium-driver; }
	@command -v wrk >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq wrk; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(APT_GET) update -qq && $(APT_GET) install -y -qq postgresql; }

# The benchmark at one million users (BENCH_USERS to change): SQLite, then PostgreSQL.
BENCH_USERS ?= 1000000
bench: $(VENV)/.dev $(HTMX) system-test-deps
	$(BIN)/python -m bench --users $(BENCH_USERS) --backend sqlite
	$(BIN)/python -m bench --users $(BENCH_USERS) --backend postgresql

# The full load run: 32 clients for 60 s against 4 gunicorn workers, on SQLite and PostgreSQL,
# with and without at least 30 SIGKILLed workers; figures are printed and kept in soak.txt.
soak: $(VENV)/.dev $(HTMX) system-test-deps
	rm -f soak.txt
	LOAD_SECONDS=60 LOAD_MIN_KILLS=30 LOAD_FIGURES_FILE=soak.txt $(BIN)/python -m pytest tests/test_load.py -p no:cacheprovider
	cat soak.txt

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache
