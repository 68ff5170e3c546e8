# Two commands do all the set-up:  `make run` (the app)  and  `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Flask-Static-Digest's manifest: asset files named by their content, and gzipped
DIGESTED := static/cache_manifest.json

.PHONY: run test lint serve stack bench screenshots clean

run: $(VENV)/.runtime node_modules/.runtime $(DIGESTED)
	$(BIN)/flask db upgrade
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Production: gunicorn with gunicorn.conf.py (workers and bind from the environment).
serve: $(VENV)/.runtime node_modules/.runtime $(DIGESTED)
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn hrllo:app

# The production topology on this machine (nginx, two gunicorn hosts, PostgreSQL), in the
# foreground: https://127.0.0.1:${STACK_HTTPS_PORT:-8443}/. A throwaway PostgreSQL server
# unless DATABASE_URL is given. Ctrl-C stops all of it.
stack: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	$(BIN)/python -m deploy.stack

# Benchmark against the Flask floors (needs wrk: Debian's package, installed if missing),
# then Lighthouse's performance scores through the stack (nginx and Chromium).
bench: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.lighthouse

# The README's screenshots, from the same set-up as the browser tests.
screenshots: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	$(BIN)/python -m scripts.screenshots

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Running needs only moment.js; the tests add Lighthouse and axe-core (devDependencies).
node_modules/.runtime: package.json package-lock.json
	npm ci --omit=dev --no-audit --no-fund
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@ node_modules/.runtime

# Every static folder (the app's, Bootstrap-Flask's, moment.js's): digested copies and
# .gz files beside the originals, and a manifest the templates' static_url_for reads.
$(DIGESTED): $(VENV)/.runtime node_modules/.runtime $(filter-out static/cache_manifest.json static/%.gz,$(wildcard static/*))
	$(BIN)/flask digest clean >/dev/null
	$(BIN)/flask digest compile >/dev/null

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
