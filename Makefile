# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast test-faults bench lint browser npm clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $(STAMP)

# The test, lint and benchmark tools, on top of the runtime (`make run` installs only the runtime).
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

# Headless Chromium from Debian's packages for the browser tests (never a downloaded browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

# Front-end packages from npm (package-lock.json), copied into the gitignored static/vendor/ so
# Django serves them as static files (no CDN, no build step). Today: axe-core for the browser tests.
VENDOR := static/vendor/axe-core/axe.min.js
$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian's npm for the front-end packages"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) \
	  || echo "warning: could not install npm; the accessibility checks will be skipped"; }
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && \
	  mkdir -p static/vendor/axe-core && \
	  cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE static/vendor/axe-core/; \
	fi

npm: $(VENDOR)

run: $(STAMP) npm
	@bash scripts/run.sh

test: $(DEV_STAMP) browser npm
	DEBUG=0 $(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(PY) -m pytest -q -m "not browser and not faults" $(PYTEST_ARGS)

test-faults: $(DEV_STAMP)
	$(PY) -m pytest -q -m faults $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(PY) bench/run.py

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	DEBUG=1 $(VENV)/bin/mypy inbox_project customers campaigns inbox

clean:
	rm -rf $(VENV) staticfiles node_modules static/vendor
