"""Multi-probe search through the application service: several photos of one person (or a media
cluster) as one governed query, every probe hashed, stored and audited, and which probes matched
each candidate. Real models, a real gallery ingested from the shared CFP photos, SQLite."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.cli import CliUsers
from tests.support.media import cfp_frontal, make_app

from facesearch.app import Service
from facesearch.app.service import SearchRequest
from facesearch.errors import NoFaceError
from facesearch.govern.errors import RefusedError
from facesearch.govern.multisearch_schema import MultiProbeScore, SearchProbe
from facesearch.govern.schema import AuditEntry, Probe
from facesearch.media.acts import MediaService

# real models and a gallery ingested from the shared photos: tens of seconds each
pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

GALLERY_PEOPLE = range(60, 72)


@dataclass
class World:
    service: Service
    media: MediaService


@pytest.fixture
def world(tmp_path, pipeline, shared_faces):
    s = make_app(tmp_path / "data", pipeline, search_workers=1)
    folder = tmp_path / "gallery"
    folder.mkdir()
    for p in GALLERY_PEOPLE:
        for k in (8, 9):
            shutil.copy(cfp_frontal(shared_faces, p, k), folder / f"p{p}_{k}.jpg")
    service = s.service
    admin = service.accounts.principal("admin", "cli")
    report = service.library.ingest(admin, [folder], workers=0)
    assert not report.failures
    yield World(service, s.media)
    service.close()


@dataclass(frozen=True)
class Logged:
    case: str | None
    details: dict[str, Any]


def _entries(service: Service, action: str) -> list[Logged]:
    with service.governance.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return [Logged(r.case_number, json.loads(r.details)) for r in rows]


def _media_faces(service: Service, case: str) -> set[int]:
    from facesearch.govern.schema import Case
    from facesearch.media.schema import MediaFace

    with service.governance.session() as s:
        q = select(MediaFace.id).join(Case, Case.id == MediaFace.case_id).where(Case.number == case)
        return {int(i) for i in s.execute(q).scalars()}


def test_photos_as_one_query_hashed_stored_audited(world: World, shared_faces) -> None:
    ivy = world.service.accounts.principal("ivy", "cli")
    photos = [cfp_frontal(shared_faces, 63, k).read_bytes() for k in (1, 2, 3)]
    out = world.service.searches.multi_search(
        ivy, "A", photos, SearchRequest(k=5), names=["a.jpg", "b.jpg", "c.jpg"]
    )
    shas = [hashlib.sha256(p).hexdigest() for p in photos]
    assert [p.sha256 for p in out.probes] == shas
    assert [p.label for p in out.probes] == ["a.jpg", "b.jpg", "c.jpg"]
    top = out.outcome.candidates[0]
    assert top.provenance[0]["path"].endswith(("p63_8.jpg", "p63_9.jpg"))
    sc = out.scores[top.face_id]
    assert sc.mean_score == top.score and len(sc.scores) == 3
    assert sc.best_score == max(sc.scores) and sc.scores[sc.best_probe - 1] == sc.best_score
    assert sc.matched == (1, 2, 3)  # three photos of the same person all match
    # a candidate of another person is matched by fewer probes, and ranks lower
    others = [c for c in out.outcome.candidates[2:] if "p63_" not in c.provenance[0]["path"]]
    assert all(out.scores[c.face_id].mean_score < sc.mean_score for c in others)
    view = out.to_dict()
    assert view["candidates"][0]["matched_probes"] == [1, 2, 3]
    assert view["candidates"][0]["best_score"] == sc.best_score
    with world.service.governance.session() as s:
        stored = {p.sha256 for p in s.execute(select(Probe)).scalars()}
        assert set(shas) <= stored
        rows = s.execute(select(SearchProbe).order_by(SearchProbe.position)).scalars().all()
        assert [r.sha256 for r in rows] == shas
        assert s.execute(select(MultiProbeScore)).scalars().all()
    (search,) = _entries(world.service, "search")
    assert search.details["probe_sha256"] == shas[0]
    (probes,) = _entries(world.service, "search.probes")
    assert [p["sha256"] for p in probes.details["probes"]] == shas
    assert probes.details["candidates"][0]["matched"] == [1, 2, 3]
    # the search is listed and viewed like any other, with its probes and scores
    report = world.service.cases.report(ivy, "A", "html").data.decode()
    assert "Multi-probe searches" in report and shas[2] in report


def test_multi_probe_refusals_are_logged(world: World, shared_faces, astronaut) -> None:
    import cv2
    import numpy as np

    ian = world.service.accounts.principal("ian", "cli")
    photos = [cfp_frontal(shared_faces, 63, k).read_bytes() for k in (1, 2)]
    with pytest.raises(RefusedError, match="not assigned"):
        world.service.searches.multi_search(ian, "A", photos, SearchRequest())
    ivy = world.service.accounts.principal("ivy", "cli")
    with pytest.raises(RefusedError, match="needs a case"):
        world.service.searches.multi_search(ivy, None, photos, SearchRequest())
    _ok, blank = cv2.imencode(".png", np.full((120, 120, 3), 200, np.uint8))
    with pytest.raises(NoFaceError, match=r"blank\.png"):
        world.service.searches.multi_search(
            ivy, "A", [*photos, blank.tobytes()], SearchRequest(), names=["x", "y", "blank.png"]
        )
    assert len(_entries(world.service, "search.refused")) == 2
    assert len(_entries(world.service, "search.failed")) == 1
    assert not _entries(world.service, "search")


def test_cluster_search_and_cross_case_alerts_reveal_only_case_and_supervisor(
    world: World, shared_faces, tmp_path
) -> None:
    a, b = tmp_path / "seized-a", tmp_path / "seized-b"
    a.mkdir()
    b.mkdir()
    for k in (1, 2, 3):
        shutil.copy(cfp_frontal(shared_faces, 65, k), a / f"child-{k}.jpg")
    shutil.copy(cfp_frontal(shared_faces, 90, 1), a / "other.jpg")
    for k in (4, 5):
        shutil.copy(cfp_frontal(shared_faces, 65, k), b / f"secret-b-{k}.jpg")
    world.media.import_media("ivy", "A", [a], workers=0)
    assert world.media.alerts("ivy", "A") == []
    world.media.import_media("ian", "B", [b], workers=0)  # the import looks across cases
    (alert_a,) = world.media.alerts("ivy", "A")
    (alert_b,) = world.media.alerts("ian", "B")
    assert alert_a.other_case == "B" and alert_b.other_case == "A"
    assert alert_a.supervisor == "sup" and "Case B has a possible match" in alert_a.message
    faces_a = {f["file_id"] for f in world.media.files("ivy", "A")}
    assert faces_a  # the alert names only A's own faces
    own_a, own_b = _media_faces(world.service, "A"), _media_faces(world.service, "B")
    assert set(alert_a.faces) <= own_a and set(alert_b.faces) <= own_b
    shown = str(alert_a.to_dict())
    assert "secret-b" not in shown and not (set(alert_a.faces) & own_b)
    # the audit: one entry per side, each with its own faces only
    entries = {e.case: e.details for e in _entries(world.service, "media.alert")}
    assert set(entries["A"]["faces"]) <= own_a and set(entries["B"]["faces"]) <= own_b
    report_a = world.service.cases.report(
        world.service.accounts.principal("ivy", "cli"), "A", "html"
    )
    text_a = report_a.data.decode()
    assert "Cross-case alerts" in text_a and "secret-b" not in text_a
    for f in own_b:
        assert f"face {f}" not in text_a
    # crosscheck again: nothing new
    assert world.media.crosscheck("ivy", "A").new_pairs == 0
    # an investigator of B sees nothing of A's media in any command
    for call in (
        lambda: world.media.files("ian", "A"),
        lambda: world.media.summary("ian", "A"),
        lambda: world.media.clusters("ian", "A"),
        lambda: world.media.alerts("ian", "A"),
        lambda: world.media.crosscheck("ian", "A"),
        lambda: world.media.media_sets("ian", "A"),
        lambda: world.media.face_picture("ian", "A", min(own_a)),
        lambda: world.media.face_picture("ian", "B", min(own_a)),
    ):
        with pytest.raises(RefusedError):
            call()
    # the person found in A's media, searched in the gallery as one query
    world.media.cluster("ivy", "A")
    views = world.media.clusters("ivy", "A")
    child = next(v for v in views if any("child" in f.file for f in v.faces))
    ivy = world.service.accounts.principal("ivy", "cli")
    out = world.service.searches.cluster_search(
        ivy, "A", child.cluster, SearchRequest(k=3), max_probes=2
    )
    assert len(out.probes) == 2 and out.cluster == child.cluster
    assert all(p.media_face_id in {f.face_id for f in child.faces} for p in out.probes)
    assert out.outcome.candidates[0].provenance[0]["path"].endswith(("p65_8.jpg", "p65_9.jpg"))
    (probes,) = _entries(world.service, "search.probes")
    assert probes.details["cluster"] == child.cluster
    # the report's media sections in both formats (persons, the cluster search, the alert)
    html_a = world.service.cases.report(ivy, "A", "html").data.decode()
    assert f"media face {out.probes[0].media_face_id} (cluster {child.cluster})" in html_a
    assert "Persons found in the media" in html_a and "known-image elimination" in html_a
    assert world.service.cases.report(ivy, "A", "pdf").data[:5] == b"%PDF-"
    # B's investigator cannot search A's cluster, in A or in B
    ian = world.service.accounts.principal("ian", "cli")
    with pytest.raises(RefusedError):
        world.service.searches.cluster_search(ian, "A", child.cluster, SearchRequest())
    with pytest.raises(RefusedError, match="no cluster"):
        world.service.searches.cluster_search(ian, "B", child.cluster, SearchRequest())


def test_cli_multi_probe_search_cluster_search_and_alerts(tmp_path, shared_faces) -> None:
    from typer.testing import CliRunner

    from facesearch.cli import app

    runner = CliRunner()
    data = str(tmp_path / "data")
    make_app(tmp_path / "data").service.close()
    gallery, a, b = tmp_path / "gallery", tmp_path / "a", tmp_path / "b"
    for folder in (gallery, a, b):
        folder.mkdir()
    for p in (40, 41, 42):
        shutil.copy(cfp_frontal(shared_faces, p, 8), gallery / f"p{p}_8.jpg")
    for k in (1, 2):
        shutil.copy(cfp_frontal(shared_faces, 41, k), a / f"a{k}.jpg")
    shutil.copy(cfp_frontal(shared_faces, 41, 3), b / "b-only.jpg")

    users = CliUsers(data)  # each user's token, made on first use

    def run(user, *args, code=0):
        res = runner.invoke(app, ["-d", data, *args], env=users.env(user))
        assert res.exit_code == code, res.output
        return res.output

    run("admin", "ingest", str(gallery), "--workers", "0")
    probes = [str(cfp_frontal(shared_faces, 42, k)) for k in (1, 2, 3)]
    out = json.loads(run("ivy", "search", *probes, "--case", "A", "-k", "2", "--json"))
    assert out["multi_probe"] and len(out["probes"]) == 3
    assert out["candidates"][0]["matched_probes"] == [1, 2, 3]
    assert out["candidates"][0]["provenance"][0]["path"].endswith("p42_8.jpg")
    text = run("ivy", "search", *probes, "--case", "A")
    assert "Probes (photos)" in text and "2: 02.jpg" in text and "possible match" not in text
    run("ivy", "media", "import", str(a), "--case", "A", "--workers", "0", "--json")
    imported = run("ian", "media", "import", str(b), "--case", "B", "--workers", "0")
    assert "Case A has a possible match" in imported and "a1.jpg" not in imported
    alerts = json.loads(run("ivy", "media", "alerts", "A", "--json"))["alerts"]
    assert [x["other_case"] for x in alerts] == ["B"] and "b-only" not in str(alerts)
    assert "no new" not in run("ivy", "media", "crosscheck", "A")
    run("ivy", "media", "cluster", "A")
    cid = json.loads(run("ivy", "media", "clusters", "A", "--json"))["clusters"][0]["cluster"]
    found = json.loads(run("ivy", "media", "search", "A", "--cluster", str(cid), "--json"))
    assert found["cluster"] == cid and len(found["probes"]) == 2
    assert found["candidates"][0]["provenance"][0]["path"].endswith("p41_8.jpg")
    for args in (("media", "alerts", "A"), ("media", "search", "A", "--cluster", str(cid))):
        assert "not assigned" in run("ian", *args, code=2)
