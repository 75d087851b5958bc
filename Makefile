# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint venv bench clean dap-conformance browser screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

LSTAMP := $(VENV)/.installed-lint
$(LSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[lint]'
	touch $@

venv: $(STAMP)

## Create the venv, install, and start the daemon in the foreground.
run: $(STAMP)
	$(BIN)/executive serve $(ARGS)

## Create the venv if needed, install with test extras, run the suite.
test: $(TSTAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Install the distribution's Chromium for the browser tests (tests/web) when it is missing.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

## Refresh the README's screenshots (docs/screenshots) from the browser tests.
screenshots: $(TSTAMP) browser
	EXECUTIVE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/web $(PYTEST_ARGS)

## Lint and type-check: ruff (rules in pyproject.toml) and mypy (--strict for kernel/, hsx/, api/rpc.py).
lint: $(LSTAMP)
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy

## Run every benchmark; each prints its ratio against its own baseline.
bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## VS Code's own DebugClient (npm @vscode/debugadapter-testsupport) against `executive dap`.
dap-conformance: $(STAMP)
	cd tests/dap/conformance && npm install --no-audit --no-fund --silent && PYTHON=$(abspath $(BIN)/python) npm test

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info tests/dap/conformance/node_modules
