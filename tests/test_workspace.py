"""The governed product end to end, with the real engine: removal on request and suppression."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import write_image

from facesearch.app.service import SearchRequest, Service
from facesearch.app.workspace import Workspace
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role
from facesearch.settings import Settings


@pytest.fixture
def ws(tmp_path, pipeline, astronaut, other_faces):
    w = Workspace.open(tmp_path / "data")
    w.gallery.pipeline = pipeline
    w.init("admin")
    gov = w.governance
    gov.add_user("admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    write_image(folder / "astronaut_flipped.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    for i, img in enumerate(other_faces[:6]):
        write_image(folder / f"other_{i}.png", img)
    w.ingest("admin", [folder], workers=0)
    w.folder = folder  # type: ignore[attr-defined]
    w.service = Service(Settings(data_dir=tmp_path / "data"), w)  # type: ignore[attr-defined]
    yield w
    w.service.close()  # closes the workspace too


def _search(ws, probe: bytes, k: int | None = None):
    service = ws.service
    return service.searches.search(
        service.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=k)
    )


def test_removal_on_request_and_suppression(ws, tmp_path, astronaut):
    folder = ws.folder
    request_photo = write_image(tmp_path / "request.jpg", astronaut[40:300, 120:360])
    admin = ws.service.accounts.principal("admin", "cli")
    request_id, matches = ws.service.admin.preview_removal(
        admin, [request_photo.read_bytes()], "the person", "erasure request"
    )
    found = {m.image_path.split("/")[-1] for m in matches if m.image_path}
    assert found == {"astronaut.png", "astronaut_flipped.jpg"}
    removed = ws.service.admin.apply_removal(admin, request_id, None)
    assert len(removed) == 2

    # gone from results at once
    outcome = _search(ws, (folder / "astronaut.png").read_bytes()).outcome
    assert all(
        "astronaut" not in (c.provenance[0]["path"] if c.provenance else "")
        for c in outcome.candidates
    )
    # and never ingested again
    report = ws.ingest("admin", [folder], workers=0)
    assert report.images_already_stored == 6  # the others are still there
    assert report.images_new == 2  # the two emptied images were deleted, seen again now ...
    assert report.faces_suppressed == 2 and report.faces_indexed == 0  # ... and left out
    for path in ("astronaut.png", "astronaut_flipped.jpg"):
        sha = __import__("hashlib").sha256((folder / path).read_bytes()).hexdigest()
        with ws.gallery.catalog.session() as s:
            from facesearch.store.schema import Image

            image = s.query(Image).filter_by(sha256=sha).one()
            assert image.thumbnail is None and image.face_count == 0
    outcome = _search(ws, (folder / "astronaut.png").read_bytes()).outcome
    assert all(c.score < 0.5 for c in outcome.candidates)


def test_ingest_is_logged_and_needs_an_administrator(ws):
    from facesearch.govern import audit

    with pytest.raises(RefusedError, match="lacks the role"):
        ws.ingest("inv", [ws.folder], workers=0)
    with ws.governance.session() as s:
        actions = [(e.actor, e.action) for e in audit.entries(s)]
    assert ("admin", "ingest.run") in actions and ("inv", "ingest.refused") in actions


def test_search_records_what_was_shown(ws):
    from facesearch.govern import audit

    probe = (ws.folder / "astronaut.png").read_bytes()
    view = _search(ws, probe, k=5)
    outcome, engine = view.outcome, ws.gallery.search(probe, 5)
    assert view.gallery_size == engine.gallery_size and outcome.candidates
    assert outcome.candidates[0].score == engine.candidates[0].score
    assert {c.face_id for c in outcome.candidates} <= set(view.boxes)
    with ws.governance.session() as s:
        entry = [e for e in audit.entries(s) if e.action == "search"][-1]
    assert entry.details["probe_sha256"] == outcome.probe_sha256
    shown = entry.details.get("candidates") or entry.details.get("shown")
    assert shown, entry.details


def test_the_composition_root_adds_media_sections_to_its_governance_only(tmp_path) -> None:
    """Victim identification's case-report sections are wired by the composition root into
    the governance it builds (governance imports no media; nothing is registered per process)."""
    from facesearch.govern import Governance
    from facesearch.govern.report_sections import MULTI_PROBE

    with Workspace.open(tmp_path / "data") as w:
        assert w.governance.report_sections.names == ("media", MULTI_PROBE, "media-alerts")
        bare = Governance(w.governance.session_factory, w.governance.policy)
        assert bare.report_sections.names == (MULTI_PROBE,)
