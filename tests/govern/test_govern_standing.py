"""The rules of standing queries (govern/standing.py), with the governance tests' fake engine:
who may make, renew and end one; the policy's cap and switch; queries that stop by themselves
when their case closes, their owner leaves it or they expire; the probe and vectors deleted
when a query ends; alerts only for the case's people."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.support.govern import (  # noqa: F401
    MODEL,
    World,
    engine,
    make_world,
    open_approved_case,
    person_vec,
    policy_with,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern import standing as st
from facesearch.govern.audit import AuditLog
from facesearch.govern.schema import StandingQuery
from facesearch.govern.standing import QueryVectors

T = TypeVar("T")


def _run(w: World, actor: str, fn: Callable[[Session, AuditLog], T]) -> T:
    return w.gov.run(actor, "test", {}, fn)


def _make(w: World, actor: str, search_id: int, **kw: object) -> st.StandingView:
    vectors = QueryVectors(MODEL, person_vec(1))
    return _run(
        w,
        actor,
        lambda s, a: st.create_query(
            s, a, w.gov.policy, None, actor, search_id, "find the victim", vectors, 0, w.clock(),
            **kw,  # type: ignore[arg-type]
        ),
    )  # fmt: skip


def test_who_may_make_renew_and_end_a_standing_query(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    search = w.search("alice", "C-1", probe_bytes(1))
    for who in ("bob", "sam", "audrey", "admin"):  # bob is not assigned to C-1
        with pytest.raises(RefusedError):
            _make(w, who, search.search_id)
    with pytest.raises(RefusedError, match="180 days at most"):
        _make(w, "alice", search.search_id, expires_at=w.clock() + timedelta(days=400))
    with pytest.raises(RefusedError, match="in the future"):
        _make(w, "alice", search.search_id, expires_at=w.clock() - timedelta(days=1))
    made = _make(w, "alice", search.search_id)
    assert made.expires_at - w.clock() == timedelta(days=180)
    assert made.review_at - w.clock() == timedelta(days=30)
    with pytest.raises(RefusedError, match="lacks the role"):
        _run(
            w, "alice", lambda s, a: st.renew_query(s, a, w.gov.policy, "alice", made.id, w.clock())
        )
    w.clock.advance(days=100)
    renewed = _run(
        w, "sam", lambda s, a: st.renew_query(s, a, w.gov.policy, "sam", made.id, w.clock())
    )
    assert renewed.expires_at - w.clock() == timedelta(days=180)
    w.gov.assign("sam", "C-1", "bob")
    with pytest.raises(RefusedError, match="owner or a supervisor"):
        _run(w, "bob", lambda s, a: st.end_query(s, a, "bob", made.id, "", w.clock()))
    ended = _run(w, "alice", lambda s, a: st.end_query(s, a, "alice", made.id, "found", w.clock()))
    assert ended.status == "ended" and ended.ended_by == "alice"
    with w.sessions() as s:
        row = s.get(StandingQuery, made.id)
        assert row.probe is None and row.embedding is None and row.second_embedding is None
    with pytest.raises(RefusedError, match="already ended"):
        _run(w, "sam", lambda s, a: st.end_query(s, a, "sam", made.id, "", w.clock()))
    actions = w.audit_actions()
    assert [actions.count(x) for x in ("standing.create", "standing.renew", "standing.end")] == [
        1,
        1,
        1,
    ]


def test_the_policy_can_forbid_standing_queries(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, policy_with(**{"allowed = true": "allowed = false"}))
    open_approved_case(w)
    search = w.search("alice", "C-1", probe_bytes(1))
    with pytest.raises(RefusedError, match="does not allow standing queries"):
        _make(w, "alice", search.search_id)


def test_queries_stop_by_themselves(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    open_approved_case(w, "C-2")
    open_approved_case(w, "C-3")
    w.gov.assign("sam", "C-2", "bob")
    expiring = _make(w, "alice", w.search("alice", "C-1", probe_bytes(1)).search_id,
                     expires_at=w.clock() + timedelta(days=1))  # fmt: skip
    unassigned = _make(w, "bob", w.search("bob", "C-2", probe_bytes(1)).search_id)
    closing = _make(w, "alice", w.search("alice", "C-3", probe_bytes(1)).search_id)
    running = _make(w, "alice", w.search("alice", "C-1", probe_bytes(2)).search_id)
    w.gov.unassign("sam", "C-2", "bob")
    w.gov.close_case("sam", "C-3", "done")
    w.clock.advance(days=2)
    due = _run(w, "admin", lambda s, a: st.expire_and_collect(s, a, None, "admin", w.clock()))
    assert [d.id for d in due] == [running.id]
    assert due[0].probe == probe_bytes(2)
    statuses = {
        q.id: (q.status, q.end_note)
        for q in _run(w, "sam", lambda s, a: st.list_queries(s, "sam", None))
    }
    assert statuses[expiring.id][0] == "expired"
    assert statuses[unassigned.id] == ("stopped", "its owner bob is no longer assigned to the case")
    assert statuses[closing.id] == ("stopped", "case C-3 is closed")
    assert w.audit_actions().count("standing.stopped") == 2


def test_alerts_are_for_the_cases_people(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    search = w.search("alice", "C-1", probe_bytes(1))
    made = _make(w, "alice", search.search_id)
    alert_id = _run(
        w, "admin",
        lambda s, a: st.record_alert(
            s, a, "alice", made.id, search.search_id, 2, 0.81, w.clock()
        ).id,
    )  # fmt: skip
    assert [a.id for a in _run(w, "alice", lambda s, a: st.alerts(s, "alice"))] == [alert_id]
    assert [a.id for a in _run(w, "sam", lambda s, a: st.alerts(s, "sam"))] == [alert_id]
    assert _run(w, "bob", lambda s, a: st.alerts(s, "bob")) == []
    with pytest.raises(RefusedError):
        _run(w, "audrey", lambda s, a: st.alerts(s, "audrey"))
    with pytest.raises(RefusedError, match=f"no alert {alert_id}"):
        _run(w, "bob", lambda s, a: st.mark_seen(s, a, "bob", alert_id, w.clock()))
    seen = _run(w, "sam", lambda s, a: st.mark_seen(s, a, "sam", alert_id, w.clock()))
    assert seen.seen_by == "sam"
    assert _run(w, "alice", lambda s, a: st.alerts(s, "alice")) == []
    assert len(_run(w, "alice", lambda s, a: st.alerts(s, "alice", unseen_only=False))) == 1
