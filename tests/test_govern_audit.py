from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError

from facesearch.govern.audit import entry_hash, verify
from facesearch.govern.schema import AuditEntry, AuditHead
from test_govern_support import (  # noqa: F401
    World,
    allow_tampering,
    engine,
    make_world,
    open_approved_case,
    probe_bytes,
)

COLUMNS = ("ts", "actor", "action", "case_number", "details", "prev_hash", "hash")


@pytest.fixture
def logged(engine: Engine) -> Iterator[World]:  # noqa: F811
    """A world with a realistic log: users, a case, searches, reviews, a report."""
    w = make_world(engine)
    open_approved_case(w)
    o = w.gov.search("alice", "C-1", probe_bytes(3))
    w.gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match", "note")
    w.gov.search("alice", "C-1", probe_bytes(4))
    w.gov.case_report("sam", "C-1", "html")
    w.gov.close_case("sam", "C-1")
    assert _verify(w).ok
    yield w


def _verify(w: World):  # type: ignore[no-untyped-def]
    with w.sessions() as s:
        return verify(s)


def _row(w: World, seq: int) -> AuditEntry:
    with w.sessions() as s:
        row = s.get(AuditEntry, seq)
        assert row is not None
        s.expunge(row)
        return row


def _set(w: World, seq: int, **values: object) -> None:
    with w.sessions() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(**values))
        s.commit()


def _flip(value: str, pos: int) -> str:
    return value[:pos] + chr(ord(value[pos]) ^ 1) + value[pos + 1 :]


def test_log_verifies_and_is_append_only(logged: World, engine: Engine) -> None:  # noqa: F811
    result = _verify(logged)
    assert result.ok and result.first_bad_seq is None
    assert result.checked == result.head_seq == len(logged.audit_actions())
    with engine.connect() as conn:
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("UPDATE gov_audit SET actor = 'x' WHERE seq = 3"))
        conn.rollback()
        with pytest.raises(DatabaseError, match="append-only"):
            conn.execute(text("DELETE FROM gov_audit WHERE seq = 3"))


def test_changing_any_single_byte_of_an_entry_is_detected(
    logged: World,
    engine: Engine,  # noqa: F811
) -> None:
    allow_tampering(engine)
    seq = next(
        e.seq
        for e in _entries(logged)
        if e.action == "case.assign"  # a short entry: every byte of every column is tried
    )
    original = _row(logged, seq)
    tried = 0
    for column in COLUMNS:
        value = getattr(original, column)
        for pos in range(len(value)):
            _set(logged, seq, **{column: _flip(value, pos)})
            result = _verify(logged)
            assert not result.ok, (column, pos)
            assert result.first_bad_seq == seq, (column, pos, result.problems)
            tried += 1
        _set(logged, seq, **{column: value})
    assert tried > 150
    # and a byte every few positions of a long search entry
    search = next(e for e in _entries(logged) if e.action == "search")
    details = _row(logged, search.seq).details
    for pos in range(0, len(details), 5):
        _set(logged, search.seq, details=_flip(details, pos))
        assert _verify(logged).first_bad_seq == search.seq, pos
    _set(logged, search.seq, details=details)
    assert _verify(logged).ok  # everything restored


def test_changing_a_search_entry_is_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    search = next(e for e in _entries(logged) if e.action == "search")
    row = _row(logged, search.seq)
    # hide a candidate shown, as someone covering their tracks would
    forged = row.details.replace('"candidates":[{', '"candidates":[{"x":0,', 1)
    _set(logged, search.seq, details=forged)
    result = _verify(logged)
    assert result.first_bad_seq == search.seq and "modified" in (result.problem or "")
    # ... and recomputing that entry's own hash only moves the break to the next link
    _set(
        logged,
        search.seq,
        hash=entry_hash(
            row.seq, row.ts, row.actor, row.action, row.case_number, forged, row.prev_hash
        ),
    )
    result = _verify(logged)
    assert result.first_bad_seq == search.seq + 1 and "link is broken" in (result.problem or "")


def test_deleted_entries_are_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    head_seq = _verify(logged).head_seq
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gov_audit WHERE seq = 5"))
    result = _verify(logged)
    assert result.first_bad_seq == 5 and "#5 are missing (deleted)" in (result.problem or "")
    # deleting the last entries is caught by the head row
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM gov_audit WHERE seq >= {head_seq - 1}"))
    problems = dict(_verify(logged).problems)
    assert "entries at the end were deleted" in problems[head_seq - 1]
    # deleting the first entry
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM gov_audit WHERE seq = 1"))
    assert _verify(logged).first_bad_seq == 1


def test_reordered_entries_are_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    with engine.begin() as conn:  # swap entries 7 and 9 by renumbering them
        conn.execute(text("UPDATE gov_audit SET seq = -7 WHERE seq = 7"))
        conn.execute(text("UPDATE gov_audit SET seq = 7 WHERE seq = 9"))
        conn.execute(text("UPDATE gov_audit SET seq = 9 WHERE seq = -7"))
    result = _verify(logged)
    assert result.first_bad_seq == 7 and not result.ok


def test_inserted_entry_is_detected(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    head_seq = _verify(logged).head_seq
    with engine.begin() as conn:  # make room after entry 6 and insert a well-formed forgery
        for seq in range(head_seq, 6, -1):
            conn.execute(text(f"UPDATE gov_audit SET seq = {seq + 1} WHERE seq = {seq}"))
    prev = _row(logged, 6)
    details = '{"case":"C-1","user":"mallory"}'
    h = entry_hash(7, prev.ts, "sam", "case.assign", "C-1", details, prev.hash)
    with logged.sessions() as s:
        s.add(
            AuditEntry(
                seq=7,
                ts=prev.ts,
                actor="sam",
                action="case.assign",
                case_number="C-1",
                details=details,
                prev_hash=prev.hash,
                hash=h,
            )
        )
        s.commit()
    result = _verify(logged)
    assert result.first_bad_seq == 8  # the shifted original no longer matches its number
    assert not result.ok


def test_full_rewrite_is_caught_by_an_anchor(logged: World, engine: Engine) -> None:  # noqa: F811
    allow_tampering(engine)
    anchor = _verify(logged)
    anchors = {anchor.head_seq: anchor.head_hash}
    # rewrite entry 5 and recompute every later hash and the head, as a thorough forger would
    with logged.sessions() as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
        prev = rows[3].hash
        for row in rows[4:]:
            if row.seq == 5:
                row.actor = "someone-else"
            row.prev_hash = prev
            row.hash = entry_hash(
                row.seq, row.ts, row.actor, row.action, row.case_number, row.details, prev
            )
            prev = row.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.hash = prev
        s.commit()
    assert _verify(logged).ok  # undetectable from inside the database alone ...
    with logged.sessions() as s:
        result = verify(s, anchors)  # ... but not against a head published earlier
    assert not result.ok and result.first_bad_seq == anchor.head_seq


def test_record_for_other_components(logged: World) -> None:
    e = logged.gov.record("ingest-bot", "ingest.run", {"collection": "web", "images": 12})
    assert e.seq == _verify(logged).head_seq and e.details["images"] == 12
    assert _verify(logged).ok


def _entries(w: World):  # type: ignore[no-untyped-def]
    from facesearch.govern.audit import entries

    with w.sessions() as s:
        return list(entries(s))
