"""The policy in force is followed without a restart: two governance objects on one catalog
(two processes, each with its own engine), SQLite and PostgreSQL; a policy that two
administrators approve through one is enforced by the other on its next decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from tests.support.govern import (  # noqa: F401
    make_world,
    open_approved_case,
    pg_engine,
    probe_bytes,
    second_admin,
)

from facesearch.govern import Governance, RefusedError, default_policy, parse_policy
from facesearch.store.schema import Base

MISSING_PERSON = """
[[purposes]]
key = "missing-person"
name = "search for a missing person"
requires_approval = false
"""


def new_policy() -> Any:
    """The default policy with one more purpose (no approval needed) and one candidate."""
    changed = default_policy().text.replace("max_candidates = 20", "max_candidates = 1")
    return parse_policy(changed + MISSING_PERSON, "<new policy.toml>")


def sqlite_file_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _fk(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one catalog, as two processes hold them."""
    if request.param == "sqlite":
        first = sqlite_file_engine(tmp_path / "catalog.db")
        Base.metadata.create_all(first)
        second = sqlite_file_engine(tmp_path / "catalog.db")
    else:
        first = request.getfixturevalue("pg_engine")
        with first.connect() as conn:
            schema = conn.execute(text("SHOW search_path")).scalar()
        second = create_engine(first.url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield first, second
    finally:
        second.dispose()
        if request.param == "sqlite":
            first.dispose()


def test_a_policy_approved_elsewhere_is_enforced_on_the_next_request(
    two_engines: tuple[Engine, Engine],
) -> None:
    server_engine, other_engine = two_engines
    w = make_world(server_engine)  # the running server's governance
    server = w.gov
    other_admin = second_admin(server)
    open_approved_case(w)
    assert len(w.search("alice", "C-1", probe_bytes(3)).candidates) == 2
    with pytest.raises(RefusedError, match="missing-person"):
        server.open_case("alice", "C-2", "missing-person", "W-2", "a long enough reason")
    held = server.policy
    server.list_cases("alice")
    assert server.policy is held  # unchanged: nothing read again, nothing parsed again

    # another process, started with the new policy file: recorded as pending, approved by two
    new = new_policy()
    cli = Governance(sessionmaker(other_engine), new, clock=w.clock)
    change_id = cli.pending_policy_change()
    assert change_id is not None
    cli.approve_change("admin", change_id)  # endorsed: still pending everywhere
    assert server.list_cases("alice") and server.policy.sha256 == default_policy().sha256
    assert cli.approve_change(other_admin, change_id).status == "approved"

    # the server, never restarted, enforces it on its next decision
    opened = server.open_case("alice", "C-2", "missing-person", "W-2", "a long enough reason")
    assert opened.status == "open"
    assert server.policy.sha256 == new.sha256
    assert len(w.search("alice", "C-1", probe_bytes(3)).candidates) == 1
    assert server.policy_status()["in_force"].sha256 == new.sha256
