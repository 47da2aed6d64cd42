# ConvoInsight: `make setup` then `make test`; `make dev` serves everything; `make demo` shows an answer.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export LITELLM_LOCAL_MODEL_COST_MAP := True

.DEFAULT_GOAL := help
.PHONY: help setup system-deps vendor test test-fast dev demo lint bench clean

help: ## Show this help
	@echo "ConvoInsight - conversational analytics backend"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

setup: system-deps $(VENV)/.installed ## Create the venv and install pinned dependencies (+ PostgreSQL/Redis servers if missing)
	@$(PYTHON) scripts/vendor_vega.py

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-emulators.txt shared/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-emulators.txt
	touch $@

vendor: ## Fetch the vendored JavaScript (Vega, Vega-Lite, vega-embed, marked, DOMPurify) again from npm and check its sha256
	$(PYTHON) scripts/vendor_vega.py --fetch

system-deps: ## Install redis-server and PostgreSQL server binaries with apt-get when missing (and possible)
	@bash scripts/system-deps.sh

test: setup ## Run the whole test suite (starts its own PostgreSQL, Redis and emulator on free ports)
	$(VENV)/bin/pytest

test-fast: setup ## Run the tests not marked slow
	$(VENV)/bin/pytest -m "not slow"

dev: setup ## Serve every function under http://127.0.0.1:$(PORT)/api/v1/<function>/
	PORT=$(PORT) $(PY) -m local_emulator

demo: setup ## Start the stack, upload the sample dataset, ask a question offline, print the answer, stop
	$(PY) -m local_emulator.demo

lint: setup ## Ruff over the whole repository
	$(VENV)/bin/ruff check .

bench: setup ## Run the benchmarks in bench/ and print their numbers
	$(PY) -m bench

clean: ## Remove the venv and local state
	rm -rf $(VENV) .local .pytest_cache
