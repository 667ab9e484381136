"""Every endpoint x every role x no credentials, each cell asserting the exact status.

One real application per module (SQLite catalog, real models): a gallery of two photos, an open
case C-1 with investigator ``inv`` assigned and one search in it. Cells that change state get
fresh objects from their ``prepare`` step (a new pending case, a new token, ...), so every
cell starts from the same situation whatever ran before it. Machine clients use API tokens
(Bearer); the session and CSRF paths are covered by tests/serve/test_security.py.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.conftest import write_image
from tests.support.api import ApiEnv, api_env
from tests.support.govern import second_admin

ROLES = ("anonymous", "admin", "inv", "inv2", "sup", "aud")
_counter = itertools.count(1)


@dataclass
class World:
    env: ApiEnv
    tokens: dict[str, str]
    probe: bytes
    search_id: int
    face_id: int
    photos: Path
    archive: bytes
    cluster: int | None = None
    person: tuple[int, int] | None = None  # C-M's person (cluster) and its one face
    other: int | None = None  # the person a split of it made last
    spare: tuple[int, int] | None = None  # an image and its face for the delete cells

    def client(self, role: str) -> TestClient:
        client = self.env.client()
        if role != "anonymous":
            client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client

    @property
    def gov(self) -> Any:
        return self.env.service.governance


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


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


# --- fresh objects for the cells that change state -------------------------------------------


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def pending_case(w: World) -> dict[str, Any]:
    number = _unique("P")
    w.gov.open_case("inv", number, "threat-to-life", "warrant", "pending case")
    return {"number": number}


def rejected_case(w: World) -> dict[str, Any]:
    number = pending_case(w)["number"]
    w.gov.reject_case("sup", number, "no")
    return {"number": number}


def open_case_without_inv2(w: World) -> dict[str, Any]:
    number = pending_case(w)["number"]
    w.gov.approve_case("sup", number, "ok")
    return {"number": number}


def open_case_with_inv2(w: World) -> dict[str, Any]:
    number = open_case_without_inv2(w)["number"]
    w.gov.assign("sup", number, "inv2")
    return {"number": number}


def fresh_user(w: World) -> dict[str, Any]:
    name = _unique("user")
    w.gov.add_user("admin", name, ["investigator"])
    return {"username": name}


def change_by_admin2(w: World) -> dict[str, Any]:
    """A pending change (a fresh user made supervisor) asked for by the second administrator,
    so that ``admin`` may decide it."""
    name = fresh_user(w)["username"]
    change = w.gov.set_roles(second_admin(w.gov), name, ["supervisor"])
    return {"change_id": change.id}


def token_of_inv(w: World) -> dict[str, Any]:
    return {"token_id": w.gov.create_token("inv", "inv", _unique("t"))[1]}


def removal_request(w: World) -> dict[str, Any]:
    vec = np.random.default_rng(next(_counter)).standard_normal(128).astype(np.float32)
    vec /= np.linalg.norm(vec)
    model = w.env.service.gallery.model_key
    dim = w.env.service.gallery.index.dim if hasattr(w.env.service.gallery.index, "dim") else 128
    if dim != vec.shape[0]:
        vec = np.ones(dim, np.float32) / np.sqrt(dim)
    request_id, _ = w.gov.preview_removal("admin", vec[None, :], model, "a person", "asked")
    return {"request_id": request_id}


def search_ids(w: World) -> dict[str, Any]:
    return {"search_id": w.search_id, "face_id": w.face_id}


def possible_match(w: World) -> dict[str, Any]:
    """The search's top candidate reviewed as a possible match by the searcher (inv): only a
    supervisor may then verify it (inv2 is not assigned to C-1)."""
    w.gov.review("inv", w.search_id, w.face_id, "possible_match")
    return search_ids(w)


def media_cluster(w: World) -> dict[str, Any]:
    """A person found in C-1's media (the astronaut photo imported as seized material)."""
    if w.cluster is None:
        from facesearch.media.acts import MediaService

        media = MediaService(w.gov, w.env.service.gallery)
        media.import_media("inv", "C-1", [w.photos / "astronaut.jpg"], workers=0)
        media.cluster("inv", "C-1")
        w.cluster = media.clusters("inv", "C-1")[0].cluster
    return {"cluster": w.cluster}


