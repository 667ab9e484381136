"""The gallery as its administrators keep it (``facesearch.app.library`` and the removals of
``facesearch.app.admin``), end to end with the real engine: set-up, logged ingest, removal on
request and suppression, removal by face id, re-indexing, and the composition root's wiring."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.govern import add_user_approved

from facesearch.app.service import SearchRequest, Service
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role
from facesearch.settings import Settings


@pytest.fixture
def ws(tmp_path, pipeline, astronaut, other_faces):
    w = Service.for_cli(Settings(data_dir=tmp_path / "data"), pipeline=pipeline)
    w.library.initialise("admin")
    gov = w.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    write_image(folder / "astronaut_flipped.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    for i, img in enumerate(other_faces[:6]):
        write_image(folder / f"other_{i}.png", img)
    w.library.ingest(_who(w, "admin"), [folder], workers=0)
    w.folder = folder  # type: ignore[attr-defined]
    yield w
    w.close()


def _who(service: Service, username: str):  # type: ignore[no-untyped-def]
    return service.accounts.principal(username, "cli")


def _search(ws, probe: bytes, k: int | None = None):
    return ws.searches.search(_who(ws, "inv"), "C-1", probe, SearchRequest(k=k))


def test_removal_on_request_and_suppression(ws, tmp_path, astronaut):
    folder = ws.folder
    request_photo = write_image(tmp_path / "request.jpg", astronaut[40:300, 120:360])
    admin = ws.accounts.principal("admin", "cli")
    request_id, matches = ws.admin.preview_removal(
        admin, [request_photo.read_bytes()], "the person", "erasure request"
    )
    found = {m.image_path.split("/")[-1] for m in matches if m.image_path}
    assert found == {"astronaut.png", "astronaut_flipped.jpg"}
    removed = ws.admin.apply_removal(admin, request_id, None)
    assert len(removed) == 2

    # gone from results at once
    outcome = _search(ws, (folder / "astronaut.png").read_bytes()).outcome
    assert all(
        "astronaut" not in (c.provenance[0]["path"] if c.provenance else "")
        for c in outcome.candidates
    )
    # and never ingested again
    report = ws.library.ingest(_who(ws, "admin"), [folder], workers=0)
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
        ws.library.ingest(_who(ws, "inv"), [ws.folder], workers=0)
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

    with Service.for_cli(Settings(data_dir=tmp_path / "data")) as w:
        assert w.governance.report_sections.names == ("media", MULTI_PROBE, "media-alerts")
        bare = Governance(w.governance.session_factory, w.governance.policy)
        assert bare.report_sections.names == (MULTI_PROBE,)


def _actions(service: Service) -> list[tuple[str, str]]:
    from facesearch.govern import audit

    with service.governance.session() as s:
        return [(e.actor, e.action) for e in audit.entries(s)]


def test_initialise_writes_the_default_policy_once_and_refuses_a_second_administrator(
    tmp_path,
) -> None:
    from facesearch.govern.errors import GovernanceError

    with Service.for_cli(Settings(data_dir=tmp_path / "data")) as service:
        policy = service.library.initialise("root", display_name="Root")
        assert policy == tmp_path / "data" / "policy.toml"
        text = policy.read_text("utf-8")
        assert text.strip()
        assert _who(service, "root").display_name == "Root"
        policy.write_text(text + "\n# kept\n", "utf-8")
        with pytest.raises(GovernanceError):
            service.library.initialise("second")
        assert policy.read_text("utf-8").endswith("# kept\n")  # not overwritten


def test_remove_faces_by_id_is_logged_and_needs_an_administrator(ws) -> None:
    from facesearch.govern import audit

    probe = (ws.folder / "astronaut.png").read_bytes()
    before = ws.gallery.stats()["faces"]
    top = ws.gallery.search(probe, 1).candidates[0].face_id
    with pytest.raises(RefusedError, match="lacks the role"):
        ws.admin.remove_faces(_who(ws, "inv"), [top], "mistaken ingest")
    assert ws.admin.remove_faces(_who(ws, "admin"), [top], "mistaken ingest") == 1
    assert ws.gallery.stats()["faces"] == before - 1
    assert all(c.face_id != top for c in ws.gallery.search(probe, 5).candidates)
    with ws.governance.session() as s:
        entry = [e for e in audit.entries(s) if e.action == "faces.delete"][-1]
    assert entry.actor == "admin"
    auth = entry.details.pop("auth")
    assert entry.details == {"faces": [top], "removed": 1, "reason": "mistaken ingest"}
    assert auth == {"method": "cli"}
    assert ("inv", "faces.delete.refused") in _actions(ws)


def test_reindex_and_second_pass_are_logged_and_need_an_administrator(ws) -> None:
    admin, inv = _who(ws, "admin"), _who(ws, "inv")
    faces = ws.gallery.stats()["faces"]
    assert ws.library.reindex(admin) == faces
    report = ws.library.second_pass(admin, workers=0)
    assert not report.interrupted
    for act in (ws.library.reindex, lambda who: ws.library.second_pass(who, workers=0)):
        with pytest.raises(RefusedError, match="lacks the role"):
            act(inv)
    actions = _actions(ws)
    assert ("admin", "index.rebuild") in actions and ("inv", "index.rebuild.refused") in actions
    assert ("admin", "ingest.second_pass") in actions
    assert ("inv", "ingest.second_pass.refused") in actions


def test_the_composition_root_uses_the_pipeline_it_is_given(tmp_path, pipeline) -> None:
    with Service.for_cli(Settings(data_dir=tmp_path / "data"), pipeline=pipeline) as service:
        assert service.gallery.pipeline is pipeline
        assert service.ctx.verifier().pipeline is pipeline  # the first search thread's


def _loose_modes(root) -> list[str]:  # type: ignore[no-untyped-def]
    """Every path under ``root`` (and ``root``) whose mode is not 0700 (folder) / 0600 (file)."""
    import os
    import stat

    loose = []
    for path in [root, *sorted(root.rglob("*"))]:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            loose.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return loose


@pytest.fixture
def loose_umask():  # type: ignore[no-untyped-def]
    """A library user's usual umask (0o022): the app layer must not rely on the CLI's."""
    import os

    before = os.umask(0o022)
    yield
    os.umask(before)


def test_the_data_directory_and_everything_in_it_are_private(loose_umask, ws) -> None:
    """After set-up and an ingest through the app layer (no CLI umask), every folder under
    the data directory is 0700 and every file 0600: no other local account reads face crops,
    the index or the catalog's password hashes."""
    ws.library.reindex(_who(ws, "admin"))
    assert _loose_modes(ws.ctx.settings.data_dir) == []


