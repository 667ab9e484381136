"""The fuzz harnesses (fuzz/): each one's TestOneInput over its generated seeds (the default
run: a second or two), and each under libFuzzer for about 8 s (marker ``trials``, run by
``make test-trials``), failing on a crash with the path of the input that caused it.

The long run by hand is ``make fuzz`` (docs/reliability.md, "Fuzzing").
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("atheris", reason="atheris (the dev extra) runs the fuzz harnesses")

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"  # on sys.path: conftest.py

import seeds  # noqa: E402  (fuzz/seeds.py)
from _harness import own_peak_rss  # noqa: E402

TRIAL_SECONDS = 8


def harness(target: str) -> ModuleType:
    return importlib.import_module(f"fuzz_{target}")


@pytest.mark.parametrize("target", seeds.TARGETS)
def test_every_seed_passes_its_harness(target: str) -> None:
    """Valid and near-valid inputs give a value or the project's own error (a harness
    raises anything else)."""
    test_one_input: Callable[[bytes], None] = harness(target).TestOneInput
    inputs = seeds.seeds(target)
    assert len(inputs) >= 5
    for data in inputs:
        test_one_input(data)


def test_a_harness_raises_what_callers_do_not_expect() -> None:
    """The property can fail: an exception other than the allowed ones goes through."""
    fuzz_policy = harness("policy")
    fuzz_policy.TestOneInput(b"version = [")  # PolicyError: allowed, returns
    original = fuzz_policy.parse_policy

    def broken(text: str, source: str = "") -> None:
        raise KeyError("a parser bug")

    fuzz_policy.parse_policy = broken
    try:
        with pytest.raises(KeyError):
            fuzz_policy.TestOneInput(b"version = 1")
    finally:
        fuzz_policy.parse_policy = original


def test_seeds_are_written_per_target(tmp_path: Path) -> None:
    folders = seeds.write_seeds(tmp_path)
    assert sorted(folders) == sorted(seeds.TARGETS)
    for target, folder in folders.items():
        assert len(list(folder.iterdir())) == len(seeds.seeds(target))


@pytest.mark.trials
@pytest.mark.parametrize("target", seeds.TARGETS)
def test_fuzz_briefly_without_a_crash(target: str, tmp_path: Path) -> None:
    """libFuzzer for TRIAL_SECONDS from the seeds: no crash, no hang (-timeout), no runaway
    memory (-rss_limit_mb)."""
    corpus = seeds.write_seeds(tmp_path / "corpus", (target,))[target]
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    command = [
        *own_peak_rss([sys.executable]),
        str(FUZZ / f"fuzz_{target}.py"),
        str(corpus),
        f"-max_total_time={TRIAL_SECONDS}",
        "-rss_limit_mb=2048",
        "-timeout=10",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=TRIAL_SECONDS + 120, check=False
    )
    crashes = sorted(str(p) for p in artifacts.iterdir())
    if run.returncode != 0 or crashes:
        kept = Path.cwd() / "fuzz-artifacts" / target
        kept.mkdir(parents=True, exist_ok=True)
        saved = [shutil.copy(p, kept) for p in crashes]
        tail = "\n".join(run.stderr.splitlines()[-40:])
        pytest.fail(
            f"fuzz_{target} failed (exit {run.returncode}); crashing input(s): {saved or 'none'}"
            f"\nreplay: python fuzz/fuzz_{target}.py <input>\n{tail}"
        )
    assert "Done" in run.stderr and "runs in" in run.stderr
