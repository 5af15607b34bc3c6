# wiremirror — `make run` mirrors once, `make test` runs every check. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint types pytest clock-tests demo bench bench-million stress site clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: one incremental crawl of every enabled source into output/ (config: ./wiremirror.toml or defaults)
run: $(STAMP)
	$(BIN)/wiremirror crawl

## test: lint, type-check, the whole test suite (real SQLite, subprocesses, loopback HTTP, Jekyll), then
## the date-sensitive tests again under fixed clocks
test: lint types pytest clock-tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q -m "not stress"

# Tests whose result depends on the Beijing date or hour, and the clocks they must pass at: just after
# midnight (the UTC date is still yesterday, across a month end), just before the 06:00 Beijing / 22:00
# UTC mark, and the last minute of a year. tests/conftest.py reads WIREMIRROR_TEST_CLOCK.
CLOCK_TESTS := tests/test_archive_rotate.py tests/test_status.py tests/test_pipelines.py tests/test_state.py \
	tests/test_archive_stats.py tests/test_archive_images.py tests/test_clock.py \
	tests/test_spider_chinanews.py::test_day_archives_are_a_periodic_catch_up \
	tests/test_spider_chinanews.py::test_backfill_walks_newest_first_and_resumes
CLOCKS := 2027-03-01T00:30:00+08:00 2026-06-15T05:59:00+08:00 2026-12-31T23:59:00+08:00

## clock-tests: the date-sensitive tests under each of CLOCKS
clock-tests: $(STAMP)
	@for at in $(CLOCKS); do \
		echo "clock-tests: WIREMIRROR_TEST_CLOCK=$$at"; \
		WIREMIRROR_TEST_CLOCK=$$at $(BIN)/pytest -q -p no:cacheprovider -m "not stress" $(CLOCK_TESTS) || exit 1; \
	done

## demo: serve the bundled recorded pages on 127.0.0.1 and mirror them into ./demo-output
demo: $(STAMP)
	$(BIN)/wiremirror demo --dir demo-output

## bench: benchmarks against the loopback server; prints a table, writes bench-results/bench.json
bench: $(STAMP)
	$(BIN)/python -m bench

## bench-million: the memory rows at 1,000,000 posts and captures (verify, rebuild)
bench-million: $(STAMP)
	$(BIN)/python -m bench --million --only verify --only rebuild --out bench-results/million

## stress: the slow crash/concurrency variants (bounded run time)
stress: $(STAMP)
	$(BIN)/pytest -q -m stress --timeout=1800

## site: build output/ into output/_site with its search index (BUILDER=hugo for large archives; default: [site] builder)
site: $(STAMP)
	$(BIN)/wiremirror site build output $(if $(BUILDER),--builder $(BUILDER))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-output bench-results build
