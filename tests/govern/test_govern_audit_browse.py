"""The audit-entry browser's library (govern/audit_browse.py) on SQLite and PostgreSQL: filters
in SQL (a prefix with LIKE's wildcards taken literally), newest first, pages, summaries and the
CSV cells a spreadsheet would otherwise run."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.engine import Engine
from tests.support.govern import engine, make_world, pg_engine  # noqa: F401

from facesearch.govern.audit import entries
from facesearch.govern.audit_browse import EntryFilter, csv_cell, list_entries, to_csv


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    name = "engine" if request.param == "sqlite" else "pg_engine"
    found: Engine = request.getfixturevalue(name)
    return found


def test_filters_pages_and_csv(any_engine: Engine) -> None:
    w = make_world(any_engine)
    gov = w.gov
    gov.record("alice", "case_x.odd", {"n": 1})
    gov.record("alice", "caseYx.odd", {"n": 2})  # "_" in a prefix is not a wildcard
    gov.log_refusal("bob", "search", "not assigned", {"case": "C-9"})
    gov.record("+bob", "note", {"text": "-1 or @here"})
    with w.sessions() as s:
        every = list(entries(s))
        found, total = list_entries(s, EntryFilter(action_prefix="case_x."))
        assert [e.action for e in found] == ["case_x.odd"] and total == 1
        found, total = list_entries(s, EntryFilter(actor="bob", outcome="refused", case="C-9"))
        assert [e.action for e in found] == ["search.refused"] and total == 1
        page, total = list_entries(s, EntryFilter(), limit=2, offset=1)
        assert total == len(every) and [e.seq for e in page] == [every[-2].seq, every[-3].seq]
        text, n = to_csv(list_entries(s, EntryFilter(actor="+bob"))[0])
    rows = list(csv.reader(io.StringIO(text)))
    assert n == 1 and rows[1][2] == "'+bob" and rows[1][6].startswith("note: text -1 or @here")
    assert [csv_cell(v) for v in ("=1+1", "-2", "@x", "\tx", "ok", 3, None)] == [
        "'=1+1",
        "'-2",
        "'@x",
        "'\tx",
        "ok",
        "3",
        "",
    ]
