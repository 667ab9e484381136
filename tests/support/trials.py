"""Crash trials: an operation run as a real ``facesearch`` process, killed with SIGKILL at a
random moment, run again to completion, and compared with an uninterrupted run.

Used by ``benchmarks/crash_trials.py`` (many trials, figures) and
``tests/reliability/test_crash_trials.py`` (one trial per operation, a fixed seed). Each
operation starts from a copy of one small data directory (:class:`Bench`, built once): a few
real photos ingested, encrypted at rest, users, a case with searches, a previewed removal
request. The process runs in its own process group, so the kill takes its worker processes
too. What a trial compares (:func:`state`): rows of every table that holds data (images,
provenance, faces, queued second vectors, searches, candidates, probes, removals,
suppressions, media files and faces), a signature of every face (photo hash, index in the
photo, searchable, second vector), nothing doubled (photos, provenance records, faces), the
vector index equal to the catalog's searchable faces, every blob present and readable, no
key rotation left unfinished, and the audit chain verified.
"""

from __future__ import annotations

import random
import shutil
import time

from tests.support.trials_core import (
    OPS,
    Bench,
    Op,
    TrialResult,
    copy_tree,
    differences,
    kill_at_random,
    run_cli,
    state,
)
from tests.support.trials_server import migrate_trial, serve_trial

__all__ = ["OPS", "Bench", "TrialResult", "trial"]


def trial(bench: Bench, name: str, seed: int) -> TrialResult:
    """One trial of operation ``name``: kill, finish, compare."""
    if name == "backup":
        return backup_trial(bench, seed)
    if name == "serve-search":
        return serve_trial(bench, seed)
    if name == "migrate":
        return migrate_trial(bench, seed)
    op = bench.ops[name]
    want, span = bench.reference(name)
    rng = random.Random(seed)
    t0 = time.monotonic()
    data = copy_tree(bench.start_dir(op.base), bench.fresh(name))
    env = bench.env(data, op)
    delay, running = kill_at_random(op.argv(data), env, rng, span, bench.start_up())
    problems = []
    done = run_cli(op.argv(data), env)
    finished = op.already_done is not None and op.already_done in done.stderr
    if done.returncode != 0 and not finished:
        problems.append(f"the run after the kill failed ({done.returncode}): {done.stderr[-800:]}")
    else:
        problems += differences(state(data, op.key), want)
    result = TrialResult(name, seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        shutil.rmtree(data, ignore_errors=True)
    return result


# --- backup: a partial copy is never taken for a backup; the next one is complete -----------


def backup_trial(bench: Bench, seed: int) -> TrialResult:
    op = Op("backup", lambda d: [])
    rng = random.Random(seed)
    t0 = time.monotonic()
    data = copy_tree(bench.base.data, bench.fresh("backup"))
    env = bench.env(data, op)
    want = bench.reference_state_of_base()
    span = bench.backup_span()
    dest = data.parent / f"{data.name}-partial"
    delay, running = kill_at_random(["backup", str(dest)], env, rng, span, bench.start_up())
    problems = []
    if running:
        restored = data.parent / f"{data.name}-from-partial"
        done = run_cli(["restore", str(dest), str(restored)], env)
        if done.returncode == 0 and not (dest / "manifest.json.sha256").exists():
            problems.append("a backup killed before its manifest was restored")
    dest2 = data.parent / f"{data.name}-backup"
    done = run_cli(["backup", str(dest2)], env)
    if done.returncode != 0:
        problems.append(f"the backup after the kill failed: {done.stderr[-800:]}")
    else:
        restored = data.parent / f"{data.name}-restored"
        back = run_cli(["restore", str(dest2), str(restored)], env)
        if back.returncode != 0:
            problems.append(f"the restore failed: {back.stderr[-800:]}")
        else:
            problems += [f"restored: {p}" for p in differences(state(restored), want)]
        problems += [f"source: {p}" for p in differences(state(data), want)]
    result = TrialResult("backup", seed, delay, running, time.monotonic() - t0, problems)
    if result.ok:
        for p in data.parent.glob(f"{data.name}*"):
            shutil.rmtree(p, ignore_errors=True)
    return result
