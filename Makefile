# One command runs format, lint, types and tests: `make check`.
PY ?= python

.PHONY: check format lint types test test-fast

check: format lint types test

format:
	$(PY) -m ruff format src tests benchmarks

lint:
	$(PY) -m ruff check src tests benchmarks

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest -q

test-fast:
	$(PY) -m pytest -q -m "not slow"
