from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    open_approved_case,
    probe_bytes,
    world,
)

from facesearch.govern import RefusedError
from facesearch.govern.schema import AuditEntry, CandidateRow, Probe, Review, Search


def _count(w: World, model: type, **where: object) -> int:
    with w.sessions() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return int(s.execute(q).scalar_one())


def test_purge_removes_exactly_what_is_due_and_is_idempotent(world: World) -> None:  # noqa: F811
    gov = world.gov
    # Case A: closed first. Case B: closed 10 days later. Case C: stays open.
    for number, person in (("A", 1), ("B", 2), ("C", 3)):
        open_approved_case(world, number)
        o = world.search("alice", number, probe_bytes(person))
        gov.review("alice", o.search_id, o.candidates[0].face_id, "possible_match", "n")
    closed_a = world.clock.now
    gov.close_case("sam", "A")
    world.clock.advance(days=10)
    gov.close_case("sam", "B")
    probe_days = gov.policy.retention.probe_days_after_close  # 30
    results_days = gov.policy.retention.results_days_after_close  # 365

    # one second before A's probe is due: nothing
    r = gov.purge("admin", now=closed_a + timedelta(days=probe_days) - timedelta(seconds=1))
    assert r.nothing_due and r.cases == []
    # A's probe is due, B's is not; no results are due
    r = gov.purge("admin", now=closed_a + timedelta(days=probe_days))
    assert (r.probes_purged, r.searches_purged, r.cases) == (1, 0, ["A"])
    with world.sessions() as s:
        probes = {p.case_id: p for p in s.execute(select(Probe)).scalars()}
        datas = sorted((p.data is None, p.purged_at is not None) for p in probes.values())
    assert datas == [(False, False), (False, False), (True, True)]
    assert _count(world, CandidateRow) == 6
    # running again at the same time changes nothing
    again = gov.purge("admin", now=closed_a + timedelta(days=probe_days))
    assert again.nothing_due
    # at A's results date: A's candidates and reviews go, and B's probe (due on day 40)
    r = gov.purge("admin", now=closed_a + timedelta(days=results_days))
    assert (r.probes_purged, r.searches_purged, r.cases) == (1, 1, ["A", "B"])
    assert r.candidates_deleted == 2 and r.reviews_deleted == 1
    assert _count(world, CandidateRow) == 4 and _count(world, Review) == 2
    assert _count(world, Search) == 3  # search records stay: who, when, probe hash, model
    assert gov.purge("admin", now=closed_a + timedelta(days=results_days)).nothing_due
    # open case C is never purged, however late
    gov.purge("admin", now=closed_a + timedelta(days=10 * results_days))
    with world.sessions() as s:
        c_probe = s.execute(select(Probe).where(Probe.data.is_not(None))).scalars().all()
    assert len(c_probe) == 1 and _count(world, CandidateRow) == 2

    # every run is logged, with hashes and never images
    purges = _count(world, AuditEntry, action="retention.purge")
    assert purges == 6
    with world.sessions() as s:
        details = [d for (d,) in s.execute(select(AuditEntry.details))]
    assert all("probe:" not in d for d in details)  # the probe bytes appear nowhere


def test_purged_results_are_reported_and_cannot_be_reviewed(world: World) -> None:  # noqa: F811
    gov = world.gov
    open_approved_case(world)
    o = world.search("alice", "C-1", probe_bytes(2))
    gov.close_case("sam", "C-1")
    gov.purge("admin", now=world.clock.now + timedelta(days=400))
    view = gov.view_search("alice", o.search_id)
    assert view.results_purged_at is not None and view.candidates == ()
    html = gov.case_report("sam", "C-1", "html").decode()
    assert "purged under the retention policy" in html and o.probe_sha256 in html
    with pytest.raises(RefusedError, match="was purged"):
        gov.probe_image("alice", o.search_id)


def test_only_administrators_purge(world: World) -> None:  # noqa: F811
    with pytest.raises(RefusedError, match="lacks the role"):
        world.gov.purge("sam")
    assert world.last_entry().action == "retention.purge.refused"
