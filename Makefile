# wiremirror — `make run` mirrors once, `make test` runs every check. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint types pytest demo bench stress site clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: one incremental crawl of every enabled source into output/ (config: ./wiremirror.toml or defaults)
run: $(STAMP)
	$(BIN)/wiremirror crawl

## test: lint, type-check and the whole test suite (real SQLite, subprocesses, loopback HTTP, Jekyll)
test: lint types pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -m "not stress"

## demo: serve the bundled recorded pages on 127.0.0.1 and mirror them into ./demo-output
demo: $(STAMP)
	$(BIN)/wiremirror demo --dir demo-output

## bench: benchmarks against the loopback server; prints a table, writes bench-results/bench.json
bench: $(STAMP)
	$(BIN)/python -m bench

## stress: the slow crash/concurrency variants (bounded run time)
stress: $(STAMP)
	$(BIN)/pytest -q -m stress --timeout=1800

## site: build output/ into output/_site with its search index (BUILDER=hugo for large archives; default: [site] builder)
site: $(STAMP)
	$(BIN)/wiremirror site build output $(if $(BUILDER),--builder $(BUILDER))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output bench-results build
