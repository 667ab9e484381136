from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from tests.support.govern import policy_with

from facesearch.govern import PolicyError, default_policy, load_policy, parse_policy


def test_default_policy_has_the_two_purposes_with_approval() -> None:
    p = default_policy()
    names = [x.name for x in p.purposes]
    assert names == [
        "victim identification in a child sexual exploitation investigation",
        "imminent threat to life or grievous bodily harm",
    ]
    assert all(x.requires_approval for x in p.purposes)
    assert p.purpose("threat-to-life") is p.purpose(names[1])
    assert p.purpose("curiosity") is None
    assert p.search.band_shown("strong") and p.search.band_shown("possible")
    assert not p.search.band_shown("weak") and not p.search.band_shown("unknown-band")
    assert len(p.sha256) == 64


def test_policy_is_frozen() -> None:
    p = default_policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.search.max_candidates = 1000  # type: ignore[misc]


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "test.toml")
    assert "test.toml" in str(exc.value)
    return dict(exc.value.problems)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("max_candidates = 20", 'max_candidates = "twenty"', "search.max_candidates"),
        ("max_candidates = 20", "max_candidates = 0", "search.max_candidates"),
        ("max_candidates = 20", "", "search.max_candidates"),
        ("min_probe_quality = 0.3", "min_probe_quality = 1.5", "search.min_probe_quality"),
        ('min_band_shown = "possible"', 'min_band_shown = "maybe"', "search.min_band_shown"),
        ('bands = ["strong", "possible", "weak"]', "bands = []", "search.bands"),
        (
            "probe_days_after_close = 30",
            "probe_days_after_close = -1",
            "retention.probe_days_after_close",
        ),
        (
            "probe_days_after_close = 30",
            "probe_day_after_close = 30",
            "retention.probe_day_after_close",
        ),
        ("threshold = 0.40", "threshold = true", "suppression.threshold"),
        (
            "requires_approval = true\n\n[[purposes]]",
            'requires_approval = "yes"\n\n[[purposes]]',
            "purposes[0].requires_approval",
        ),
        ('key = "threat-to-life"', 'key = "cse-victim-id"', "purposes[1].key"),
        ('key = "threat-to-life"', 'key = "Threat To Life"', "purposes[1].key"),
        ("version = 1", "version = 2", "version"),
        ("[oversight]", "[oversite]", "oversight"),
    ],
)
def test_invalid_field_is_named(old: str, new: str, field: str) -> None:
    text = default_policy().text
    assert old in text
    problems = _problems(text.replace(old, new, 1))
    assert field in problems, problems


def test_every_problem_is_reported_at_once() -> None:
    text = (
        default_policy()
        .text.replace("max_candidates = 20", "max_candidates = -5")
        .replace("results_days_after_close = 365", "results_days_after_close = 1.5")
    )
    problems = _problems(text)
    assert {"search.max_candidates", "retention.results_days_after_close"} <= set(problems)


def test_no_purposes_and_bad_toml() -> None:
    assert "purposes" in _problems("version = 1\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("version = = 1", "x.toml")


def test_load_from_file_and_missing_file(tmp_path: Path) -> None:
    good = tmp_path / "p.toml"
    good.write_text(policy_with(**{"max_candidates = 20": "max_candidates = 5"}).text)
    assert load_policy(good).search.max_candidates == 5
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
