"""``facesearch suppress enrol-model`` with the real models: a suppression entry is enrolled
for the agency model the test suite makes ("test-resnet") from a photo of the same person; a
photo of another person is refused and stores nothing."""

from __future__ import annotations

from sqlalchemy import select
from tests.conftest import write_image
from tests.support.cli import CliUsers
from tests.support.media import make_app
from typer.testing import CliRunner

from facesearch.govern.moves_schema import SuppressionVector
from facesearch.govern.schema import Suppression
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import ModelStore


def test_enrol_model_from_the_command_line(
    tmp_path, pipeline, agency_model, astronaut, other_faces
):
    from facesearch.cli import app

    data = tmp_path / "data"
    setup = make_app(data, pipeline, search_workers=1)
    service = setup.service
    try:
        onnx, card = agency_model
        store = ModelStore.of(data)
        store.add(onnx, parse_card(read_card(card), load_manifest()))
        store.write_calibration("test-resnet", {"thresholds": {"match": 0.92, "strong": 0.95}})
        admin = service.accounts.principal("admin", "cli")
        photo = write_image(tmp_path / "her.jpg", astronaut).read_bytes()
        request_id, _ = service.admin.preview_removal(admin, [photo], "the person", "DSR-9")
        service.admin.apply_removal(admin, request_id, None)
        with service.governance.session() as s:
            (entry_id,) = s.scalars(select(Suppression.id)).all()
        same = write_image(tmp_path / "same.jpg", astronaut[0:400, 40:440][:, ::-1])
        other = write_image(tmp_path / "other.jpg", other_faces[0])
        users = CliUsers(data)
        runner = CliRunner()

        def run(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, ["-d", str(data), *args], env=users.env("admin"))
            assert result.exit_code == code, (result.output, result.exception)
            return result.output

        cmd = ("suppress", "enrol-model", str(entry_id))
        out = run(*cmd, str(other), "--model", "test-resnet", code=2)
        assert "not the same person" in out
        out = run(*cmd, str(same), "--model", "test-resnet")
        assert f"suppression entry {entry_id}: enrolled for test-resnet@" in out
        with service.governance.session() as s:
            (row,) = s.scalars(select(SuppressionVector)).all()
            assert row.suppression_id == entry_id and row.source == "photo"
            assert row.enrolled_by == "admin" and row.threshold is not None
    finally:
        service.close()
