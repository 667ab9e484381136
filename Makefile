# One command runs format, lint, types and tests: `make check`.
PY ?= python

.PHONY: check format lint types test test-fast demo

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

# The main job on the embedded default (SQLite + FAISS in ./facesearch-data):
# install, ingest a folder of photos, search a probe.
PHOTOS ?= ../shared/faces/deepface_tests
PROBE ?= $(PHOTOS)/img1.jpg
demo:
	python3 -m venv .venv
	.venv/bin/python -m pip install --quiet -e .
	.venv/bin/facesearch ingest $(PHOTOS) --collection demo
	.venv/bin/facesearch search $(PROBE) -k 5 --grid facesearch-data/last-search.png
