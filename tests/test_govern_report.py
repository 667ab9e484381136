from __future__ import annotations

import hashlib

import numpy as np
import pytest

from facesearch.govern import LEADS_STATEMENT, RefusedError
from test_govern_support import (  # noqa: F401
    MODEL_SHA,
    World,
    engine,
    open_approved_case,
    probe_bytes,
    world,
)


@pytest.fixture
def case_with_history(world: World) -> tuple[World, list]:  # noqa: F811
    gov = world.gov
    open_approved_case(world, "OP-2024/017")
    gov.assign("sam", "OP-2024/017", "bob")
    outcomes = []
    for who, person in (("alice", 1), ("bob", 3), ("alice", 5)):
        outcomes.append(world.search(who, "OP-2024/017", probe_bytes(person)))
        world.clock.advance(minutes=7)
    gov.review(
        "alice",
        outcomes[0].search_id,
        outcomes[0].candidates[0].face_id,
        "possible_match",
        "tattoo <b>visible</b>",
    )
    gov.review("bob", outcomes[1].search_id, outcomes[1].candidates[1].face_id, "not_a_match")
    gov.review(
        "alice",
        outcomes[2].search_id,
        outcomes[2].candidates[0].face_id,
        "insufficient_quality",
        "blurred",
    )
    # another case's search must not appear
    open_approved_case(world, "OTHER-1")
    world.search("alice", "OTHER-1", probe_bytes(2))
    gov.close_case("sam", "OP-2024/017", "located")
    return world, outcomes


def test_html_report_lists_every_search_and_review(case_with_history: tuple) -> None:
    w, outcomes = case_with_history
    html = w.gov.case_report("sue", "OP-2024/017", "html").decode("utf-8")
    assert "OP-2024/017" in html and LEADS_STATEMENT in html
    assert "Warrant 2024/117" in html and "imminent threat to life" in html
    assert "sam, 2024-03-01 09:05:00 UTC" in html  # who approved, when
    assert html.count('<h3 id="search-') == 3
    for o in outcomes:
        assert f'id="search-{o.search_id}"' in html
        assert o.probe_sha256 in html
        for c in o.candidates:
            assert c.image_sha256 in html
            assert c.provenance[0]["source_url"] in html
    assert MODEL_SHA in html
    assert "possible match by alice" in html and "not a match by bob" in html
    assert "insufficient quality by alice" in html
    assert "tattoo &lt;b&gt;visible&lt;/b&gt;" in html  # escaped
    assert "audit log intact" in html
    entry = w.last_entry()
    assert entry.action == "case.report" and entry.details["format"] == "html"
    assert entry.details["sha256"] == hashlib.sha256(html.encode()).hexdigest()
    other = w.gov.show_case("alice", "OTHER-1")[1][0]
    assert f'id="search-{other.search_id}"' not in html


def test_pdf_report_renders(case_with_history: tuple) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    w, _ = case_with_history
    pdf_bytes = w.gov.case_report("audrey", "OP-2024/017", "pdf")
    assert pdf_bytes.startswith(b"%PDF")
    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        assert len(doc) >= 1
        page = doc[0]
        image = page.render(scale=1.0).to_pil().convert("L")
        pixels = np.asarray(image)
        dark = float((pixels < 128).mean())
        assert pixels.shape[0] > 500 and 0.01 < dark < 0.5, dark  # text, not blank or black
        text = page.get_textpage().get_text_range()
        assert "OP-2024/017" in text and "investigative leads" in text
        full = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
        assert "possible match by alice" in " ".join(full.split())
    finally:
        doc.close()
    assert w.last_entry().details["format"] == "pdf"


def test_report_needs_access(case_with_history: tuple) -> None:
    w, _ = case_with_history
    w.gov.add_user("admin", "carl", ["investigator"])
    with pytest.raises(RefusedError, match="not assigned"):
        w.gov.case_report("carl", "OP-2024/017", "html")
    assert w.last_entry().action == "case.report.refused"
