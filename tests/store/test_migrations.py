"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import facesearch.migrations.tables  # noqa: F401
from facesearch.store.catalog import SqlCatalog
from facesearch.store.schema import Base


def _diff(url: str) -> list[object]:
    catalog = SqlCatalog(url)  # runs the migrations
    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    catalog.close()
    return diff


def test_sqlite_schema_matches_the_models():
    assert _diff("sqlite://") == []


def test_audit_log_is_append_only_in_the_database():
    import sqlalchemy as sa

    catalog = SqlCatalog("sqlite://")
    with catalog.engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into gov_audit (seq, ts, actor, action, details, prev_hash, hash) "
                "values (1, 't', 'a', 'x', '{}', 'p', 'h')"
            )
        )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), catalog.engine.begin() as conn:
        conn.execute(sa.text("update gov_audit set actor = 'b'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), catalog.engine.begin() as conn:
        conn.execute(sa.text("delete from gov_audit"))


@pytest.mark.postgres
def test_postgres_schema_matches_the_models(postgres_url):
    assert _diff(postgres_url) == []


def test_a_0002_catalog_upgrades_to_second_vectors_keeping_its_faces(tmp_path):
    """A gallery made before score fusion (revision 0002) opens: faces kept, no second vector."""
    from importlib import resources

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("facesearch") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(
            sa.text(
                "insert into images (id, sha256, bytes, width, height, format, "
                "path, face_count, created_at) values (1, 'ab', 1, 2, 2, 'png', "
                "'x.png', 1, '2026-11-22')"
            )
        )
        conn.execute(
            sa.text(
                "insert into faces (id, image_id, face_index, x, y, w, h, landmarks, "
                "detector_score, quality, sharpness, yaw, flags, searchable, model, "
                "embedding, created_at) values (7, 1, 0, 0, 0, 1, 1, '[]', 0.9, 0.9, "
                "1, 0, '', 1, 'm', x'00', '2026-11-22')"
            )
        )
    engine.dispose()
    catalog = SqlCatalog(url)  # migrates to head
    stored = catalog.faces([7])[7]
    assert stored.second_embedding is None and stored.second_model is None
    with catalog.engine.connect() as conn:
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
    from alembic.script import ScriptDirectory

    assert version == ScriptDirectory.from_config(cfg).get_current_head()  # the latest revision
    catalog.close()
