"""Every endpoint x every role x no credentials, each cell asserting the exact status.

One real application per module (SQLite catalog, real models): a gallery of two photos, an open
case C-1 with investigator ``inv`` assigned and one search in it. Cells that change state get
fresh objects from their ``prepare`` step (a new pending case, a new token, ...), so every
cell starts from the same situation whatever ran before it. Machine clients use API tokens
(Bearer); the session and CSRF paths are covered by tests/serve/test_security.py.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.api import api_env
from tests.support.matrix import (
    ROLES,
    World,
    _counter,
    _jpeg,
    _unique,
    asked,
    authorisation,
    change_by_admin2,
    collection_matrix,
    fresh_user,
    incident,
    ingest_job,
    interrupted_job,
    media_cluster,
    media_face,
    media_person,
    not_suspended,
    note,
    nothing,
    open_case_with_inv2,
    open_case_without_inv2,
    override_in,
    pending_case,
    person_split_off,
    person_whole,
    possible_match,
    probe_file,
    receipt,
    rejected_case,
    removal_request,
    search_ids,
    shipped_model,
    signing_key,
    spare_image,
    standing_alert,
    standing_query,
    suspended,
    token_of_inv,
    user_inv,
)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, pipeline: Any, astronaut: np.ndarray, other_faces: Any
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    photos = tmp / "photos"
    write_image(photos / "astronaut.jpg", astronaut)
    write_image(photos / "hopper.jpg", other_faces[0])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(photos / "hopper.jpg", "hopper.jpg")
    with api_env(tmp, ingest_roots=[photos], pipeline=pipeline) as env:
        gov = env.service.governance
        env.ingest([photos], collection="matrix", workers=0)
        tokens = {
            name: gov.create_token(name, name, "matrix")[0]
            for name in ("admin", "inv", "inv2", "sup", "aud")
        }
        gov.open_case("inv", "C-1", "threat-to-life", "warrant 1", "matrix case")
        gov.approve_case("sup", "C-1", "ok")
        probe = _jpeg(astronaut)
        w = World(env, tokens, probe, 0, 0, photos, buf.getvalue())
        r = w.client("inv").post(
            "/api/v1/cases/C-1/searches", files={"probe": ("p.jpg", probe, "image/jpeg")}
        )
        assert r.status_code == 201, r.text
        result = r.json()
        assert result["candidates"], result
        w.search_id = result["search_id"]
        w.face_id = result["candidates"][0]["face_id"]
        yield w


# --- the table -------------------------------------------------------------------------------

OK = dict.fromkeys(ROLES[1:], 200)


def only(status: int, *roles: str, others: int = 403) -> dict[str, int]:
    """``status`` for ``roles``; ``others`` (404 where a case one may not read is hidden)."""
    return {r: (status if r in roles else others) for r in ROLES[1:]}


@dataclass
class Cell:
    method: str
    path: str
    expected: dict[str, int]
    prepare: Callable[[World], dict[str, Any]] = nothing
    json: Callable[[World], Any] | None = None
    files: Callable[[World], Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    anonymous: int = 401


CELLS: list[Cell] = [
    Cell("GET", "/auth/me", OK),
    Cell("POST", "/auth/logout", dict.fromkeys(ROLES[1:], 204)),
    Cell("GET", "/users", only(200, "admin", "aud")),
    Cell(
        "POST",
        "/users",
        only(201, "admin"),
        json=lambda w: {"username": _unique("new"), "roles": ["auditor"]},
    ),
    Cell(
        "PATCH",
        "/users/{username}",
        only(200, "admin"),
        fresh_user,
        lambda w: {"roles": ["auditor"]},
    ),
    Cell("GET", "/changes", only(200, "admin")),
    Cell(
        "POST",
        "/changes/{change_id}/approve",
        only(200, "admin"),
        change_by_admin2,
        lambda w: {},
    ),
    Cell(
        "POST",
        "/changes/{change_id}/reject",
        only(200, "admin"),
        change_by_admin2,
        lambda w: {},
    ),
    Cell("GET", "/tokens", OK),
    Cell("POST", "/tokens", dict.fromkeys(ROLES[1:], 201), json=lambda w: {"name": "x"}),
    Cell("DELETE", "/tokens/{token_id}", only(204, "admin", "inv"), token_of_inv),
    Cell("GET", "/collections", OK),
    Cell("GET", "/stats", OK),
    Cell(
        "GET",
        "/faces/{face_id}/crop",
        {"admin": 200, "inv": 200, "inv2": 404, "sup": 200, "aud": 200},
        search_ids,
    ),
    Cell(
        "GET",
        "/faces/{face_id}/thumbnail",
        {"admin": 200, "inv": 200, "inv2": 404, "sup": 200, "aud": 200},
        search_ids,
    ),
    Cell(
        "GET",
        "/faces/{face_id}/image",
        {"admin": 200, "inv": 200, "inv2": 404, "sup": 200, "aud": 200},
        search_ids,
        params={"search_id": None},
    ),
    Cell(
        "POST",
        "/ingest/jobs",
        only(202, "admin"),
        json=lambda w: {"path": str(w.photos), "collection": "matrix"},
    ),
    Cell(
        "POST",
        "/ingest/jobs/upload",
        only(202, "admin"),
        files=lambda w: {"archive": ("a.zip", w.archive, "application/zip")},
        data={"collection": "uploaded"},
    ),
    Cell("GET", "/ingest/jobs", only(200, "admin")),
    Cell("GET", "/ingest/jobs/{job_id}", only(200, "admin"), ingest_job),
    Cell("POST", "/ingest/jobs/{job_id}/cancel", only(200, "admin"), ingest_job),
    Cell("POST", "/ingest/jobs/{job_id}/resume", only(202, "admin"), interrupted_job),
    Cell("GET", "/ingest/runs", only(200, "admin", "aud")),
    Cell("GET", "/ingest/roots", only(200, "admin")),
    Cell("GET", "/collections/{name}/images", only(200, "admin"), spare_image),
    Cell(
        "POST",
        "/faces/{face_id}/delete",
        only(200, "admin"),
        spare_image,
        lambda w: {"reason": "matrix"},
    ),
    Cell(
        "POST",
        "/images/{image_id}/delete",
        only(200, "admin"),
        spare_image,
        lambda w: {"reason": "matrix"},
    ),
    Cell("GET", "/ingest/runs/1/failures", only(200, "admin", "aud")),
    Cell("GET", "/cases", OK),
    Cell(
        "POST",
        "/cases",
        only(201, "inv", "inv2"),
        json=lambda w: {
            "number": _unique("N"),
            "purpose": "threat-to-life",
            "legal_authority": "warrant",
            "justification": "matrix test case",
        },
    ),
    Cell("GET", "/cases/C-1", only(200, "inv", "sup", "aud", others=404)),
    Cell(
        "POST", "/cases/{number}/approve", only(200, "sup"), pending_case, lambda w: {"note": "ok"}
    ),
    Cell(
        "POST", "/cases/{number}/reject", only(200, "sup"), pending_case, lambda w: {"note": "no"}
    ),
    Cell(
        "POST",
        "/cases/{number}/assign",
        only(200, "sup"),
        open_case_without_inv2,
        lambda w: {"username": "inv2"},
    ),
    Cell(
        "POST",
        "/cases/{number}/unassign",
        only(200, "sup"),
        open_case_with_inv2,
        lambda w: {"username": "inv2"},
    ),
    # the requester (inv) only; inv2 may not read the case
    Cell(
        "POST",
        "/cases/{number}/resubmit",
        {"admin": 403, "inv": 200, "inv2": 404, "sup": 403, "aud": 403},
        rejected_case,
        lambda w: {
            "purpose": "threat-to-life",
            "legal_authority": "warrant 2",
            "justification": "matrix test case, amended",
        },
    ),
    Cell("GET", "/cases/pending/count", only(200, "sup")),
    Cell("GET", "/cases/C-1/assignable", only(200, "sup")),
    Cell("GET", "/identifications", only(200, "sup")),
    # the requester may close their own case too
    Cell(
        "POST",
        "/cases/{number}/close",
        only(200, "sup", "inv"),
        open_case_without_inv2,
        lambda w: {},
    ),
    Cell("GET", "/cases/C-1/report", only(200, "inv", "sup", "aud", others=404)),
    Cell(
        "GET",
        "/cases/C-1/report",
        only(200, "inv", "sup", "aud", others=404),
        params={"format": "pdf"},
    ),
    Cell(
        "POST",
        "/cases/C-1/searches",
        only(201, "inv"),
        files=lambda w: {"probe": ("p.jpg", w.probe, "image/jpeg")},
    ),
    Cell(
        "POST",
        "/cases/C-1/searches",
        only(201, "inv"),
        files=lambda w: [("probe", ("p.jpg", w.probe, "image/jpeg"))] * 2,  # multi-probe
    ),
    # a probe's faces before any search, and the supervised quality overrides
    Cell("POST", "/cases/C-1/probe-faces", only(200, "inv"), files=probe_file),
    Cell("POST", "/cases/C-1/quality-overrides", only(201, "inv"), json=override_in),
    Cell("GET", "/quality-overrides", {**OK, "admin": 403}),
    Cell("POST", "/quality-overrides/{override_id}/grant", only(200, "sup"), asked, note),
    Cell("POST", "/quality-overrides/{override_id}/refuse", only(200, "sup"), asked, note),
    Cell(
        "POST",
        "/cases/C-1/media/clusters/{cluster}/searches",
        only(201, "inv"),
        media_cluster,
        lambda w: {"k": 3},
    ),
    # a case's media: its assigned investigators and supervisors only
    Cell("GET", "/cases/C-1/media", only(200, "inv", "sup"), media_cluster),
    Cell("GET", "/cases/C-1/media/summary", only(200, "inv", "sup"), media_cluster),
    Cell("GET", "/cases/C-1/media/clusters", only(200, "inv", "sup"), media_cluster),
    Cell("GET", "/cases/C-1/media/alerts", only(200, "inv", "sup"), media_cluster),
    Cell("GET", "/cases/C-1/media/faces/{face}/picture", only(200, "inv", "sup"), media_face),
    Cell("POST", "/cases/C-1/media/faces/{face}/reveal", only(200, "inv", "sup"), media_face),
    # media uploaded from the browser: the case's investigators upload, its readers follow
    Cell(
        "POST",
        "/cases/C-1/media/upload",
        only(202, "inv"),
        files=lambda w: {"files": ("p.jpg", w.probe, "image/jpeg")},
        data={"label": "matrix-upload", "note": "the permission matrix"},
    ),
    Cell("GET", "/cases/C-1/media/jobs", only(200, "inv", "sup")),
    # review decisions on a person of the media: the case's investigators and supervisors
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        media_person,
        lambda w: {"action": "name", "name": "Child 1", "note": "matrix"},
    ),
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        media_person,
        lambda w: {"action": "hide"},
    ),
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        media_person,
        lambda w: {"action": "show"},
    ),
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        person_split_off,
        lambda w: {"action": "merge", "other": w.other},
    ),
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        person_whole,
        lambda w: {"action": "split", "faces": [w.person[1] if w.person else 0]},
    ),
    Cell(
        "POST",
        "/cases/{number}/media/clusters/{cluster}/decisions",
        only(201, "inv", "sup"),
        person_split_off,
        lambda w: {"action": "move", "faces": [w.person[1] if w.person else 0]},
    ),
    Cell("GET", "/cases/{number}/media/decisions", only(200, "inv", "sup"), media_person),
    Cell("GET", "/cases/C-1/searches", only(200, "inv", "sup", "aud", others=404)),
    Cell("GET", "/searches/{search_id}", only(200, "inv", "sup", "aud", others=404), search_ids),
    Cell(
        "GET", "/searches/{search_id}/probe", only(200, "inv", "sup", "aud", others=404), search_ids
    ),
    # the probes on screen and the comparison (routers/compare.py): as reading the search
    Cell(
        "GET",
        "/searches/{search_id}/probes",
        only(200, "inv", "sup", "aud", others=404),
        search_ids,
    ),
    Cell(
        "GET",
        "/searches/{search_id}/probes/{position}/{kind}",
        only(200, "inv", "sup", "aud", others=404),
        lambda w: {**search_ids(w), "position": 1, "kind": "face"},
    ),
    Cell(
        "GET",
        "/searches/{search_id}/probes/{position}/{kind}",
        only(200, "inv", "sup", "aud", others=404),
        lambda w: {**search_ids(w), "position": 1, "kind": "image"},
    ),
    Cell(
        "GET",
        "/searches/{search_id}/landmarks",
        only(200, "inv", "sup", "aud", others=404),
        search_ids,
    ),
    Cell(
        "POST",
        "/searches/{search_id}/reviews",
        only(201, "inv", "sup"),
        search_ids,
        lambda w: {"face_id": w.face_id, "decision": "not_a_match"},
    ),
    Cell(
        "POST",
        "/searches/{search_id}/verifications",
        only(201, "sup"),
        possible_match,
        lambda w: {"face_id": w.face_id, "verdict": "confirm"},
    ),
    Cell("GET", "/cases/C-1/identifications", only(200, "inv", "sup", "aud", others=404)),
    Cell(
        "POST",
        "/searches/{search_id}/candidates/{face_id}/reveal",
        only(201, "admin", "inv", "sup", "aud"),
        search_ids,
        lambda w: {"reason": "compare"},
    ),
    Cell("POST", "/audit/verify", only(200, "admin", "aud")),
    Cell("GET", "/audit/report", only(200, "sup", "aud")),
    Cell("GET", "/audit/entries", only(200, "admin", "sup", "aud")),
    Cell("GET", "/audit/entries.csv", only(200, "admin", "sup", "aud")),
    Cell("GET", "/audit/entries/{seq}", only(200, "admin", "sup", "aud"), lambda w: {"seq": 1}),
    Cell("GET", "/audit/state", only(200, "admin", "sup", "aud")),
    Cell("GET", "/removals", only(200, "admin")),
    Cell(
        "POST",
        "/removals",
        only(201, "admin"),
        files=lambda w: {"photos": ("p.jpg", w.probe, "image/jpeg")},
        data={"requester": "the person", "reason": "asked to be removed"},
    ),
    Cell("POST", "/removals/{request_id}/apply", only(200, "admin"), removal_request, lambda w: {}),
    Cell(
        "POST", "/removals/{request_id}/cancel", only(204, "admin"), removal_request, lambda w: {}
    ),
    Cell("GET", "/policy", OK),
    # jurisdiction profiles: requirements, trainings, collections' basis
    Cell("GET", "/policy/requirements", only(200, "admin", "sup", "aud")),
    Cell("GET", "/trainings/expiring", only(200, "admin")),
    Cell("GET", "/users/{username}/trainings", only(200, "admin", "inv", "sup", "aud"), user_inv),
    Cell(
        "POST",
        "/users/{username}/trainings",
        only(201, "admin"),
        user_inv,
        lambda w: {"course": "matrix", "completed_on": "2020-01-01"},
    ),
    Cell("GET", "/collection-bases", only(200, "admin", "sup", "aud")),
    Cell(
        "PUT",
        "/collections/{name}/basis",
        only(200, "admin"),
        collection_matrix,
        lambda w: {"legal_basis": "matrix"},
    ),
    Cell(
        "POST",
        "/policy/validate",
        only(200, "admin", "sup", "aud"),
        json=lambda w: {"text": "version = 1"},
    ),
    Cell("GET", "/health", dict.fromkeys(ROLES[1:], 200), anonymous=200),
    Cell(
        "PUT",
        "/auth/me/wellbeing",
        OK,
        json=lambda w: {"greyscale": False, "blur_outside_face": True},
    ),
    Cell("GET", "/policy/in-force", OK),
    Cell(
        "POST",
        "/policy/request",
        only(202, "admin"),
        json=lambda w: {"text": w.gov.policy.text + f"\n# matrix {next(_counter)}\n"},
    ),
    # standing queries and their alerts
    Cell(
        "POST",
        "/standing-queries",
        {"admin": 403, "inv": 201, "inv2": 404, "sup": 403, "aud": 403},
        json=lambda w: {"search_id": w.search_id, "objective": "matrix"},
    ),
    Cell("GET", "/standing-queries", OK),
    Cell(
        "POST", "/standing-queries/{query_id}/renew", only(200, "sup"), standing_query, lambda w: {}
    ),
    Cell(
        "POST",
        "/standing-queries/{query_id}/end",
        only(200, "inv", "sup"),
        standing_query,
        lambda w: {},
    ),
    Cell("POST", "/standing-queries/run", only(200, "admin")),
    Cell("GET", "/alerts", only(200, "inv", "inv2", "sup")),
    Cell(
        "POST",
        "/alerts/{alert_id}/seen",
        {"admin": 403, "inv": 200, "inv2": 404, "sup": 200, "aud": 403},
        standing_alert,
    ),
    # case outcomes and the reports that leave the system
    Cell(
        "POST",
        "/cases/C-1/outcomes",
        {"admin": 403, "inv": 201, "inv2": 404, "sup": 201, "aud": 403},
        json=lambda w: {"kind": "arrest"},
    ),
    Cell("GET", "/cases/C-1/outcomes", only(200, "inv", "sup", "aud", others=404)),
    Cell("GET", "/cases/C-1/disclosure", only(200, "sup", "aud"), signing_key),
    Cell("GET", "/reports/annual", only(200, "admin", "sup", "aud"), params={"year": 2026}),
    Cell("GET", "/reports/public-records", only(200, "admin", "sup", "aud"), params={"year": 2026}),
    Cell("GET", "/reports/accountability", only(200, "admin", "sup", "aud")),
    # authorisations of searches, urgent-use deadlines, deletion receipts, the Art. 12 record
    Cell("GET", "/cases/C-1/authorisations", only(200, "inv", "sup", "aud", others=404)),
    Cell(
        "POST",
        "/cases/C-1/authorisations",
        {"admin": 403, "inv": 201, "inv2": 403, "sup": 201, "aud": 403},
        files=lambda w: {"scan": ("w.pdf", b"%PDF-1.4 w", "application/pdf")},
        data={"kind": "not_required", "reason": "matrix"},
    ),
    Cell("POST", "/authorisations/{authorisation_id}/validate", only(200, "sup"), authorisation),
    Cell(
        "GET",
        "/authorisations/{authorisation_id}/scan",
        only(200, "inv", "sup", "aud", others=404),
        authorisation,
    ),
    Cell("GET", "/authorisations/deadlines", only(200, "admin", "sup", "aud")),
    Cell("POST", "/authorisations/enforce", only(200, "admin")),
    Cell("GET", "/receipts", only(200, "admin", "sup", "aud")),
    Cell(
        "GET",
        "/receipts/{receipt_id}",
        {"admin": 200, "inv": 200, "inv2": 404, "sup": 200, "aud": 200},
        receipt,
    ),
    Cell(
        "GET",
        "/searches/{search_id}/record",
        only(200, "inv", "sup", "aud", others=404),
        search_ids,
    ),
    # the recognizers (read only: administrators and auditors)
    Cell("GET", "/models", only(200, "admin", "aud")),
    Cell("GET", "/models/{name}", only(200, "admin", "aud"), shipped_model),
    # the gallery's recognizer: status (administrators, auditors); the switch and the switch
    # back are administrators' (409: the matrix gallery already searches with SFace and was
    # never switched, so neither changes anything)
    Cell("GET", "/models/migration", only(200, "admin", "aud")),
    Cell(
        "POST",
        "/models/migration/switch",
        only(409, "admin"),
        json=lambda w: {"target": "sface-2021dec-int8bq"},
    ),
    Cell("POST", "/models/migration/switch-back", only(409, "admin")),
    # incidents, and the suspension of searching (last: a suspension stops every search;
    # "end" leaves one in force, "suspend" ends it before each role and leaves none)
    Cell("GET", "/incidents", only(200, "admin", "sup", "aud")),
    Cell("POST", "/incidents", dict.fromkeys(ROLES[1:], 201), json=lambda w: {"title": "matrix"}),
    Cell(
        "POST",
        "/incidents/{incident_id}/reported",
        only(200, "admin"),
        incident,
        lambda w: {"reported_to": "the DPA"},
    ),
    Cell(
        "POST",
        "/incidents/{incident_id}/close",
        only(200, "admin"),
        incident,
        lambda w: {"resolution": "done"},
    ),
    Cell("GET", "/suspension", OK),
    Cell("GET", "/suspensions", only(200, "admin", "sup", "aud")),
    Cell("POST", "/suspension/end", only(200, "admin"), suspended, lambda w: {"note": "ok"}),
    Cell("POST", "/suspension", only(201, "admin"), not_suspended, lambda w: {"reason": "matrix"}),
    Cell("GET", "/cases/C-1", only(200, "inv", "sup", "aud", others=404), not_suspended),
]


def _cases() -> list[Any]:
    out = []
    for i, cell in enumerate(CELLS):
        for role in ROLES:
            out.append(pytest.param(cell, role, id=f"{cell.method} {cell.path} #{i} {role}"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("cell", "role"), _cases())
def test_status(world: World, cell: Cell, role: str) -> None:
    expected = cell.anonymous if role == "anonymous" else cell.expected[role]
    ids = cell.prepare(world)
    path = "/api/v1" + cell.path.format(**ids)
    params = {k: (ids.get(k) if v is None else v) for k, v in cell.params.items()}
    kwargs: dict[str, Any] = {"params": params}
    if cell.json is not None:
        kwargs["json"] = cell.json(world)
    if cell.files is not None:
        kwargs["files"] = cell.files(world)
        kwargs["data"] = cell.data
    r = world.client(role).request(cell.method, path, **kwargs)
    assert r.status_code == expected, f"{role} {cell.method} {path}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"]


def test_every_endpoint_is_in_the_table(world: World) -> None:
    """A new endpoint must get its row (and so its roles) in the matrix."""
    spec = world.client("anonymous").get("/openapi.json").json()
    routes = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, ops in spec["paths"].items()
        for method in ops
    }
    routes.discard(("POST", "/auth/login"))  # tested in test_api_auth / test_security
    routes.discard(("POST", "/auth/password"))  # no credential but the password: test_api_auth
    # a browser session's own password (tokens get 400): tests/serve/test_api_users_settings.py
    routes.discard(("POST", "/auth/me/password"))
    covered = set()
    for cell in CELLS:
        template = cell.path
        for concrete, name in (("C-1", "{number}"), ("1/failures", "{run_id}/failures")):
            template = template.replace(concrete, name)
        template = template.replace("/faces/{face_id}/crop", "/faces/{face_id}/{kind}")
        template = template.replace("/faces/{face_id}/thumbnail", "/faces/{face_id}/{kind}")
        template = template.replace("/faces/{face_id}/image", "/faces/{face_id}/{kind}")
        covered.add((cell.method, template))
    assert routes - covered == set()
