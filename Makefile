# The two commands: `make up` runs the whole system, `make test` runs every test.
# Each creates the virtual environment it needs (Python 3.11+ is all a machine needs;
# `make test` also installs Debian's chromium and CJK fonts for the browser tests, and
# prometheus-alertmanager for the notifier's test against a real Alertmanager).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test test-unit browser alertmanager clean

up: $(STAMP)
	$(BIN)/gridpulse up

test: $(STAMP) browser alertmanager
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gridpulse needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

browser:
	@sh scripts/ensure_browser.sh

alertmanager:
	@sh scripts/ensure_alertmanager.sh

clean:
	rm -rf $(VENV) test-output .gridpulse