def media_face(w: World) -> dict[str, Any]:
    """A face of C-1's media (of the person :func:`media_cluster` finds)."""
    from facesearch.media.acts import MediaService

    cluster = media_cluster(w)["cluster"]
    views = MediaService(w.gov, w.env.service.gallery).clusters("inv", "C-1")
    view = next(v for v in views if v.cluster == cluster)
    return {"face": view.faces[0].face_id}


MEDIA_CASE = "C-M"  # its own case, so that decisions never change what C-1's cells see


def media_person(w: World) -> dict[str, Any]:
    """The one person of C-M's media (the astronaut photo) and its face."""
    from facesearch.media.acts import MediaService

    if w.person is None:
        w.gov.open_case("inv", MEDIA_CASE, "threat-to-life", "warrant", "media review case")
        w.gov.approve_case("sup", MEDIA_CASE, "ok")
        media = MediaService(w.gov, w.env.service.gallery)
        media.import_media("inv", MEDIA_CASE, [w.photos / "astronaut.jpg"], workers=0)
        media.cluster("inv", MEDIA_CASE)
        (view,) = media.clusters("inv", MEDIA_CASE, include_hidden=True)
        w.person = (view.cluster, view.faces[0].face_id)
    return {"number": MEDIA_CASE, "cluster": w.person[0], "face": w.person[1]}


def person_whole(w: World) -> dict[str, Any]:
    """C-M's person holding its face (moved back if a split took it out)."""
    from facesearch.media.acts import MediaService

    ids = media_person(w)
    media = MediaService(w.gov, w.env.service.gallery)
    media.decide("inv", MEDIA_CASE, "move", cluster=ids["cluster"], faces=[ids["face"]])
    return ids


def person_split_off(w: World) -> dict[str, Any]:
    """C-M's face split off its person into a new one (``w.other``)."""
    from facesearch.media.acts import MediaService

    ids = person_whole(w)
    media = MediaService(w.gov, w.env.service.gallery)
    w.other = media.decide("inv", MEDIA_CASE, "split", cluster=ids["cluster"], faces=[ids["face"]])[
        "new_cluster"
    ]
    return ids


def ingest_job(w: World) -> dict[str, Any]:
    admin = w.env.service.accounts.principal("admin", "token")
    job = w.env.service.library.start_job(admin, [str(w.photos)], "matrix")
    w.env.service.library.jobs.wait(job.id)
    return {"job_id": job.id}


def interrupted_job(w: World) -> dict[str, Any]:
    """A job of the matrix photos that its server left interrupted (as after a kill)."""
    from sqlalchemy.orm import sessionmaker

    from facesearch.store.jobs import JobTable, Owner

    table = JobTable(sessionmaker(w.env.service.gallery.catalog.engine, expire_on_commit=False))
    job = table.add(Owner("gone.example", 1, "@1"), [str(w.photos)], "matrix", "admin", [])
    table.write(job["id"], status="interrupted", error="its server stopped")
    return {"job_id": job["id"]}


def not_suspended(w: World) -> dict[str, Any]:
    """Searching running (a suspension left by another cell ended)."""
    svc = w.env.service
    if svc.incidents.suspension() is not None:
        svc.incidents.resume(svc.accounts.principal("admin", "token"), "matrix")
    return {}


def suspended(w: World) -> dict[str, Any]:
    svc = w.env.service
    if svc.incidents.suspension() is None:
        svc.incidents.suspend(svc.accounts.principal("admin", "token"), "matrix")
    return {}


def incident(w: World) -> dict[str, Any]:
    from facesearch.govern.incidents import NewIncident

    svc = w.env.service
    made = svc.incidents.record(svc.accounts.principal("inv", "token"), NewIncident("matrix"))
    return {"incident_id": made.id}


