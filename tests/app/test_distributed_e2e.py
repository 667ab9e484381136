"""End to end on the distributed backends: PostgreSQL + Milvus + Ray + S3 (moto's server).

Real photos from ../shared/faces (CFP frontal, a small subset) are ingested twice: into the
embedded default (SQLite, FAISS, files, in-process workers) and, through the same application
service, into a gallery whose four URLs name PostgreSQL, a real Milvus standalone, a local Ray
cluster and an S3 bucket. Governed searches in an approved case return the same top-10 on both;
removal on request takes the person out of Milvus, the catalog and the bucket, and suppression
keeps them out of a later ingest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tests.support.govern import add_user_approved

from facesearch.app.service import SearchRequest, Service
from facesearch.govern.users import Role
from facesearch.settings import Settings
from facesearch.store.catalog import SearchFilters

# long (make test-long): 45 s; in CI, scripts/check_extras.py uses each backend over a real
# connection and tests/store's conformance tests check Milvus and PostgreSQL against an oracle
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.postgres, pytest.mark.shared_data]

PEOPLE = [f"{i:03d}" for i in range(1, 13)]  # 12 CFP identities
GALLERY_PHOTOS = ("01", "02", "03")  # frontal photos ingested per person
PROBE_PHOTO = "05"  # a frontal photo not in the gallery
TOP = 10


def cfp(shared_faces: Path, person: str, photo: str) -> Path:
    return shared_faces / "cfp" / "Data" / "Images" / person / "frontal" / f"{photo}.jpg"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts any credentials; boto3 reads them from the environment as in production."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def distributed_settings(
    data_dir: Path, postgres_url: str, milvus_uri: str, s3_endpoint: str, ray_url: str
) -> Settings:
    m = urlparse(milvus_uri)
    tag = uuid.uuid4().hex[:10]
    return Settings(
        data_dir=data_dir,
        database_url=postgres_url,
        vector_store=f"milvus://{m.hostname}:{m.port}?collection=e2e{tag}&index=HNSW",
        blobs=f"s3://fs-{tag}/gallery?endpoint_url={s3_endpoint}",
        executor=ray_url,
    )


def governed(settings: Settings, pipeline, photos: list[Path], workers: int):  # type: ignore[no-untyped-def]
    """The service on a gallery with an administrator, an investigator and an approved case,
    the photos ingested."""
    service = Service(settings, pipeline=pipeline)
    service.library.initialise("admin")
    gov = service.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    admin = service.accounts.principal("admin", "cli")
    report = service.library.ingest(admin, photos, workers=workers)
    assert report.failures == [], report.failures
    return service, report


@pytest.fixture
def both(
    tmp_path: Path,
    shared_faces: Path,
    pipeline,  # type: ignore[no-untyped-def]
    postgres_url: str,
    milvus_uri: str,
    s3_endpoint: str,
    ray_local: str,
    aws_env: None,
) -> Iterator[tuple[Service, Service, list[Path]]]:
    photos = [cfp(shared_faces, p, n) for p in PEOPLE for n in GALLERY_PHOTOS]
    embedded, _ = governed(Settings(data_dir=tmp_path / "embedded"), pipeline, photos, 0)
    settings = distributed_settings(
        tmp_path / "distributed", postgres_url, milvus_uri, s3_endpoint, ray_local
    )
    distributed, _ = governed(settings, pipeline, photos, 2)
    yield embedded, distributed, photos
    distributed.gallery.index.drop()  # type: ignore[union-attr]
    embedded.close()
    distributed.close()


def top(
    service: Service, probe: Path, filters: SearchFilters | None = None
) -> list[tuple[str, float]]:
    view = service.searches.search(
        service.accounts.principal("inv", "cli"),
        "C-1",
        probe.read_bytes(),
        SearchRequest(k=TOP, filters=filters),
    )
    return [
        (Path(c.provenance[0]["path"]).relative_to(probe.parents[3]).as_posix(), c.score)
        for c in view.outcome.candidates
    ]


def test_same_results_removal_and_suppression_on_distributed_backends(both, shared_faces) -> None:
    embedded, distributed, photos = both
    g = distributed.gallery
    info = distributed.library.stats(distributed.accounts.principal("admin", "cli"))
    assert info["backends"]["vector_store"].startswith("milvus://")
    assert info["backends"]["blobs"].startswith("s3://")
    assert info["backends"]["executor"] == "ray://local"
    assert info["backends"]["database"].startswith("postgresql+psycopg://")
    assert info["index"]["backend"] == "milvus" and info["indexed_faces"] == info["faces"]
    assert type(g.blobs).__name__ == "S3BlobStore" and g.catalog.engine.dialect.name == "postgresql"
    assert (
        info["faces"]
        == embedded.library.stats(embedded.accounts.principal("admin", "cli"))["faces"]
    )

    probes = [cfp(shared_faces, p, PROBE_PHOTO) for p in PEOPLE[:8]]
    for probe in probes:
        want, got = top(embedded, probe), top(distributed, probe)
        assert [p for p, _ in got] == [p for p, _ in want], probe
        assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(got, want, strict=True))
        assert got[0][0].split("/")[1] == probe.parts[-3]  # the mate at rank 1

    # filters pushed down into Milvus's expression: a second collection named by provenance
    # added to images already stored (no new faces; Milvus's facets rewritten)
    case_b = [cfp(shared_faces, p, n) for p in PEOPLE[1:5] for n in GALLERY_PHOTOS]
    for service in (embedded, distributed):
        admin = service.accounts.principal("admin", "cli")
        again = service.library.ingest(admin, case_b, collection="case-b", workers=0)
        assert again.faces_indexed == 0 and again.failures == []
    only_b = SearchFilters(collection="case-b")
    for probe in (probes[0], probes[2]):
        want, got = top(embedded, probe, only_b), top(distributed, probe, only_b)
        assert [p for p, _ in got] == [p for p, _ in want], probe
        assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(got, want, strict=True))
        assert {p.split("/")[1] for p, _ in got} <= set(PEOPLE[1:5])
        # below the policy's band the governed view hides candidates: the gallery shows all
        ranked = [
            [
                (c.image_path, c.score)
                for c in s.gallery.search(probe, k=20, filters=only_b).candidates
            ]
            for s in (embedded, distributed)
        ]
        assert [p for p, _ in ranked[1]] == [p for p, _ in ranked[0]]
        assert len(ranked[1]) == len(case_b), ranked[1]
        assert {Path(p).parts[-3] for p, _ in ranked[1]} == set(PEOPLE[1:5])
    assert top(distributed, probes[2], only_b)[0][0].split("/")[1] == probes[2].parts[-3]
    nothing = SearchFilters(collection="case-b", captured_to=datetime(1990, 1, 1))
    assert top(distributed, probes[2], nothing) == top(embedded, probes[2], nothing) == []

    # removal on request: person 001, from one photo of them
    admin = distributed.accounts.principal("admin", "cli")
    request_id, matches = distributed.admin.preview_removal(
        admin, [probes[0].read_bytes()], "the person", "erasure request"
    )
    person = {m.image_path for m in matches if m.image_path and "/001/" in m.image_path}
    assert len(person) == len(GALLERY_PHOTOS), [m.image_path for m in matches]
    crops = [sf.crop for sf in g.catalog.faces([m.face_id for m in matches]).values() if sf.crop]
    assert crops and all(g.blobs.exists(k) for k in crops)
    removed = distributed.admin.apply_removal(admin, request_id, None)
    assert len(removed) == len(GALLERY_PHOTOS)
    assert g.index.count() == info["indexed_faces"] - len(removed)
    assert not any(g.blobs.exists(k) for k in crops)  # crops deleted from the bucket
    assert all("/001/" not in p for p, _ in top(distributed, probes[0]))

    # suppression: the person is kept out of a later ingest of the same photos
    report = distributed.library.ingest(admin, photos, workers=2)
    assert report.faces_suppressed == len(GALLERY_PHOTOS) and report.faces_indexed == 0
    assert all("/001/" not in p for p, _ in top(distributed, probes[0]))
    for probe in probes[1:]:  # everyone else unchanged
        assert top(distributed, probe)[0][0].split("/")[1] == probe.parts[-3]
