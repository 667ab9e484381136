"""A similarity threshold carried from one recognizer's scale to another's
(``govern/standing_moves.carried_threshold``): the same place relative to each model's own
calibrated bands (match: FAR 1e-3, strong: FAR 1e-4)."""

from __future__ import annotations

import pytest

from facesearch.govern.standing_moves import carried_threshold

SFACE = {"match": 0.3326, "strong": 0.3939}
OTHER = {"match": 0.92, "strong": 0.95}


def test_the_bands_map_onto_the_bands_and_back():
    assert carried_threshold(SFACE["match"], SFACE, OTHER) == pytest.approx(OTHER["match"])
    assert carried_threshold(SFACE["strong"], SFACE, OTHER) == pytest.approx(OTHER["strong"])
    there = carried_threshold(0.40, SFACE, OTHER)
    assert OTHER["strong"] < there < 1.0
    assert carried_threshold(there, OTHER, SFACE) == pytest.approx(0.40)


def test_a_model_without_bands_is_refused():
    with pytest.raises(ValueError, match="calibrated match and strong bands"):
        carried_threshold(0.40, SFACE, {})
    with pytest.raises(ValueError, match="strong band must be above"):
        carried_threshold(0.40, SFACE, {"match": 0.9, "strong": 0.8})