def signing_key(w: World) -> dict[str, Any]:
    """An audit checkpoint key configured (the disclosure bundle is signed with it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if "FACESEARCH_AUDIT_KEY_PEM" not in w.gov.signing_env:
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        w.gov.signing_env = {**w.gov.signing_env, "FACESEARCH_AUDIT_KEY_PEM": pem.decode()}
    return {}


def authorisation(w: World) -> dict[str, Any]:
    """A fresh authorisation of C-1 ("not required", with a scan), recorded by ``inv``."""
    from facesearch.govern.authorisations import NewAuthorisation

    svc = w.env.service
    new = NewAuthorisation("not_required", reason="matrix", scan=b"%PDF-1.4 matrix")
    made = svc.authorisations.record(svc.accounts.principal("inv", "token"), "C-1", new)
    return {"authorisation_id": made.id}


def receipt(w: World) -> dict[str, Any]:
    """A fresh (unsigned, empty) deletion receipt of C-1."""
    from facesearch.govern.cases import require_case
    from facesearch.govern.receipts import write_receipt

    def fn(s: Any, a: Any) -> int:
        case = require_case(s, "C-1", "matrix")
        now = w.gov.clock()
        return int(write_receipt(s, a, "admin", case, "expired", {"searches": []}, None, now).id)

    return {"receipt_id": w.gov.run("admin", "matrix", {}, fn)}


def standing_query(w: World) -> dict[str, Any]:
    """A fresh standing query of C-1's search, owned by ``inv``."""
    svc = w.env.service
    made = svc.standing.create(svc.accounts.principal("inv", "token"), w.search_id, "matrix")
    return {"query_id": made.id}


def standing_alert(w: World) -> dict[str, Any]:
    """An alert of a fresh standing query of C-1 (recorded on the case's search)."""
    from facesearch.govern import standing as st

    query_id = standing_query(w)["query_id"]
    gov = w.gov
    alert_id = gov.run(
        "admin",
        "matrix",
        {},
        lambda s, a: st.record_alert(s, a, "inv", query_id, w.search_id, 1, 0.9, gov.clock()).id,
    )
    return {"alert_id": alert_id}


def spare_image(w: World) -> dict[str, Any]:
    """An image with one face of its own (the hopper photo, one pixel changed), in a
    collection of its own; ingested again once a delete cell has removed it."""
    from PIL import Image

    from facesearch.store import browse

    catalog = w.env.service.gallery.catalog
    if w.spare is None or not catalog.faces([w.spare[1]]):
        name = _unique("spare")
        rgb = np.asarray(Image.open(w.photos / "hopper.jpg").convert("RGB")).copy()
        rgb[0, 0] = (next(_counter) % 256, 0, 0)
        write_image(w.photos.parent / name / "spare.jpg", rgb)
        w.env.ingest([w.photos.parent / name], collection=name, workers=0)
        with catalog.session() as s:
            coll = browse.collection_id(s, name)
            assert coll is not None
            (image,) = browse.images_page(s, coll)
        w.spare = (image["id"], image["faces"][0]["id"])
    return {"image_id": w.spare[0], "face_id": w.spare[1], "name": "matrix"}


def nothing(w: World) -> dict[str, Any]:
    return {}


def fresh_sha() -> str:
    return hashlib.sha256(_unique("probe").encode()).hexdigest()


def asked(w: World) -> dict[str, Any]:  # a quality override of a fresh probe face, by inv
    inv = w.env.service.accounts.principal("inv", "token")
    found = w.env.service.searches.overrides.request(inv, "C-1", fresh_sha(), 0, "the one photo")
    return {"override_id": found.id}


def probe_file(w: World) -> dict[str, Any]:
    return {"probe": ("p.jpg", w.probe, "image/jpeg")}


def note(w: World) -> dict[str, Any]:
    return {"note": "a note"}


def override_in(w: World) -> dict[str, Any]:
    return {"probe_sha256": fresh_sha(), "face": 0, "reason": "the only photo"}


def user_inv(w: World) -> dict[str, Any]:
    return {"username": "inv"}


def collection_matrix(w: World) -> dict[str, Any]:
    return {"name": "matrix"}


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
