# Two commands do all the set-up:  `make run` (the app)  and  `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Flask-Static-Digest's manifest: asset files named by their content, and gzipped
DIGESTED := static/cache_manifest.json

.PHONY: run test test-latest lint serve stack bench screenshots clean

run: $(VENV)/.runtime node_modules/.runtime $(DIGESTED)
	$(BIN)/flask db upgrade
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# The container image and compose.yaml's topology, built from Debian's packages and run with
# podman (docs/containers.md); skipped without podman. `make test` runs it too.
.PHONY: test-containers
test-containers: $(VENV)/.dev
	$(BIN)/pytest tests/topology/test_containers.py

# The suite against the newest releases of every package requirements*.txt pins, installed
# unpinned in a second virtualenv: what upgrading would break. Lists each pin beside the
# release installed, then the tests that failed; exits with pytest's status.
LATEST := .venv-latest

test-latest: node_modules/.installed $(DIGESTED)
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	sed -n 's/^\([A-Za-z0-9_.-]*\)==.*/\1/p' requirements.txt requirements-dev.txt > $(LATEST)/names.txt
	$(LATEST)/bin/pip install --quiet --disable-pip-version-check --upgrade --upgrade-strategy eager -r $(LATEST)/names.txt
	# Digested copies for the static folders this virtualenv brings (Bootstrap-Flask's)
	$(LATEST)/bin/flask digest compile >/dev/null
	@$(LATEST)/bin/pip list --format=freeze --disable-pip-version-check > $(LATEST)/installed.txt
	@echo "package                pinned        newest (installed in $(LATEST))"
	@cat requirements.txt requirements-dev.txt | awk -F'==' \
	  'function key(n) { n = tolower(n); gsub(/[_.]/, "-", n); return n } \
	   FNR == NR { if (NF == 2) pin[key($$1)] = $$2; next } \
	   key($$1) in pin { p = pin[key($$1)]; printf "%-22s %-13s %s%s\n", $$1, p, $$2, (p == $$2 ? "" : "   upgraded"); next } \
	   key($$1) !~ /^(pip|setuptools|wheel)$$/ { printf "%-22s %-13s %s   not pinned\n", $$1, "-", $$2 }' \
	  - $(LATEST)/installed.txt
	@{ $(LATEST)/bin/pytest -p no:cacheprovider; echo $$? > $(LATEST)/status; } 2>&1 | tee $(LATEST)/pytest.log
	@echo; echo "make test-latest: what broke with the newest releases:"
	@grep -E '^(FAILED|ERROR) ' $(LATEST)/pytest.log || echo "nothing (pytest exit status $$(cat $(LATEST)/status))"
	@exit $$(cat $(LATEST)/status)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Production: gunicorn with gunicorn.conf.py (workers and bind from the environment).
serve: $(VENV)/.runtime node_modules/.runtime $(DIGESTED)
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn hrllo:app

# The production topology on this machine (nginx, STACK_HOSTS gunicorn hosts of
# WEB_CONCURRENCY workers, PgBouncer, PostgreSQL), in the foreground:
# https://127.0.0.1:${STACK_HTTPS_PORT:-8443}/. A throwaway PostgreSQL server (with
# STACK_PG_MAX_CONNECTIONS) unless DATABASE_URL is given. Ctrl-C stops all of it.
stack: $(VENV)/.dev node_modules/.installed $(DIGESTED)
	$(BIN)/python -m deploy.stack

# Benchmark against the book's chapter-5 app side by side, the Flask floors as information
# (needs wrk: Debian's package, installed if missing; docs/performance.md), then
# Lighthouse's performance scores through the stack (nginx and Chromium).
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
NEED_NPM = @command -v npm >/dev/null || { echo "make: npm is missing: install Node.js with npm (Debian: apt-get install npm); it brings moment.js, which shows each visitor's local time" >&2; exit 1; }

node_modules/.runtime: package.json package-lock.json
	$(NEED_NPM)
	npm ci --omit=dev --no-audit --no-fund
	touch $@

node_modules/.installed: package.json package-lock.json
	$(NEED_NPM)
	npm ci --no-audit --no-fund
	touch $@ node_modules/.runtime

# Every static folder (the app's, Bootstrap-Flask's, moment.js's): digested copies and
# .gz files beside the originals, and a manifest the templates' static_url_for reads.
$(DIGESTED): $(VENV)/.runtime node_modules/.runtime $(filter-out static/cache_manifest.json static/%.gz,$(wildcard static/*))
	$(BIN)/flask digest clean >/dev/null
	$(BIN)/flask digest compile >/dev/null

clean:
	rm -rf $(VENV) $(LATEST) node_modules .pytest_cache .ruff_cache
