# Two commands do all the set-up:  `make run` (the app)  and  `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint serve stack bench screenshots clean

run: $(VENV)/.runtime node_modules/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Production: gunicorn with gunicorn.conf.py (workers and bind from the environment).
serve: $(VENV)/.runtime node_modules/.installed
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn hrllo:app

# The production topology on this machine (nginx, two gunicorn hosts, PostgreSQL), in the
# foreground: https://127.0.0.1:${STACK_HTTPS_PORT:-8443}/. A throwaway PostgreSQL server
# unless DATABASE_URL is given. Ctrl-C stops all of it.
stack: $(VENV)/.dev node_modules/.installed
	$(BIN)/python -m scripts.stack

# Benchmark against the Flask floors (needs wrk: Debian's package, installed if missing),
# then Lighthouse's performance scores through the stack (nginx and Chromium).
bench: $(VENV)/.dev node_modules/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.lighthouse

# The README's screenshots, from the same set-up as the browser tests.
screenshots: $(VENV)/.dev node_modules/.installed
	$(BIN)/python -m scripts.screenshots

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
