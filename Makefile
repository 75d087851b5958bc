# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

TOOLS  := .tools
CLAUDE_CODE_VERSION := 2.1.197
CODEX_VERSION       := 0.171.0
AIDER_VERSION       := 0.86.2
NPM_STAMP   := $(TOOLS)/npm/.installed-claude-$(CLAUDE_CODE_VERSION)-codex-$(CODEX_VERSION)
AIDER_STAMP := $(TOOLS)/aider-venv/.installed-$(AIDER_VERSION)

.PHONY: run test lint venv bench clean dap-conformance agents

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

## Install the pinned real agent CLIs (Claude Code, Codex, Aider) into .tools/ for the end-to-end tests.
agents: $(NPM_STAMP) $(AIDER_STAMP)

$(NPM_STAMP):
	@command -v npm >/dev/null || { echo "make agents: npm not found; install Node.js >= 18 with npm" >&2; exit 1; }
	mkdir -p $(TOOLS)/npm
	npm install --prefix $(TOOLS)/npm --no-audit --no-fund --loglevel=error \
		@anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) @openai/codex@$(CODEX_VERSION)
	rm -f $(TOOLS)/npm/.installed-*
	touch $@

$(AIDER_STAMP):
	rm -rf $(TOOLS)/aider-venv
	$(PYTHON) -m venv $(TOOLS)/aider-venv
	$(TOOLS)/aider-venv/bin/pip install -q --disable-pip-version-check aider-chat==$(AIDER_VERSION)
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info tests/dap/conformance/node_modules
