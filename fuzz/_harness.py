"""What every harness shares: running under libFuzzer, instrumenting only then, a scratch folder.

A harness module exposes ``TestOneInput(data: bytes)``: it returns when the code under test
either returned a value or raised one of the errors its callers turn into a clear message, and
raises anything else (libFuzzer then saves the input as ``crash-*``). Run as a script, the
module's imports are instrumented for coverage (:func:`instrumented`) and libFuzzer drives it
(:func:`fuzz`); imported by the tests, it is plain Python.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import atheris

_scratch: list[Path] = []


def instrumented(module_name: str, *packages: str) -> contextlib.AbstractContextManager[Any]:
    """``atheris.instrument_imports()`` of facesearch and ``packages`` (the parsers it relies
    on) when the harness runs as the fuzzer, else nothing: the tests import harnesses into a
    process whose other modules stay uninstrumented. Instrumenting every import (pydantic,
    SQLAlchemy, FastAPI, ...) would cost a minute of CPU at each start for no gain."""
    if module_name == "__main__":
        return atheris.instrument_imports(include=["facesearch", *packages])
    return contextlib.nullcontext()


def scratch() -> Path:
    """A temporary folder for this process (files the code under test reads), removed at exit."""
    if not _scratch:
        folder = Path(tempfile.mkdtemp(prefix="facesearch-fuzz-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _scratch.append(folder)
    return _scratch[0]


def own_peak_rss(command: list[str]) -> list[str]:
    """``command`` run by a shell that forks it rather than exec'ing it. libFuzzer's peak RSS
    (its -rss_limit_mb and its figures) is getrusage's ru_maxrss, which carries over exec: a
    fuzzer exec'd by a large process (pytest with models loaded) would start at that process's
    peak, and could be stopped as out of memory before running a single input. A forked child
    starts from its own."""
    return ["sh", "-c", '"$@"; status=$?; exit $status', "fuzz", *command]


def fuzz(test_one_input: Callable[[bytes], None]) -> None:
    """Run libFuzzer over ``test_one_input`` with the command line's arguments."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
