"""Standing queries with the real models (issue 24, item 6): a case's probe saved, then an
unrelated ingest raises no alert, an ingest of another photo of the same person raises exactly
one (recorded as a search of the case, reviewable like any other), and an expired query none.
The alert's candidates are checked against an exact oracle: a normal search of the whole
gallery, restricted to the faces the ingest added."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.govern import add_user_approved

from facesearch.app.service import SearchRequest, Service
from facesearch.govern import RefusedError
from facesearch.govern.users import Role
from facesearch.settings import Settings


@pytest.fixture
def service(tmp_path, pipeline):
    svc = Service(Settings(data_dir=tmp_path / "data"), pipeline=pipeline, share_pipeline=False)
    svc.library.initialise("admin")
    gov = svc.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.add_user("admin", "other", [Role.INVESTIGATOR])
    for number in ("C-1", "C-2"):
        gov.open_case("inv", number, "threat-to-life", "Order 7", "imminent threat")
        gov.approve_case("sup", number)
    yield svc
    svc.close()


def _folder(tmp_path, name, images):
    folder = tmp_path / name
    for i, img in enumerate(images):
        write_image(folder / f"{name}-{i}.png", img)
    return folder


def test_standing_query_alerts_once_for_the_same_person_and_never_otherwise(
    service, tmp_path, astronaut, other_faces
):
    admin = service.accounts.principal("admin", "cli")
    inv = service.accounts.principal("inv", "cli")
    sup = service.accounts.principal("sup", "cli")
    service.library.ingest(admin, [_folder(tmp_path, "first", other_faces[1:4])], workers=0)
    probe = write_image(tmp_path / "probe.jpg", astronaut).read_bytes()
    first = service.searches.search(inv, "C-1", probe, SearchRequest(k=5))
    assert not first.outcome.candidates  # the astronaut is not in the gallery yet

    # only an investigator assigned to the case, with an objective
    with pytest.raises(RefusedError, match="an objective is required"):
        service.standing.create(inv, first.outcome.search_id, " ")
    with pytest.raises(RefusedError, match="lacks the role"):
        service.standing.create(sup, first.outcome.search_id, "find her")
    other = service.accounts.principal("other", "cli")
    with pytest.raises(RefusedError):
        service.standing.create(other, first.outcome.search_id, "find her")
    query = service.standing.create(inv, first.outcome.search_id, "identify the victim")
    assert query.status == "active" and query.case == "C-1"
    # a second query, on another case, that expires before the ingest that would match it
    second = service.searches.search(inv, "C-2", probe, SearchRequest(k=5))
    soon = service.governance.clock() + timedelta(seconds=1)
    short = service.standing.create(inv, second.outcome.search_id, "short", expires_at=soon)

    # an unrelated ingest: no alert
    report = service.library.ingest(
        admin, [_folder(tmp_path, "unrelated", other_faces[4:8])], workers=0
    )
    assert report.followups["standing_new_faces"] == report.faces_indexed == 4
    assert report.followups["standing_alerts"] == 0
    assert service.standing.alerts(inv) == []
    time.sleep(1.2)  # the short query expires

    # another photo of the same person: exactly one alert, for the active query only
    crop = np.ascontiguousarray(astronaut[0:400, 40:440][:, ::-1])
    report = service.library.ingest(admin, [_folder(tmp_path, "same", [crop])], workers=0)
    assert report.faces_indexed == 1
    assert report.followups["standing_queries"] == 1  # the expired one no longer runs
    alerts = service.standing.alerts(inv)
    assert len(alerts) == 1 and alerts[0].query_id == query.id and alerts[0].case == "C-1"
    assert [a.id for a in service.standing.alerts(sup)] == [alerts[0].id]
    assert service.standing.alerts(other) == []  # not assigned to C-1
    (expired,) = [q for q in service.standing.queries(inv, "C-2")]
    assert expired.id == short.id and expired.status == "expired"

    # the alert is a search of the case: its candidates are what a search finds among the new
    # faces (the oracle: a full search, keeping the faces of this last ingest)
    alert_search = service.searches.view(inv, alerts[0].search_id)
    oracle = service.searches.search(inv, "C-1", probe, SearchRequest(k=20))
    new_ids = {c.face_id for c in oracle.outcome.candidates} - {
        c.face_id for c in first.outcome.candidates
    }
    expected = [
        (c.face_id, c.band)
        for c in oracle.outcome.candidates
        if c.face_id in new_ids and c.face_id > query.after_face_id
    ]
    assert [(c.face_id, c.band) for c in alert_search.candidates] == expected
    assert alert_search.candidates[0].band == "strong"
    # reviewed like any other search
    service.searches.review(inv, alerts[0].search_id, expected[0][0], "possible_match", "")
    seen = service.standing.seen(inv, alerts[0].id)
    assert seen.seen_by == "inv" and service.standing.alerts(inv) == []
    assert len(service.standing.alerts(sup, unseen_only=False)) == 1

    # the same faces are never compared twice: a run with nothing new raises nothing
    again = service.standing.run(admin)
    assert again.alerts == [] and again.new_faces == 0
    actions = [e["action"] for e in _audit(service)]
    assert actions.count("standing.alert") == 1 and "standing.expired" in actions
    assert actions.count("standing.run") >= 3

    # ending a query: its probe and vectors are deleted; it alerts no more
    ended = service.standing.end(inv, query.id, "victim identified")
    assert ended.status == "ended"
    report = service.library.ingest(
        admin, [_folder(tmp_path, "again", [np.ascontiguousarray(astronaut[:, ::-1])])], workers=0
    )
    assert report.followups["standing_queries"] == 0
    assert service.standing.alerts(inv) == []


def _audit(service):
    from facesearch.govern.audit import entries

    with service.governance.session() as s:
        return [{"action": e.action} for e in entries(s)]


def test_a_media_persons_standing_query_alerts_on_a_later_ingest(
    service, tmp_path, astronaut, other_faces
):
    """A person found in a case's seized media, searched against the gallery with its best
    faces, kept searching: a later ingest of the same person raises one alert."""
    from facesearch.media.acts import MediaService

    admin = service.accounts.principal("admin", "cli")
    inv = service.accounts.principal("inv", "cli")
    service.library.ingest(admin, [_folder(tmp_path, "first", other_faces[1:3])], workers=0)
    seized = write_image(tmp_path / "seized" / "phone-1.jpg", astronaut)
    media = MediaService(service.governance, service.ctx.gallery)
    media.import_media("inv", "C-1", [seized], workers=0)
    media.cluster("inv", "C-1")
    (person,) = media.clusters("inv", "C-1")
    found = service.searches.cluster_search(inv, "C-1", person.cluster, SearchRequest(k=5))
    query = service.standing.create(inv, found.outcome.search_id, "identify the child")
    assert query.status == "active" and query.search_id == found.outcome.search_id

    crop = np.ascontiguousarray(astronaut[0:400, 40:440][:, ::-1])
    report = service.library.ingest(admin, [_folder(tmp_path, "later", [crop])], workers=0)
    assert report.followups["standing_alerts"] == 1
    (alert,) = service.standing.alerts(inv)
    assert alert.query_id == query.id
    hits = service.searches.view(inv, alert.search_id).candidates
    assert hits and hits[0].band in ("strong", "possible")
