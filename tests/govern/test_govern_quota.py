"""Search quotas per user (one aggregate query) and the assignment check (one lookup)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    engine,
    make_world,
    open_approved_case,
    policy_with,
    probe_bytes,
)

from facesearch.govern import RefusedError
from facesearch.govern.searches import QuotaExceededError

QUOTA = {
    "searches_per_user_per_hour = 60": "searches_per_user_per_hour = 3",
    "searches_per_user_per_day = 300": "searches_per_user_per_day = 5",
}


def test_hourly_and_daily_quotas_count_each_users_searches(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, policy_with(**QUOTA))
    open_approved_case(w)
    w.gov.assign("sam", "C-1", "bob")
    first = w.clock()
    for i in range(3):
        w.search("alice", "C-1", probe_bytes(1, i))
        w.clock.advance(minutes=10)
    # the fourth within the hour is refused; the wait runs until the first leaves the hour
    with pytest.raises(QuotaExceededError, match="3 searches in the last hour") as hour:
        w.search("alice", "C-1", probe_bytes(1, 9))
    expected = int((first + timedelta(hours=1) - w.clock()).total_seconds()) + 1
    assert hour.value.retry_after == expected == 30 * 60 + 1
    w.search("bob", "C-1", probe_bytes(2))  # another user's quota is their own
    w.clock.advance(minutes=31)  # the first search left the hour
    w.search("alice", "C-1", probe_bytes(1, 10))
    w.clock.advance(hours=2)
    w.search("alice", "C-1", probe_bytes(1, 11))
    # five in the day: the sixth is refused by the daily quota, though the hour is free
    w.clock.advance(hours=2)
    with pytest.raises(QuotaExceededError, match="5 searches in the last day") as day:
        w.search("alice", "C-1", probe_bytes(1, 12))
    assert day.value.retry_after == 24 * 3600 - (10 + 10 + 31 + 120 + 120 + 10) * 60 + 1
    assert w.audit_actions().count("search.refused") == 2
    w.clock.advance(hours=20)
    w.search("alice", "C-1", probe_bytes(1, 13))  # a new day


def test_a_removed_assignment_refuses_the_search(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine)
    open_approved_case(w)
    w.gov.assign("sam", "C-1", "bob")
    w.search("bob", "C-1", probe_bytes(2))
    w.gov.unassign("sam", "C-1", "bob")
    with pytest.raises(RefusedError, match="'bob' is not assigned to case 'C-1'"):
        w.search("bob", "C-1", probe_bytes(2))
    w.gov.assign("sam", "C-1", "bob")  # assigned again: a new assignment row counts
    assert w.search("bob", "C-1", probe_bytes(2)).candidates
