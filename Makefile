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

.PHONY: run test lint venv bench clean dap-conformance browser screenshots cluster agents

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

CSTAMP := $(VENV)/.installed-cluster
$(CSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[cluster]'
	touch $@

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

## Install the [cluster] extra (Ray): `make test` then runs tests/cluster on a two-node local Ray cluster
## (without it those tests are skipped with one line; with CI=true they fail).
cluster: $(CSTAMP)

## Install the distribution's Chromium for the browser tests (tests/web) when it is missing.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

## Refresh the README's screenshots (docs/screenshots) from the browser tests.
screenshots: $(TSTAMP) browser
	EXECUTIVE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/web $(PYTEST_ARGS)

## Lint and type-check: ruff (rules in pyproject.toml) on src/, tests/ and bench/, and mypy on src/
## (--strict for kernel/, hsx/, api/rpc.py). `$(BIN)/ruff format src tests bench` fixes the formatting.
## The [cluster] extra is installed too: mypy checks the Ray runtime against Ray's own types.
LINTED := src tests bench
lint: $(LSTAMP) $(CSTAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

## Run every benchmark (ROUNDS interleaved rounds each), then one summary table of the results.
## The results go to bench/results/latest.json; the previous run's file becomes previous.json,
## so `$(BIN)/python bench/compare.py bench/results/previous.json bench/results/latest.json`
## shows what changed.
ROUNDS     ?= 5
BENCH_JSON ?= bench/results/latest.json
BENCHES    := $(filter-out bench/_% bench/baseline_vm.py bench/compare.py bench/summary.py,$(wildcard bench/*.py))
bench: $(STAMP)
	@mkdir -p $(dir $(BENCH_JSON))
	@if [ -f $(BENCH_JSON) ]; then mv $(BENCH_JSON) $(dir $(BENCH_JSON))previous.json; fi
	@failed=""; for b in $(BENCHES); do \
		echo "== $$b"; \
		BENCH_ROUNDS=$(ROUNDS) BENCH_JSON=$(BENCH_JSON) $(BIN)/python $$b || failed="$$failed $$b"; \
	done; \
	echo "== summary ($(BENCH_JSON))"; $(BIN)/python bench/summary.py $(BENCH_JSON); \
	if [ -n "$$failed" ]; then echo "these benchmarks failed or missed a target (exit status):$$failed"; exit 1; fi

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
