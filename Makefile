# goodwe_pipeline: `make demo` runs the whole system locally, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PORT ?= 3000

.PHONY: install influxdb postgres chromium test demo lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

influxdb:
	@bash scripts/ensure_influxd.sh

postgres:
	@bash scripts/ensure_postgres.sh

# The browser test drives Debian's chromium through Playwright (never `playwright install`).
chromium:
	@bash scripts/ensure_chromium.sh

test: install influxdb postgres chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/goodwe-pipeline demo --port $(DEMO_PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install influxdb
	$(BIN)/python bench/raw_store.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
