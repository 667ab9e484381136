"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import facesearch.store.all_tables  # noqa: F401
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
