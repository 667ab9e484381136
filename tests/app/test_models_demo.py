"""``Models.add`` without ``--photos``: the smoke test runs on the demo photos (Barack Obama and
Joe Biden from the face_recognition 1.3.0 sdist, fetched from PyPI into a fresh cache), with
the real second recognizer ``test-resnet``; the figures are kept in the model's card.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.cli.test_demo import _pypi_reachable
from tests.support.cli import PASSWORD

from facesearch.app.service import Service
from facesearch.settings import Settings


@pytest.mark.registry
@pytest.mark.long  # needs PyPI; the smoke test itself runs in the default run (--photos)
def test_the_smoke_test_uses_the_demo_photos_by_default(
    tmp_path: Path,
    agency_model: tuple[Path, Path],
    pipeline: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not _pypi_reachable():
        pytest.skip("PyPI (https://pypi.org) cannot be reached: the demo photos cannot be fetched")
    monkeypatch.setenv("FACESEARCH_DEMO_PHOTOS", str(tmp_path / "demo-photos"))
    settings = Settings.load(data_dir=tmp_path / "data")
    with Service(settings, pipeline=pipeline) as service:
        service.library.initialise("admin", PASSWORD)
        admin = service.accounts.principal("admin", "cli")
        added = service.models.add(admin, *agency_model)
        assert added.smoke.passed, added.smoke.problems
        assert added.smoke.people == {"Barack Obama": 3, "Joe Biden": 1}
        assert added.smoke.photos.startswith("demo photos")
        assert added.model.smoke["margin"] == added.smoke.margin > 0
        assert [m.name for m in service.models.list(admin) if m.source == "store"] == [
            "test-resnet"
        ]
