# The README's two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: install bench-install run test test-unit test-api lint schemas docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "arrears needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The benches' extra: the eventsourcing library that compare_eventsourcing.py measures against.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench-install: $(BENCH_STAMP)

## run: all four services on http://127.0.0.1:8000 (embedded event log, SQLite under var/,
## development tokens signed with a per-install secret in var/dev-secret)
run: install
	AUTH_MODE=development $(BIN)/arrears serve all --host 127.0.0.1 --port 8000

## lint: ruff, mypy and the import contracts (a service importing another fails here)
lint: install
	$(BIN)/ruff check shared services tests bench
	$(BIN)/ruff format --check shared services tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

## test: lint, then every tier (unit, browser, integration, kafka, faults); the browser, Kafka and PostgreSQL tiers
## skip without them and fail when CI=true
test: lint
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

## test-api: schemathesis against every service's OpenAPI (ARREARS_API_EXAMPLES=N for more)
test-api: install
	$(BIN)/pytest tests/api

schemas: install
	$(BIN)/arrears schemas export docs/schemas

docs: install
	$(BIN)/arrears schemas docs docs/events.md
	$(BIN)/arrears schemas asyncapi docs/asyncapi.json

## bench: every bench, their output as it comes, then one table of every figure with peak RSS
bench: bench-install
	$(BIN)/python bench/table.py bench/pipeline.py bench/compare_eventsourcing.py \
		bench/day_close.py bench/account_load.py bench/plans_pipeline.py bench/plans_lifecycle.py \
		bench/contact_check.py bench/audit_history.py bench/audit_report.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