def test_stats_warns_about_a_data_directory_readable_by_others(ws) -> None:
    admin = _who(ws, "admin")
    assert ws.library.stats(admin).get("warnings", []) == []
    data_dir = ws.ctx.settings.data_dir
    data_dir.chmod(0o755)
    (data_dir / "catalog.db").chmod(0o644)
    warnings = ws.library.stats(admin)["warnings"]
    assert any(str(data_dir) in w and "0o755" in w for w in warnings)
    assert any("catalog.db" in w and "0o644" in w for w in warnings)


def test_an_ingest_job_keeps_manifest_rows_inside_the_ingest_roots(
    tmp_path, pipeline, astronaut, other_faces
) -> None:
    root = tmp_path / "allowed"
    write_image(root / "inside.jpg", other_faces[0])
    write_image(tmp_path / "secret" / "outside.jpg", astronaut)
    manifest = root / "list.csv"
    manifest.write_text(f"path\ninside.jpg\n{tmp_path / 'secret' / 'outside.jpg'}\n")
    w = Service.for_cli(
        Settings(data_dir=tmp_path / "data", ingest_roots=[root], ingest_workers=0),
        pipeline=pipeline,
    )
    try:
        w.library.initialise("admin")
        admin = _who(w, "admin")
        path = w.library.allowed_ingest_path(admin, str(manifest))
        job = w.library.start_job(admin, [str(path)], None)
        done = w.library.jobs.wait(job.id, 120)
        assert done is not None and done.status == "completed" and done.run_id is not None
        assert done.counts is not None and done.counts["images_new"] == 1
        failures = w.library.run_failures(admin, done.run_id)
        assert [r for _, r in failures if "refused" in r] == [
            f"{manifest}:3: refused: not under a folder the server allows for ingest"
        ]
        # the local CLI names files itself: no roots apply to its ingest
        report = w.library.ingest(admin, [], manifest=manifest, workers=0)
        assert report.images_new == 1
    finally:
        w.close()
