"""Searches during an ingest (issue 22, finding 2): an ingest takes the engine's write lock for
each group of images it commits, not for the whole run, so a search made while an ingest is
under way answers at once, and finds the faces of every group committed before it started.

The ingest here stops inside its own progress report after its first group (one image) is
committed, and waits there until the search has answered: with the engine held for the whole
run (before this fix), the search waited for the ingest, which waited for the search, and the
wait below ran out."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.govern import add_user_approved

from facesearch.app.service import SearchRequest, Service
from facesearch.govern.users import Role
from facesearch.ingest.runner import IngestProgress
from facesearch.settings import Settings

WAIT_S = 60.0  # far above a search's few seconds on a loaded machine: never reached when right


@pytest.fixture
def service(tmp_path, pipeline):
    svc = Service(Settings(data_dir=tmp_path / "data"), pipeline=pipeline, share_pipeline=False)
    svc.library.initialise("admin")
    gov = svc.governance
    add_user_approved(gov, "admin", "sup", [Role.SUPERVISOR])
    gov.add_user("admin", "inv", [Role.INVESTIGATOR])
    gov.open_case("inv", "C-1", "threat-to-life", "Order 7", "imminent threat")
    gov.approve_case("sup", "C-1")
    yield svc
    svc.close()


def test_a_search_during_an_ingest_answers_and_sees_the_committed_groups(
    service, tmp_path, astronaut
):
    # four photos of one person: whichever is committed first, the probe finds it
    folder = tmp_path / "photos"
    crop = np.ascontiguousarray(astronaut[0:400, 40:440])
    for name, img in {
        "a": astronaut,
        "b": np.ascontiguousarray(astronaut[:, ::-1]),
        "c": crop,
        "d": np.ascontiguousarray(crop[:, ::-1]),
    }.items():
        write_image(folder / f"{name}.png", img)
    probe = write_image(tmp_path / "probe.jpg", astronaut).read_bytes()

    paused, resume = threading.Event(), threading.Event()
    seen: list[IngestProgress] = []

    def on_progress(p: IngestProgress) -> None:
        seen.append(IngestProgress(p.files_total, p.files_done, p.faces))
        if p.files_done == 1 and not paused.is_set():  # the first group is committed
            paused.set()
            resume.wait(WAIT_S)

    reports = []
    admin = service.accounts.principal("admin", "cli")
    ingest = threading.Thread(
        target=lambda: reports.append(
            service.library.ingest(
                admin, [folder], workers=0, commit_every=1, on_progress=on_progress
            )
        )
    )
    ingest.start()
    try:
        assert paused.wait(WAIT_S), "the ingest never committed its first group"
        answered = service.searches.search(
            service.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=5)
        )
        # the search answered while the ingest was still waiting inside its run
        during = not resume.is_set() and ingest.is_alive()
    finally:
        resume.set()
        ingest.join(WAIT_S)
    assert during, "the search waited for the ingest to end"
    assert answered.gallery_size == 1  # the first group, and only it, was committed
    best = answered.outcome.candidates[0]
    assert best.score > 0.5 and best.band == "strong"

    assert not ingest.is_alive() and len(reports) == 1
    assert reports[0].images_new == 4 and not reports[0].interrupted
    assert seen[-1].files_done == 4
    after = service.searches.search(
        service.accounts.principal("inv", "cli"), "C-1", probe, SearchRequest(k=5)
    )
    assert after.gallery_size == reports[0].faces_indexed
    assert len(after.outcome.candidates) == 4
