# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench install install-dev vendor translations browser db-upgrade extract-messages clean

run: install vendor translations ## Set up, migrate, seed demo data when empty and serve with a task consumer
	$(FLASK) db upgrade
	$(FLASK) demo seed --if-empty
	@echo "\nLianxin is running at http://$(HOST):$(PORT)/  (Ctrl-C stops it and its task consumer)\n"
	@$(FLASK) tasks consume & consumer=$$!; trap 'kill $$consumer 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT)

test: install-dev vendor translations browser ## Set up and run the whole test suite
	$(BIN)/python -m pytest

bench: install-dev vendor translations ## Load-test the app beside a bare Flask app
	$(BIN)/python -m bench.run

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# htmx and Pico CSS come from the npm registry; the app serves its own copies.
vendor: static/vendor/.stamp
static/vendor/.stamp: package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq npm; } || { echo "npm is needed: install Node.js and npm"; exit 1; }
	npm ci --no-audit --no-fund --silent
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/@picocss/pico/css/pico.min.css static/vendor/pico.min.css
	touch $@

translations: install
	$(BIN)/pybabel compile --statistics -d translations

# Debian's Chromium for the browser tests; Playwright's own download cannot work offline.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "Chromium is missing: install Debian's chromium package to run the browser tests."; fi; \
	fi

extract-messages: install ## Refresh the message catalogs from the code and templates
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -k _lp:1c,2 -k N_ --no-location --sort-output --project Lianxin -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

clean:
	rm -rf $(VENV) node_modules static/vendor
