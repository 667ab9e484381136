"""An installation that got a key keeps what it stored before without one (suppression
entries, media faces' vectors, probe images) until ``keys rotate --from-plain``: ``stats``
says how many items are still plain and which command seals them (a warning line, the
``still_plain`` fields of ``GET /stats`` and ``stats --json``), and says nothing once
they are sealed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.support.api import ApiEnv, api_env
from tests.support.atrest import unit_vectors

from facesearch.app.keys import Keys
from facesearch.govern.schema import Case, Suppression, User
from facesearch.govern.searches import store_probe
from facesearch.media.schema import MediaFace, MediaFile, MediaImport, MediaSet
from facesearch.store.crypto import generate_key

KEY = generate_key()


def store_plain_items(env: ApiEnv) -> None:
    """Two suppression entries, three media faces and a probe image stored plain, as they were
    before the key was set."""
    gallery = env.service.ctx.gallery
    model = gallery.model_key
    with gallery.catalog.session() as s:
        admin = s.scalars(select(User).where(User.username == "admin")).one()
        case = Case(
            number="C-1", purpose_key="p", purpose_name="p", legal_authority="w",
            justification="j", status="open", requires_approval=False,
            requested_by_id=admin.id, requested_at=datetime.now(UTC),
        )  # fmt: skip
        s.add(case)
        s.flush()
        store_probe(s, case, None, b"\xff\xd8\xff a probe" * 20, datetime.now(UTC))
        for vec in unit_vectors(2, 128, seed=3):
            s.add(
                Suppression(
                    model=model, dim=128, embedding=vec.astype("<f4").tobytes(),
                    requester="the person", reason="erasure", active=True,
                    created_by="admin", created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        mset = MediaSet(case_id=case.id, name="phone", created_by="admin")
        s.add(mset)
        s.flush()
        run = MediaImport(set_id=mset.id, actor="admin")
        s.add(run)
        s.flush()
        mfile = MediaFile(
            set_id=mset.id, import_id=run.id, path="a.jpg", source="/x/a.jpg", size=1,
            md5="0" * 32, sha1="0" * 40, sha256="0" * 64, status="faces",
        )  # fmt: skip
        s.add(mfile)
        s.flush()
        for i, vec in enumerate(unit_vectors(3, 128, seed=4)):
            s.add(
                MediaFace(
                    file_id=mfile.id, case_id=case.id, face_index=i, x=0.0, y=0.0, w=9.0,
                    h=9.0, landmarks=[], detector_score=0.9, quality=0.9, model=model,
                    embedding=np.asarray(vec, "<f4").tobytes(),
                )
            )  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The catalog: SQLite in the data directory, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_stats_counts_items_still_plain_under_a_key(
    tmp_path: Path, database_url: str | None
) -> None:
    with api_env(tmp_path, database_url, passwords=("inv",), encryption_key=KEY) as env:
        admin = env.service.accounts.principal("admin", "local")
        info = env.service.library.stats(admin)
        assert info["still_plain"] == 0 and info["seal_with"] is None
        store_plain_items(env)

        info = env.service.library.stats(admin)
        assert info["still_plain"] == 6
        assert info["still_plain_items"] == {
            "suppression entries": 2,
            "media faces' vectors": 3,
            "probe images": 1,
        }
        (warning,) = [w for w in info["warnings"] if "still stored without" in w]
        assert "6 items" in warning and "'facesearch keys rotate --from-plain'" in warning
        shown = env.client("inv").get("/api/v1/stats").json()
        assert shown["still_plain"] == 6 and shown["still_plain_items"]["probe images"] == 1
        assert shown["seal_with"] == "facesearch keys rotate --from-plain"

        Keys(env.service.ctx).rotate(admin, from_plain=True)
        info = env.service.library.stats(admin)
        assert info["still_plain"] == 0 and info["still_plain_items"] == {}
        assert not [w for w in info["warnings"] if "still stored without" in w]
        assert env.client("inv").get("/api/v1/stats").json()["still_plain"] == 0


def test_no_key_no_warning(tmp_path: Path) -> None:
    with api_env(tmp_path, passwords=()) as env:
        store_plain_items(env)
        info = env.service.library.stats(env.service.accounts.principal("admin", "local"))
        assert info["still_plain"] == 0 and info["seal_with"] is None
