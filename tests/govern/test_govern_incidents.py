"""Suspending all searching (every kind of search refused with the reason, reviews go on) and
the incident register: who may do what, and the audit entries."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    open_approved_case,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern import incidents as inc
from facesearch.govern.audit import AuditLog
from facesearch.govern.incidents import NewIncident

T = TypeVar("T")


def _run(w: World, actor: str, fn: Callable[[Session, AuditLog], T]) -> T:
    return w.gov.run(actor, "test", {}, fn)


def test_a_suspension_refuses_every_search_until_resumed(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    before = w.search("alice", "C-1", probe_bytes(1))
    # only administrators suspend
    for who in ("alice", "sam", "audrey"):
        with pytest.raises(RefusedError, match="lacks the role"):
            _run(w, who, lambda s, a, who=who: inc.suspend(s, a, who, "x", w.clock()))
    with pytest.raises(RefusedError, match="a reason is required"):
        _run(w, "admin", lambda s, a: inc.suspend(s, a, "admin", "  ", w.clock()))
    found = _run(w, "admin", lambda s, a: inc.suspend(s, a, "admin", "model fault", w.clock()))
    assert found.in_force and found.started_by == "admin"
    with pytest.raises(
        RefusedError, match=r"all searching is suspended since .* by admin: model fault"
    ):
        w.search("alice", "C-1", probe_bytes(2))
    # suspending twice keeps the first reason
    with pytest.raises(RefusedError, match="already suspended"):
        _run(w, "admin", lambda s, a: inc.suspend(s, a, "admin", "again", w.clock()))
    # the leads already found are still examined
    w.gov.review("alice", before.search_id, before.candidates[0].face_id, "not_a_match")
    w.clock.advance(minutes=30)
    ended = _run(w, "admin", lambda s, a: inc.resume(s, a, "admin", "fixed", w.clock()))
    assert not ended.in_force and ended.ended_by == "admin" and ended.end_note == "fixed"
    assert w.search("alice", "C-1", probe_bytes(2)).candidates
    with pytest.raises(RefusedError, match="not suspended"):
        _run(w, "admin", lambda s, a: inc.resume(s, a, "admin", "again", w.clock()))
    actions = w.audit_actions()
    assert actions.count("search.suspend") == 1 and actions.count("search.resume") == 1
    assert "search.refused" in actions
    listed = _run(w, "audrey", lambda s, a: inc.suspensions(s, "audrey"))
    assert [x.reason for x in listed] == ["model fault"]
    with pytest.raises(RefusedError):
        _run(w, "alice", lambda s, a: inc.suspensions(s, "alice"))


def test_incidents_recorded_reported_and_closed(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    new = NewIncident("wrong person arrested", "lead acted on without review", True, "C-1")
    made = _run(w, "alice", lambda s, a: inc.record_incident(s, a, "alice", new, w.clock()))
    assert made.status == "open" and made.serious and made.recorded_by == "alice"
    with pytest.raises(RefusedError, match="a title is required"):
        _run(
            w, "alice", lambda s, a: inc.record_incident(s, a, "alice", NewIncident(" "), w.clock())
        )
    # reporting and closing are the administrators'
    with pytest.raises(RefusedError, match="lacks the role"):
        _run(w, "sam", lambda s, a: inc.close_incident(s, a, "sam", made.id, "done", w.clock()))
    told = _run(
        w, "admin", lambda s, a: inc.report_incident(s, a, "admin", made.id, "the DPA", w.clock())
    )
    assert told.reported_to == "the DPA" and told.reported_at is not None
    closed = _run(
        w, "admin", lambda s, a: inc.close_incident(s, a, "admin", made.id, "retrained", w.clock())
    )
    assert closed.status == "closed" and closed.closed_by == "admin"
    with pytest.raises(RefusedError, match="already closed"):
        _run(w, "admin", lambda s, a: inc.close_incident(s, a, "admin", made.id, "x", w.clock()))
    with pytest.raises(RefusedError, match="no incident 999"):
        _run(w, "admin", lambda s, a: inc.close_incident(s, a, "admin", 999, "x", w.clock()))
    other = _run(
        w, "sam", lambda s, a: inc.record_incident(s, a, "sam", NewIncident("outage"), w.clock())
    )
    everything = _run(w, "audrey", lambda s, a: inc.incidents(s, "audrey"))
    assert [i.id for i in everything] == [other.id, made.id]
    still_open = _run(w, "sam", lambda s, a: inc.incidents(s, "sam", open_only=True))
    assert [i.id for i in still_open] == [other.id]
    with pytest.raises(RefusedError):
        _run(w, "alice", lambda s, a: inc.incidents(s, "alice"))
    entry = w.last_entry("incident.record")
    assert entry.details["incident"] == other.id
    actions = w.audit_actions()
    assert [actions.count(x) for x in ("incident.record", "incident.report", "incident.close")] == [
        2,
        1,
        1,
    ]
