"""A removal on request whose process died between activating the suppression and removing
the faces (found by the crash trials): running ``apply`` again finishes it. It used to be
refused (``removal request 1 is applying``) and the person's faces stayed in the gallery."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select
from tests.support.govern import (  # noqa: F401
    MODEL,
    World,
    engine,
    person_vec,
    remove_faces_from,
    sqlite_engine,
    world,
)

from facesearch.govern import RefusedError
from facesearch.store.schema import FaceRow as Face

PERSON = 4


class Killed(BaseException):
    """The process dying mid-removal: nothing after this point runs (no ``except`` catches
    it, as none runs after a SIGKILL)."""


def faces_of(w: World) -> int:
    with w.sessions() as s:
        return int(s.execute(select(func.count()).select_from(Face)).scalar_one())


def test_an_apply_killed_after_activation_is_finished_by_the_next(world: World) -> None:  # noqa: F811
    gov = world.gov
    vectors = np.stack([person_vec(PERSON, 50), person_vec(PERSON, 51)])
    request_id, matches = gov.preview_removal("admin", vectors, MODEL, "the person", "DSR-9")
    theirs = {m.face_id for m in matches}
    assert len(theirs) == 2 and faces_of(world) == 10

    def killed(ids: list[int]) -> int:
        raise Killed

    with pytest.raises(Killed):
        gov.apply_removal("admin", request_id, killed)
    assert faces_of(world) == 10  # the suppression is active, the faces still stored

    assert set(gov.apply_removal("admin", request_id, remove_faces_from(world.sessions))) == theirs
    assert faces_of(world) == 8
    actions = world.audit_actions()
    assert actions.count("suppression.activate") == 2 and actions[-1] == "removal.apply"
    with pytest.raises(RefusedError, match="is applied"):
        gov.apply_removal("admin", request_id, remove_faces_from(world.sessions))


def test_a_resumed_apply_keeps_the_faces_first_chosen(world: World) -> None:  # noqa: F811
    gov = world.gov
    vectors = np.stack([person_vec(PERSON, 50), person_vec(PERSON, 51)])
    request_id, matches = gov.preview_removal("admin", vectors, MODEL, "the person", "DSR-10")
    one = matches[0].face_id

    def killed(ids: list[int]) -> int:
        raise Killed

    with pytest.raises(Killed):
        gov.apply_removal("admin", request_id, killed, [one])
    # run again without --face: the faces the interrupted apply chose, not the whole preview
    assert gov.apply_removal("admin", request_id, remove_faces_from(world.sessions)) == [one]
    assert faces_of(world) == 9
