# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-embedded test-fast test-faults bench lint browser npm clean gettext makemessages compilemessages

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
# Django serves them as static files (no CDN, no build step): Chart.js (its self-contained UMD
# build) for the reports' and campaigns' charts, axe-core for the browser tests.
VENDOR := static/vendor/chart.js/chart.umd.min.js
$(VENDOR): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian's npm for the front-end packages"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) \
	  || echo "warning: could not install npm; the accessibility checks will be skipped"; }
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && \
	  mkdir -p static/vendor/axe-core static/vendor/chart.js && \
	  cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE static/vendor/axe-core/ && \
	  cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map node_modules/chart.js/LICENSE.md static/vendor/chart.js/; \
	fi

npm: $(VENDOR)

# Translations (English is the source; French and Greek catalogs in locale/<lang>/LC_MESSAGES/).
# GNU gettext from Debian's packages for msgfmt/xgettext; when it cannot be installed the catalogs
# are compiled by scripts/msgfmt.py (standard library only), so pages are translated either way.
LANGS := fr el
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)
MAKEMESSAGES_IGNORE := --ignore=.venv --ignore=node_modules --ignore=staticfiles --ignore=static/vendor \
  --ignore=media --ignore=bench --ignore=tests --ignore=docs

gettext:
	@command -v msgfmt >/dev/null 2>&1 || { \
	  echo "installing Debian's gettext for the translation catalogs"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null) \
	  || echo "warning: could not install gettext; compiling the catalogs with scripts/msgfmt.py"; }

%.mo: %.po | gettext
	@if command -v msgfmt >/dev/null 2>&1; then msgfmt --check-format -o $@ $<; \
	else python3 scripts/msgfmt.py -o $@ $<; fi

# The .mo files are built, never committed (locale/*/LC_MESSAGES/*.mo is gitignored).
compilemessages: $(MO_FILES)

# Extract the marked strings of the templates and Python code (django.po) and of the scripts
# (djangojs.po, through Django's JavaScript catalog at /jsi18n/) into the catalogs, keeping what is translated.
makemessages: $(STAMP) gettext
	$(PY) manage.py makemessages $(addprefix -l ,$(LANGS)) --add-location=file --no-obsolete $(MAKEMESSAGES_IGNORE)
	$(PY) manage.py makemessages -d djangojs $(addprefix -l ,$(LANGS)) --add-location=file --no-obsolete $(MAKEMESSAGES_IGNORE)

run: $(STAMP) npm compilemessages
	@bash scripts/run.sh

test: $(DEV_STAMP) browser npm compilemessages
	DEBUG=0 $(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-embedded

# The campaign tests again on the embedded mode's SQLite (no PostgreSQL, no Redis), ~20 s: the
# same code must plan, trigger and send there too.
test-embedded: $(DEV_STAMP) compilemessages
	env -u REDIS_URL INBOX_EMBEDDED=1 DATABASE_URL=sqlite:///$(CURDIR)/.test-embedded.sqlite3 DEBUG=0 \
	  $(PY) -m pytest -q -m "not browser" tests/campaigns

test-fast: $(DEV_STAMP) compilemessages
	$(PY) -m pytest -q -m "not browser and not faults" $(PYTEST_ARGS)

test-faults: $(DEV_STAMP) compilemessages
	$(PY) -m pytest -q -m faults $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(PY) bench/run.py

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	DEBUG=1 $(VENV)/bin/mypy inbox_project customers campaigns inbox

clean:
	rm -rf $(VENV) staticfiles node_modules static/vendor $(MO_FILES)
