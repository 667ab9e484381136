"""Fuzz policy files: govern/policy.py (TOML loading and validation).

The input is the policy file's bytes. Property (as ``load_policy`` reads a file): not UTF-8
is a PolicyError; ``parse_policy`` returns a Policy or raises PolicyError listing problems
(the CLI, the server's start and ``PUT /policy/check`` show them); never another exception. A
policy that parses can be described and asked about its purposes and bands.

    python fuzz/fuzz_policy.py fuzz/corpus/policy -max_total_time=600 -rss_limit_mb=2048
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import fuzz, instrumented

with instrumented(__name__, "tomllib"):
    from facesearch.govern.errors import PolicyError
    from facesearch.govern.policy import parse_policy


def TestOneInput(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # load_policy: PolicyError "the file is not UTF-8 text"
    try:
        policy = parse_policy(text, source="fuzz.toml")
    except PolicyError as exc:
        if not exc.problems:
            raise AssertionError("PolicyError without a problem") from exc
        return
    policy.describe()
    for p in policy.purposes:
        if policy.purpose(p.key) is None:
            raise AssertionError(f"purpose {p.key!r} not found by its key")
    for band in policy.search.bands:
        policy.search.band_shown(band)
    if not policy.search.band_shown(policy.search.min_band_shown):
        raise AssertionError("the lowest band shown is not shown")


if __name__ == "__main__":
    fuzz(TestOneInput)
