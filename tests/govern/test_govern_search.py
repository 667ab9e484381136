from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    MODEL,
    MODEL_SHA,
    World,
    engine,
    make_world,
    open_approved_case,
    policy_with,
    probe_bytes,
    world,
)

from facesearch.app.governed import SearchRequest, search_photo
from facesearch.govern import LEADS_STATEMENT, Cipher, RefusedError, generate_key
from facesearch.govern.schema import Probe
from facesearch.store.crypto import is_encrypted, parse_key


def test_search_records_everything_and_shows_only_policy_bands(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    probe = probe_bytes(3)
    o = world.search("alice", "C-1", probe, k=50)
    assert o.statement == LEADS_STATEMENT
    assert o.k_requested == 50 and o.k_used == 20  # policy maximum
    assert world.backend.calls[-1][0] == 20
    # the two faces of person 3 are strong; everyone else is weak and hidden by the policy
    assert [c.face_id for c in o.candidates] == sorted(
        [world.faces[(3, 0)], world.faces[(3, 1)]],
        key=lambda f: -next(c.score for c in o.candidates if c.face_id == f),
    )
    assert all(c.band in ("strong", "possible") for c in o.candidates)
    assert o.hidden_below_band == 8
    assert o.candidates[0].provenance[0]["collection"] == "web"
    entry = world.last_entry()
    assert entry.action == "search" and entry.actor == "alice" and entry.case_number == "C-1"
    d = entry.details
    assert d["probe_sha256"] == hashlib.sha256(probe).hexdigest()
    assert d["model"] == MODEL and d["model_sha256"] == MODEL_SHA
    assert d["threshold"] == 0.4 and d["thresholds"] == {"match": 0.4, "strong": 0.6}
    assert d["k"] == 20 and d["purpose"] == "threat-to-life" and d["face"] == 0
    assert d["policy_sha256"] == world.gov.policy.sha256
    assert [c["face_id"] for c in d["candidates"]] == [c.face_id for c in o.candidates]
    assert d["candidates"][0]["score"] == pytest.approx(o.candidates[0].score, abs=1e-6)
    assert entry.at == world.clock.now
    assert o.audit_seq == entry.seq


def test_face_and_collection_reach_the_engine_once(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    o = world.search("alice", "C-1", probe_bytes(3), face=1, collection="web")
    assert world.backend.calls == [(20, 1, "web")]  # one engine call, with what was asked
    assert o.probe_quality == 0.9  # the quality of the face searched (face 1)
    d = world.last_entry().details
    assert d["face"] == 1 and d["face_requested"] == 1 and d["collection"] == "web"


def test_a_search_needs_a_case_and_a_probe(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    with pytest.raises(RefusedError, match="a search needs a case"):
        world.search("alice", None, probe_bytes(3))
    with pytest.raises(RefusedError, match="the probe image is empty"):
        world.search("alice", "C-1", b"")
    assert world.backend.calls == []
    assert world.audit_actions().count("search.refused") == 2


def test_max_candidates_and_min_band(engine: Engine) -> None:  # noqa: F811
    policy = policy_with(
        **{
            "max_candidates = 20": "max_candidates = 1",
            'min_band_shown = "possible"': 'min_band_shown = "weak"',
        }
    )
    w = make_world(engine, policy)
    open_approved_case(w)
    o = w.search("alice", "C-1", probe_bytes(3), k=5)
    assert len(o.candidates) == 1 and o.k_used == 1 and o.hidden_below_band == 0


def test_low_quality_probe_is_refused(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    world.backend.quality = 0.1
    with pytest.raises(RefusedError, match="below the policy minimum"):
        world.search("alice", "C-1", probe_bytes(3))
    world.backend.quality = None
    with pytest.raises(RefusedError, match="did not report the probe's quality"):
        world.search("alice", "C-1", probe_bytes(3))
    assert world.audit_actions().count("search.refused") == 2
    with world.sessions() as s:  # nothing stored for refused searches
        assert s.execute(select(Probe)).first() is None


def test_engine_failure_is_logged(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    world.backend.fail = True
    with pytest.raises(RuntimeError, match="engine exploded"):
        world.search("alice", "C-1", probe_bytes(3))
    last = world.last_entry()
    assert last.action == "search.failed" and "engine exploded" in last.details["error"]


def test_review_marks_candidates(world: World) -> None:  # noqa: F811
    gov = world.gov
    open_approved_case(world)
    o = world.search("alice", "C-1", probe_bytes(3))
    first, second = o.candidates[0].face_id, o.candidates[1].face_id
    gov.review("alice", o.search_id, first, "possible_match", "same scar on the left cheek")
    gov.review("alice", o.search_id, second, "insufficient quality")
    gov.review("sam", o.search_id, second, "not_a_match", "different ear shape")
    entry = world.last_entry()
    assert entry.action == "review" and entry.details["decision"] == "not_a_match"
    assert entry.details["face_id"] == second
    assert "different ear shape" not in str(entry.details)  # only the note's hash is kept
    with pytest.raises(RefusedError, match="was not a candidate shown"):
        gov.review("alice", o.search_id, world.faces[(5, 0)], "possible_match")
    with pytest.raises(RefusedError, match="decision must be one of"):
        gov.review("alice", o.search_id, first, "definitely him")
    with pytest.raises(RefusedError, match="not assigned"):
        gov.review("bob", o.search_id, first, "not_a_match")
    view = gov.view_search("alice", o.search_id)
    assert world.last_entry().action == "search.view"
    by_face = {c.face_id: c for c in view.candidates}
    assert by_face[first].decision == "possible_match"
    assert by_face[first].reviews[0].note == "same scar on the left cheek"
    assert [r.decision for r in by_face[second].reviews] == ["insufficient_quality", "not_a_match"]
    assert view.statement == LEADS_STATEMENT


def test_probe_is_encrypted_at_rest_when_a_key_is_set(engine: Engine) -> None:  # noqa: F811
    cipher = Cipher(parse_key(generate_key()))
    w = make_world(engine, cipher=cipher)
    open_approved_case(w)
    probe = probe_bytes(3)
    o = w.search("alice", "C-1", probe)
    with w.sessions() as s:
        row = s.execute(select(Probe)).scalar_one()
        assert row.encrypted and row.data is not None and is_encrypted(row.data)
        assert probe not in row.data
    assert w.gov.probe_image("alice", o.search_id) == probe
    assert w.last_entry().action == "probe.view"


def test_the_engine_runs_outside_any_governance_transaction(world: World) -> None:  # noqa: F811
    """Permit and record are transactions of their own; the engine search holds none."""
    open_approved_case(world)
    made: list[Any] = []
    factory = world.gov.session_factory

    def tracking() -> Any:
        s = factory()
        made.append(s)
        return s

    world.gov.session_factory = tracking
    during: list[int] = []

    def fake_engine(probe: bytes, k: int, request: SearchRequest) -> Any:
        during.append(sum(1 for s in made if s.in_transaction()))
        return world.backend.search(probe, k, face=request.face, collection=request.collection)

    outcome, result = search_photo(
        world.gov, "alice", "C-1", probe_bytes(3), SearchRequest(k=5), fake_engine
    )
    assert during == [0] and made  # sessions were used before and after, none during
    assert outcome.k_used == 5 and result.k == 5
    assert [c.face_id for c in outcome.candidates] == [
        c.face_id for c in result.candidates if c.band != "weak"
    ]
