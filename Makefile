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

## Lint and type-check: ruff (rules in pyproject.toml) on src/, tests/ and bench/, and mypy on src/
## (--strict for kernel/, hsx/, api/rpc.py). `$(BIN)/ruff format src tests bench` fixes the formatting.
LINTED := src tests bench
lint: $(LSTAMP)
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

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info tests/dap/conformance/node_modules
