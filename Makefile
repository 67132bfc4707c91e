# mediarec: `make demo` runs the recommender locally, `make test` runs the tests.
# Both install what they need into .venv first (Python >= 3.11; torch==2.13.0 CPU for training).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install demo dev test test-postgres lint format bench clean

help:
	@echo "make demo    install, seed a synthetic media world, serve the API on http://$(HOST):$(PORT)"
	@echo "            (make demo PORT=8080 HOST=0.0.0.0 to serve elsewhere)"
	@echo "make test    install, run the test suite"
	@echo "make test-postgres  the PostgreSQL engine's tests (needs MEDIAREC_TEST_POSTGRES_URL; .ci/run starts a server)"
	@echo "make dev     serve the API on the existing local database"
	@echo "make lint    ruff (lint + format check) and mypy"
	@echo "make build   sam validate --lint, sam build, bundle sizes; make build-check runs the built function"
	@echo "make bench   run the benchmarks (tables printed, JSON in bench-results/)"

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[train,serve,dev,peers]"
	touch $@

install: $(INSTALLED)

DEMO_KEY_FILE ?= data/demo-api-key

demo: install
	$(BIN)/mediarec seed --if-empty
	$(BIN)/mediarec train --split none --publish --skip-if-active
	@$(BIN)/mediarec keys create --scope admin --name demo --key-file $(DEMO_KEY_FILE) --reuse --key-only >/dev/null
	@echo
	@echo "API key (admin scope, saved in $(DEMO_KEY_FILE)): $$(cat $(DEMO_KEY_FILE))"
	@echo "Try:"
	@echo "  KEY=\$$(cat $(DEMO_KEY_FILE))"
	@echo "  curl -H \"x-api-key: \$$KEY\" 'http://$(HOST):$(PORT)/recommendations/u00001?k=10&platform=web'"
	@echo "  curl -X POST http://$(HOST):$(PORT)/events -H \"x-api-key: \$$KEY\" -H 'content-type: application/json' \\"
	@echo "       -d '{\"event_id\": \"e-1\", \"user_id\": \"u00001\", \"item_id\": \"i00001\", \"event_type\": \"click\", \"platform\": \"web\"}'"
	@echo "  curl -H \"x-api-key: \$$KEY\" 'http://$(HOST):$(PORT)/metrics?k=10'"
	@echo "  open http://$(HOST):$(PORT)/console/ for the web console (paste the key)"
	@echo "  open http://$(HOST):$(PORT)/docs for the Swagger UI (Authorize: paste the key)"
	@echo
	$(BIN)/mediarec serve --host $(HOST) --port $(PORT)

dev: install
	$(BIN)/mediarec serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

# The whole suite again with every test's store on the PostgreSQL server that
# MEDIAREC_TEST_POSTGRES_URL names (.ci/run starts one with scripts/postgres_server.sh); tests
# marked sqlite_only (SQLite's files, journals and query plans) skip and say so.
test-postgres: install
	$(BIN)/python -m pytest --engine postgresql

lint: install
	$(BIN)/ruff check functions training tests scripts
	$(BIN)/ruff format --check functions training tests scripts
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix functions training tests scripts
	$(BIN)/ruff format functions training tests scripts

ML100K ?= ../shared/data/ml-100k

bench: install
	$(BIN)/mediarec benchmark ingest --out bench-results/ingest.json
	$(BIN)/mediarec benchmark quality --dataset movielens-100k --path $(ML100K) --out bench-results/quality.json
	$(BIN)/mediarec benchmark serving --out bench-results/serving.json

clean:
	rm -rf .aws-sam .build bench-results .pytest_cache .mypy_cache .ruff_cache

include make/sam.mk
