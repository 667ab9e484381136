"""The governance rules on PostgreSQL (FACESEARCH_TEST_POSTGRES_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each test uses its own schema, dropped
afterwards; the tests are skipped, saying why, when the server cannot be reached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from tests.support.govern import (  # noqa: F401
    MODEL,
    add_user_approved,
    allow_tampering,
    make_world,
    open_approved_case,
    person_vec,
    pg_engine,
    probe_bytes,
    remove_faces_from,
)

from facesearch.govern import RefusedError
from facesearch.govern.audit import verify

pytestmark = pytest.mark.postgres


def test_rules_hold_on_postgres(pg_engine: Engine) -> None:  # noqa: F811
    w = make_world(pg_engine)
    gov = w.gov
    with pytest.raises(RefusedError, match="no case"):
        w.search("alice", "C-1", probe_bytes(1))
    gov.open_case("alice", "C-1", "threat-to-life", "W-1", "a long enough reason")
    add_user_approved(gov, "admin", "carol", ["supervisor", "investigator"])
    gov.open_case("carol", "C-2", "threat-to-life", "W-2", "a long enough reason")
    with pytest.raises(RefusedError, match="cannot decide"):
        gov.approve_case("carol", "C-2")
    gov.approve_case("sam", "C-1")
    o = w.search("alice", "C-1", probe_bytes(3))
    assert len(o.candidates) == 2
    gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match", "é ü 名")
    # the reviewer's own copy (a supervisor who may still verify it would not see the note)
    html = gov.case_report("alice", "C-1", "html").decode()
    assert "é ü 名" in html and o.probe_sha256 in html
    assert gov.case_report("sam", "C-1", "pdf").startswith(b"%PDF")

    request_id, _ = gov.preview_removal("admin", [person_vec(3, 40)], MODEL, "p", "r")
    gov.apply_removal("admin", request_id, remove_faces_from(w.sessions))
    assert w.search("alice", "C-1", probe_bytes(3)).candidates == ()

    gov.close_case("sam", "C-1")
    r = gov.purge("admin", now=w.clock.now + timedelta(days=365))
    assert (r.probes_purged, r.searches_purged) == (1, 2)
    assert gov.purge("admin", now=w.clock.now + timedelta(days=365)).nothing_due

    rep = gov.oversight_report("audrey")
    assert rep.chain.ok and rep.totals["searches"] == 2 and rep.totals["refused"] == 2

    with pg_engine.connect() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE gov_audit SET actor = 'x' WHERE seq = 3"))
        conn.rollback()
    allow_tampering(pg_engine)
    with pg_engine.begin() as conn:
        conn.execute(text("UPDATE gov_audit SET details = details || ' ' WHERE seq = 9"))
        conn.execute(text("DELETE FROM gov_audit WHERE seq = 12"))
    with w.sessions() as s:
        result = verify(s)
    assert [seq for seq, _ in result.problems][:2] == [9, 12]
