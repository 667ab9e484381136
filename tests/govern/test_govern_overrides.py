"""Supervised quality overrides (govern/overrides.py) and the quality refusal in words
(govern/probe_quality.py): asked with a reason by an assigned investigator, decided by a
supervisor who is not the requester, used by one search of that probe face only, every step
audited; the policy may forbid them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from tests.support.govern import (  # noqa: F401
    World,
    add_user_approved,
    engine,
    make_world,
    open_approved_case,
    policy_with,
    probe_bytes,
    world,
)

from facesearch.govern import RefusedError
from facesearch.govern.overrides import (
    OverrideView,
    decide_override,
    list_overrides,
    request_override,
)
from facesearch.govern.overrides_schema import QualityOverride
from facesearch.govern.probe_quality import quality_refusal
from facesearch.govern.schema import Search
from facesearch.govern.users import Role

REASON = "the only photo of the suspect we hold; frontal photos do not exist"


def ask(w: World, actor: str, probe: bytes, face: int = 0, reason: str = REASON) -> OverrideView:
    sha = hashlib.sha256(probe).hexdigest()
    return w.gov.run(
        actor,
        "quality_override.request",
        {},
        lambda s, a: request_override(
            s, a, w.gov.policy, actor, "C-1", sha, face, 0.1, reason, w.clock()
        ),
    )


def decide(w: World, actor: str, oid: int, grant: bool, note: str = "") -> OverrideView:
    action = "quality_override.grant" if grant else "quality_override.refuse"
    return w.gov.run(
        actor, action, {}, lambda s, a: decide_override(s, a, actor, oid, grant, note, w.clock())
    )


def details(w: World, action: str) -> dict[str, Any]:
    entry = w.last_entry(action)
    assert entry is not None, action
    return dict(entry.details)


def test_the_refusal_says_why_and_what_to_do() -> None:
    text = quality_refusal(0.0, 0.3, ("profile",))
    assert text.startswith("The face is turned to the side (a profile): quality 0.00")
    assert "below the policy minimum of 0.30" in text
    assert "a more frontal photo" in text and "quality override" in text
    both = quality_refusal(0.12, 0.3, ("too_small", "blurred"), override=False)
    assert both.startswith("The face is blurred and the face is too small in the photo: ")
    assert "a sharper photo or a larger or higher-resolution crop" in both
    assert "override" not in both
    assert "profile), too small or too blurred" in quality_refusal(0.2, 0.3, ())


def test_a_low_quality_probe_is_refused_in_words(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    world.backend.quality = 0.1
    with pytest.raises(RefusedError) as refused:
        world.search("alice", "C-1", probe_bytes(3))
    assert "quality 0.10, below the policy minimum of 0.30" in refused.value.reason
    assert "ask a supervisor of the case for a quality override" in refused.value.reason


def test_override_asked_granted_used_once(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    world.backend.quality = 0.1
    probe = probe_bytes(3)
    with pytest.raises(RefusedError, match="at least 10 characters"):
        ask(world, "alice", probe, reason="because")
    asked = ask(world, "alice", probe)
    assert asked.status == "pending" and asked.requested_by == "alice"
    d = details(world, "quality_override.request")
    assert d["override_id"] == asked.id and d["face"] == 0 and "reason" not in d
    assert d["reason_sha256"] == hashlib.sha256(REASON.encode()).hexdigest()
    with pytest.raises(RefusedError, match="already pending"):
        ask(world, "alice", probe)
    # still refused while pending
    with pytest.raises(RefusedError, match="below the policy minimum"):
        world.search("alice", "C-1", probe)
    with pytest.raises(RefusedError, match="supervisor"):
        decide(world, "bob", asked.id, True)  # an investigator cannot grant
    granted = decide(world, "sam", asked.id, True, "proportionate: threat to life")
    assert granted.status == "granted" and granted.decided_by == "sam"
    assert details(world, "quality_override.grant")["override_id"] == asked.id
    with pytest.raises(RefusedError, match="not pending"):
        decide(world, "sue", asked.id, False, "no")

    # another face of the probe and another probe get nothing from it
    with pytest.raises(RefusedError, match="below the policy minimum"):
        world.search("alice", "C-1", probe, face=1)
    with pytest.raises(RefusedError, match="below the policy minimum"):
        world.search("alice", "C-1", probe_bytes(4))

    out = world.search("alice", "C-1", probe)  # runs under the override
    assert out.quality_override is not None
    assert out.quality_override["granted_by"] == "sam"
    assert out.quality_override["reason"] == REASON
    used = details(world, "quality_override.use")
    assert used["search_id"] == out.search_id and used["granted_by"] == "sam"
    search_entry = details(world, "search")
    assert search_entry["quality_override"]["override_id"] == asked.id
    with world.sessions() as s:
        row = s.execute(select(QualityOverride)).scalar_one()
        assert row.status == "used" and row.search_id == out.search_id
        assert s.get(Search, out.search_id) is not None

    # spent: the next search of the same probe face is refused again
    with pytest.raises(RefusedError, match="below the policy minimum"):
        world.search("alice", "C-1", probe)
    # read back, the search still says it ran under the override
    seen = world.gov.view_search("alice", out.search_id)
    assert seen.quality_override and seen.quality_override["granted_by"] == "sam"


def test_the_requester_cannot_grant_nor_others_ask(world: World) -> None:  # noqa: F811
    open_approved_case(world)
    add_user_approved(world.gov, "admin", "vic", [Role.INVESTIGATOR, Role.SUPERVISOR], None)
    world.gov.assign("sam", "C-1", "vic")
    asked = ask(world, "vic", probe_bytes(3))
    with pytest.raises(RefusedError, match="cannot decide on it"):
        decide(world, "vic", asked.id, True)
    with pytest.raises(RefusedError, match="say why"):
        decide(world, "sam", asked.id, False)
    refused = decide(world, "sam", asked.id, False, "get a better photo first")
    assert refused.status == "refused"
    assert world.audit_actions().count("quality_override.grant.refused") == 1
    with pytest.raises(RefusedError, match="not assigned"):
        ask(world, "bob", probe_bytes(3))  # not assigned to the case
    with pytest.raises(RefusedError, match="investigator"):
        ask(world, "sam", probe_bytes(3))
    with world.sessions() as s:  # an investigator sees their own requests only
        assert [o.requested_by for o in list_overrides(s, "vic")] == ["vic"]
        assert list_overrides(s, "alice") == []
        assert [o.status for o in list_overrides(s, "sam", status="refused")] == ["refused"]


def test_the_policy_may_forbid_overrides(engine: Engine) -> None:  # noqa: F811
    w = make_world(engine, policy_with(**{"quality_override = true": "quality_override = false"}))
    open_approved_case(w)
    assert w.gov.policy.search.quality_override is False
    with pytest.raises(RefusedError, match="allows no quality override"):
        ask(w, "alice", probe_bytes(3))
    w.backend.quality = 0.1
    with pytest.raises(RefusedError) as refused:
        w.search("alice", "C-1", probe_bytes(3))
    assert "override" not in refused.value.reason


def test_a_multi_photo_refusal_names_the_photos() -> None:
    import numpy as np

    from facesearch.govern.multisearch import low_probes_refusal
    from facesearch.govern.policy import default_policy
    from facesearch.search.multiprobe import ProbeVector

    def probe(label: str, quality: float, flags: tuple[str, ...] = ()) -> ProbeVector:
        return ProbeVector(np.ones(4, np.float32), "0" * 64, quality, label=label, flags=flags)

    probes = [probe("front.jpg", 0.9), probe("side.jpg", 0.0, ("profile",)), probe("far.jpg", 0.2)]
    text = low_probes_refusal(probes, [(2, 0.0), (3, 0.2)], default_policy())
    assert text.startswith("2 of 3 probes cannot be searched.")
    assert "In photo 2 (side.jpg): the face is turned to the side (a profile): quality 0.00" in text
    assert "photo 3 (far.jpg)" in text and "front.jpg" not in text
    assert "Drop them and search the rest" in text
