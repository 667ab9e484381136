"""The API matrix's world and the steps that make fresh objects for the cells that change
state (tests/serve/test_api_matrix.py: every endpoint x every role)."""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from tests.conftest import write_image
from tests.support.api import ApiEnv
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


def shipped_model(w: World) -> dict[str, Any]:
    """A recognizer every gallery has (GET /models/{name}): the shipped primary."""
    return {"name": "sface-2021dec-int8bq"}
