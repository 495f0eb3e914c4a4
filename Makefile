# tablesync developer tasks. `make help` lists them.
VENV ?= .venv
PY = $(VENV)/bin/python
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo console screenshots docs test lint fmt bench bench-smoke bench-select bench-peers bench-console bench-freshness bench-scale bench-partitions clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV) && $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[dev]' && touch $@

install: $(VENV)/.installed ## create .venv with tablesync and the dev tools

demo: $(VENV)/.installed ## run the sample sync on a throwaway PostgreSQL in .tablesync/
	$(PY) -m tools.demo

console: $(VENV)/.installed ## the demo's data in the web console on 127.0.0.1:$CONSOLE_PORT (8080), TABLESYNC_API_TOKEN
	$(PY) -m tools.demo.console

screenshots: $(VENV)/.installed ## the README's console screenshots from the demo's data, into docs/screenshots
	$(PY) -m tools.demo.screenshots docs/screenshots

docs: $(VENV)/.installed ## serve the documentation site (docs/, mkdocs.yml) on http://127.0.0.1:8000
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

test: $(VENV)/.installed ## ruff check + the test suite (PYTEST_ARGS=... to pass options)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed ## ruff check, ruff format --check, mypy, mkdocs build --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services jobs run_job.py tools tests
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

fmt: $(VENV)/.installed ## ruff format + autofixable lint
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed ## benchmarks on a throwaway PostgreSQL
	$(PY) -m tools.bench

bench-smoke: $(VENV)/.installed ## the benchmark at BENCH_ROWS=2000: it runs and checks, not timed
	BENCH_ROWS=2000 $(PY) -m tools.bench

bench-select: $(VENV)/.installed ## select/where (SQL transforms) beside psql, no transform and the Python transform: full load, incremental, --verify
	$(PY) -m tools.bench.select

bench-scale: $(VENV)/.installed ## full loads at BENCH_ROWS and ten times that (10M by default): rows/s and RSS
	$(PY) -m tools.bench.scale

bench-peers: $(VENV)/.installed ## Sling and dlt beside the psql pipe and tablesync (installs the peers extra)
	$(PY) -m pip install -q -e '.[dev,peers]'
	$(PY) -m tools.bench.peers

bench-partitions: $(VENV)/.installed ## a partitioned source's backfill beside the same 1M rows in a plain table
	$(PY) -m tools.bench.partitions

bench-freshness: $(VENV)/.installed ## --follow --every 1s under 4 writers: latency p50/p99, CPU, RSS, idle cycle (BENCH_FRESHNESS_SMOKE=1: ~40 s)
	$(PY) -m tools.bench.freshness

bench-console: $(VENV)/.installed ## the console's overview and /metrics at 50 definitions, 100,000 runs
	$(PY) -m tools.bench.console

clean: ## remove .venv, .tablesync/ (demo server data) and site/ (the built docs)
	rm -rf $(VENV) .tablesync/ site/
