"""``facesearch migrate``: an embedded data directory onto PostgreSQL + Milvus + S3 (moto),
resumed after an interruption, verified, and then opened through the four URLs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import make_token
from tests.support.govern import add_user_approved
from typer.testing import CliRunner

from facesearch.app.service import SearchRequest, Service
from facesearch.app.transfer import copy_catalog
from facesearch.cli import app
from facesearch.govern.users import Role
from facesearch.settings import Settings
from facesearch.store.catalog import make_engine

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
runner = CliRunner()


@pytest.fixture
def embedded(tmp_path: Path, pipeline, other_faces) -> Path:  # type: ignore[no-untyped-def]
    """An embedded gallery with faces, users, an approved case and a search on record."""
    data = tmp_path / "data"
    folder = tmp_path / "photos"
    for i, img in enumerate(other_faces[1:21]):
        write_image(folder / f"{i:03d}.png", img)
        write_image(folder / f"{i:03d}_flip.jpg", np.ascontiguousarray(img[:, ::-1]))
    service = Service(Settings(data_dir=data), pipeline=pipeline)
    service.library.initialise("admin")
    gov = service.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    admin = service.accounts.principal("admin", "cli")
    service.library.ingest(admin, [folder], workers=0, second_pass=False)
    probe = (folder / "003.png").read_bytes()
    service.searches.search(
        service.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=5)
    )
    service.close()
    return data


@pytest.mark.e2e
def test_migrate_resumes_verifies_and_the_copy_serves(
    embedded: Path, postgres_url: str, milvus_uri: str, s3_endpoint: str, monkeypatch, pipeline
) -> None:  # type: ignore[no-untyped-def]
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    m = urlparse(milvus_uri)
    tag = uuid.uuid4().hex[:10]
    vector_url = f"milvus://{m.hostname}:{m.port}?collection=mig{tag}&index=HNSW"
    blobs_url = f"s3://fs-{tag}/blobs?endpoint_url={s3_endpoint}"

    # an earlier run stopped part-way through the catalog
    stopped = 0

    def stop_after_two_chunks(stage: str, done: int, total: int) -> None:
        nonlocal stopped
        stopped += 1
        if stopped == 2:
            raise KeyboardInterrupt

    from facesearch.store.catalog import SqlCatalog

    SqlCatalog(postgres_url).close()  # the target schema
    with pytest.raises(KeyboardInterrupt):
        copy_catalog(
            make_engine(f"sqlite:///{embedded / 'catalog.db'}"),
            make_engine(postgres_url),
            stop_after_two_chunks,
            chunk=7,
        )

    args = [
        "migrate",
        "-d",
        str(embedded),
        "--token",
        make_token(embedded, "admin"),  # made now: the copy carries it
        "--to-database",
        postgres_url,
        "--to-vector-store",
        vector_url,
        "--to-blobs",
        blobs_url,
        "--sample",
        "20",
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["ok"] and report["problems"] == []
    assert report["rows_copied"] > 0 and report["vectors_copied"] == report["vectors"]["source"]
    assert report["vectors"]["source"] == report["vectors"]["target"] >= 30
    assert all(t["source"] == t["target"] for t in report["tables"].values())
    assert report["tables"]["gov_audit"]["source"] > 5  # the governance record moved too
    assert report["blobs"]["source"] == report["blobs"]["target"] == report["blobs_copied"] > 0
    assert report["probes"] == 20 and report["topk_equal"] == 20

    again = json.loads(runner.invoke(app, args).stdout)  # resumable: nothing left to copy
    assert again["ok"] and again["vectors_copied"] == 0 and again["blobs_copied"] == 0
    assert again["rows_copied"] == 2  # this run's own audit entry, and the chain's head

    # the copy, opened through the URLs, serves the same governed search
    moved = Settings(
        data_dir=embedded,
        database_url=postgres_url,
        vector_store=vector_url,
        blobs=blobs_url,
    )
    service = Service(moved, pipeline=pipeline)
    try:
        admin = service.accounts.principal("admin", "cli")
        assert service.admin.verify_audit(admin).ok  # the audit chain arrived intact
        probe = (embedded.parent / "photos" / "003.png").read_bytes()
        view = service.searches.search(
            service.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=5)
        )
        top = view.outcome.candidates[0]
        assert Path(top.provenance[0]["path"]).name in ("003.png", "003_flip.jpg")
        assert top.score > 0.9
        assert service.gallery.blobs.get(top.crop)[:2] == b"\xff\xd8"  # the crop, from S3
        service.gallery.index.drop()  # type: ignore[union-attr]
    finally:
        service.close()


def test_migrate_refuses_an_embedded_target(embedded: Path) -> None:
    token = make_token(embedded, "admin")
    res = runner.invoke(
        app,
        ["migrate", "-d", str(embedded), "--token", token, "--to-database", "sqlite:///x.db",
         "--to-vector-store", "milvus://127.0.0.1:19530"],
    )  # fmt: skip
    assert res.exit_code == 1 and "server database" in res.output
    res = runner.invoke(
        app,
        ["migrate", "-d", str(embedded), "--token", token, "--to-database", "postgresql://h/db",
         "--to-vector-store", "milvus://h?index=NOPE"],
    )  # fmt: skip
    assert res.exit_code == 1 and "FACESEARCH_VECTOR_STORE" in res.output
