from __future__ import annotations

import ast
import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import String, cast, update
from tests.support.govern import (  # noqa: F401
    MODEL,
    MODEL_SHA,
    World,
    engine,
    open_approved_case,
    person_vec,
    probe_bytes,
    remove_faces_from,
    world,
)

from facesearch.govern import LEADS_STATEMENT, RefusedError
from facesearch.govern.report import Picture, ProbePictures, ReportOptions
from facesearch.govern.report_sections import (
    MULTI_PROBE,
    ReportSections,
    ReportTable,
    multi_probe_tables,
)
from facesearch.store.schema import FaceRow as Face


@pytest.fixture
def case_with_history(world: World) -> tuple[World, list]:  # noqa: F811
    gov = world.gov
    open_approved_case(world, "OP-2024-017")
    gov.assign("sam", "OP-2024-017", "bob")
    outcomes = []
    for who, person in (("alice", 1), ("bob", 3), ("alice", 5)):
        outcomes.append(world.search(who, "OP-2024-017", probe_bytes(person)))
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
    gov.close_case("sam", "OP-2024-017", "located")
    return world, outcomes


def test_html_report_lists_every_search_and_the_reviewed_candidates(
    case_with_history: tuple,
) -> None:
    w, outcomes = case_with_history
    html = w.gov.case_report("sue", "OP-2024-017", "html").decode("utf-8")
    assert "OP-2024-017" in html and LEADS_STATEMENT in html
    assert "Warrant 2024/117" in html and "imminent threat to life" in html
    assert "approved by sam, 2024-03-01 09:05:00 UTC" in html  # who approved, when
    assert html.count('<h3 id="search-') == 3
    reviewed = {(0, 0), (1, 1), (2, 0)}  # (search, candidate) pairs reviewed in the fixture
    for i, o in enumerate(outcomes):
        assert f'id="search-{o.search_id}"' in html
        assert o.probe_sha256 in html
        for j, c in enumerate(o.candidates):
            row = f'id="search-{o.search_id}-face-{c.face_id}"'
            if (i, j) in reviewed:  # listed with its picture's place, provenance and review
                assert row in html and c.image_sha256 in html
                assert c.provenance[0]["source_url"] in html
            else:  # counted, not listed
                assert row not in html
        n = len(o.candidates) - 1
        counted = (
            f"{n} candidates shown to the searcher were not reviewed and are not listed"
            if n != 1
            else "1 candidate shown to the searcher was not reviewed and is not listed"
        )
        assert html.count(counted) >= 1
    assert MODEL_SHA in html
    assert "possible match by alice" in html and "not a match by bob" in html
    assert "insufficient quality by alice" in html
    assert "tattoo &lt;b&gt;visible&lt;/b&gt;" in html  # escaped
    assert "audit log intact" in html
    assert "Pictures: not included." in html  # governance alone has no gallery to picture
    entry = w.last_entry()
    assert entry.action == "case.report" and entry.details["format"] == "html"
    assert entry.details["sha256"] == hashlib.sha256(html.encode()).hexdigest()
    assert entry.details["all_candidates"] is False and entry.details["pictures"] is False
    other = w.gov.show_case("alice", "OTHER-1")[1][0]
    assert f'id="search-{other.search_id}"' not in html


def test_all_candidates_lists_every_candidate(case_with_history: tuple) -> None:
    w, outcomes = case_with_history
    html = w.gov.case_report(
        "sue", "OP-2024-017", "html", ReportOptions(all_candidates=True)
    ).decode("utf-8")
    for o in outcomes:
        for c in o.candidates:
            assert f'id="search-{o.search_id}-face-{c.face_id}"' in html
            assert c.image_sha256 in html
    assert "<td>not reviewed</td>" in html and "shown to the searcher was not" not in html
    assert "Listed: every candidate shown to the searcher" in html
    assert w.last_entry().details["all_candidates"] is True


def _row(html: str, label: str) -> str:
    """The value of a name/value row of the report's tables."""
    m = re.search(rf'<th style="width:22%">{label}</th><td[^>]*>(.*?)</td>', html)
    assert m is not None, label
    return m.group(1)


def test_the_case_header_says_what_each_state_is(case_with_history: tuple) -> None:
    """A closed case, an open one, one awaiting approval and a rejected one: each header row
    says what it is (no 'Closed: open', no rejection called an approval), times with zone."""
    w, _ = case_with_history
    gov = w.gov
    closed = gov.case_report("sue", "OP-2024-017", "html").decode()
    assert _row(closed, "Status") == "closed"
    assert _row(closed, "Closed") == "closed by sam, 2024-03-01 09:41:00 UTC - located"
    assert _row(closed, "Approval") == (
        "approved by sam, 2024-03-01 09:05:00 UTC - urgent, proportionate"
    )
    assert _row(closed, "Legal basis") == "Warrant 2024/117"
    assert _row(closed, "Purpose") == (
        "imminent threat to life or grievous bodily harm "
        "(policy purpose &#x27;threat-to-life&#x27;)"
    )
    assert _row(closed, "Requested") == "by alice, 2024-03-01 09:00:00 UTC"
    # the audit entries' times are read as the others are, not as stored (ISO with 'T')
    audit = closed[closed.index("Audit entries for this case") :]
    assert "<td>2024-03-01 09:00:00 UTC</td>" in audit and "T09:" not in audit

    opened = gov.case_report("sue", "OTHER-1", "html").decode()
    assert _row(opened, "Status") == "open: searches allowed"
    assert _row(opened, "Closed") == "not closed: the case is open"

    gov.open_case("alice", "P-1", "threat-to-life", "W-9", "a suspect seen on CCTV")
    pending = gov.case_report("sue", "P-1", "html").decode()
    assert _row(pending, "Approval") == "awaiting a supervisor&#x27;s decision"
    assert _row(pending, "Opened for searching") == "not opened"
    assert _row(pending, "Closed") == "not closed: the case awaits a decision"

    gov.open_case("alice", "R-1", "threat-to-life", "W-10", "a suspect seen on CCTV")
    gov.reject_case("sam", "R-1", "not proportionate")
    rejected = gov.case_report("sue", "R-1", "html").decode()
    assert _row(rejected, "Status") == "rejected"
    assert _row(rejected, "Approval").startswith("rejected by sam, ")
    assert _row(rejected, "Approval").endswith(" UTC - not proportionate")
    assert _row(rejected, "Closed") == "not closed: the case was rejected and never opened"


class FakePictures:
    """A picture source (the application's is the gallery): a small grey JPEG for any crop,
    the whole probe only for a probe (the fake engine's probes are not photos)."""

    def __init__(self) -> None:
        self.crops: list[str] = []
        self.probes: list[tuple[bytes, int | None]] = []
        buf = io.BytesIO()
        PILImage.new("RGB", (40, 50), (90, 90, 90)).save(buf, "JPEG")
        self.picture = Picture(buf.getvalue(), 40, 50)

    def probe(self, image: bytes, face: int | None, *, shielded: bool) -> ProbePictures | None:
        self.probes.append((image, face))
        return ProbePictures(None, self.picture)

    def crop(self, key: str, *, shielded: bool) -> Picture | None:
        self.crops.append(key)
        return self.picture


def test_removed_and_suppressed_faces_are_never_pictured(case_with_history: tuple) -> None:
    w, outcomes = case_with_history
    gov = w.gov
    with w.sessions() as s:
        s.execute(update(Face).values(crop="crop-" + cast(Face.id, String)))
        s.commit()
    kept = outcomes[1].candidates[1]  # reviewed: pictured
    suppressed = outcomes[0].candidates[0]  # reviewed, their person suppressed (face kept)
    removed = outcomes[2].candidates[0]  # reviewed, then removed from the gallery
    person_1 = [f for (p, _), f in w.faces.items() if p == 1]
    assert suppressed.face_id in person_1
    request_id, _ = gov.preview_removal(
        "admin", np.stack([person_vec(1, 50), person_vec(1, 51)]), MODEL, "the person", "DSR-9"
    )
    other = next(f for f in person_1 if f != suppressed.face_id)
    gov.apply_removal("admin", request_id, remove_faces_from(w.sessions), [other])
    remove_faces_from(w.sessions)([removed.face_id])

    fake = FakePictures()
    html = gov.case_report("sue", "OP-2024-017", "html", pictures=fake).decode()
    assert fake.crops == [f"crop-{kept.face_id}"]  # the others never asked for
    assert {image for image, _ in fake.probes} == {probe_bytes(p) for p in (1, 3, 5)}
    rows = {
        c.face_id: re.search(
            rf'<tr id="search-{o.search_id}-face-{c.face_id}">(.*?)</tr>', html, re.S
        ).group(1)  # type: ignore[union-attr]
        for o, c in ((outcomes[1], kept), (outcomes[0], suppressed), (outcomes[2], removed))
    }
    assert 'class="candidate" src="data:image/jpeg;base64,' in rows[kept.face_id]
    assert "<img" not in rows[suppressed.face_id] + rows[removed.face_id]
    assert "not pictured: the person asked to be removed (suppressed)" in rows[suppressed.face_id]
    assert "not pictured: the face has been removed from the gallery" in rows[removed.face_id]
    assert html.count('class="probe-whole"') == 3 and "Pictures: as stored" in html
    assert w.last_entry().details["pictures"] is True


def test_pdf_report_renders(case_with_history: tuple) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    w, _ = case_with_history
    pdf_bytes = w.gov.case_report("audrey", "OP-2024-017", "pdf")
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
        assert "OP-2024-017" in text and "investigative leads" in text
        full = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
        assert "possible match by alice" in " ".join(full.split())
    finally:
        doc.close()
    assert w.last_entry().details["format"] == "pdf"


def test_report_needs_access(case_with_history: tuple) -> None:
    w, _ = case_with_history
    w.gov.add_user("admin", "carl", ["investigator"])
    with pytest.raises(RefusedError, match="not assigned"):
        w.gov.case_report("carl", "OP-2024-017", "html")
    assert w.last_entry().action == "case.report.refused"


# --- sections other parts add (govern/report_sections.py; media's: media/report.py) ----------


def _two_tables(session, case) -> list[ReportTable]:  # type: ignore[no-untyped-def]
    """A section as media adds one: a name/value table, then a table with headers."""
    return [
        ReportTable(
            "Seized <material>", ("", ""), (("Files", "3"), ("Case", case.number)), (40, 60)
        ),
        ReportTable(
            "Persons found",
            ("Cluster", "Name"),
            (("7", "Kim & Lee"),),
            (30, 70),
            note="named by a reviewer",
            level=3,
        ),
    ]


def test_added_sections_render_in_html_and_pdf(case_with_history: tuple) -> None:
    w, _ = case_with_history
    w.gov.report_sections.add("test-section", _two_tables, before=MULTI_PROBE)
    html = w.gov.case_report("sue", "OP-2024-017", "html").decode("utf-8")
    assert "<h2>Seized &lt;material&gt;</h2>" in html  # escaped, a section heading
    assert "<tr><td>Case</td><td>OP-2024-017</td></tr>" in html  # the section saw the case
    assert "<h3>Persons found</h3>" in html and "<p>named by a reviewer</p>" in html
    assert "<td>Kim &amp; Lee</td>" in html
    # after the searches, before the audit entries
    assert html.index('<h3 id="search-') < html.index("Seized") < html.index("Audit entries")
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(w.gov.case_report("sue", "OP-2024-017", "pdf"))
    try:
        full = " ".join(
            "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).split()
        )
    finally:
        doc.close()
    assert "Seized <material>" in full and "Kim & Lee" in full and "named by a reviewer" in full


def test_a_report_without_added_sections_has_none(case_with_history: tuple) -> None:
    w, _ = case_with_history
    html = w.gov.case_report("sue", "OP-2024-017", "html").decode("utf-8")
    assert "Seized" not in html and "Multi-probe searches" not in html  # none made here


def test_sections_keep_their_order_and_adding_again_replaces() -> None:
    def section(name: str):  # type: ignore[no-untyped-def]
        return lambda s, c: [ReportTable(name, ("",), (), (100,))]

    sections = ReportSections({MULTI_PROBE: section("multi")})
    sections.add("b", section("b"))
    sections.add("a", section("a"), before=MULTI_PROBE)
    sections.add("c", section("c"), before="not there")  # unknown: last
    assert sections.names == ("a", MULTI_PROBE, "b", "c")
    sections.add(MULTI_PROBE, section("multi again"), before="a")  # known: replaced in place
    assert sections.names == ("a", MULTI_PROBE, "b", "c")
    assert [t.title for t in sections.tables(None, None)] == ["a", "multi again", "b", "c"]  # type: ignore[arg-type]
    sections.remove("b")
    sections.remove("b")  # removing twice is harmless
    assert sections.names == ("a", MULTI_PROBE, "c")


def test_media_registers_its_sections_around_the_multi_probe_searches() -> None:
    from facesearch.media.report import alert_tables, media_tables, register

    sections = ReportSections({MULTI_PROBE: multi_probe_tables})
    register(sections)
    register(sections)  # idempotent: the composition root may be built twice in a process
    assert sections.names == ("media", MULTI_PROBE, "media-alerts")
    assert sections._sections["media"] is media_tables
    assert sections._sections["media-alerts"] is alert_tables


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (TYPE_CHECKING included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_governance_never_imports_media() -> None:
    import facesearch.govern

    root = Path(facesearch.govern.__file__).parent
    offenders = {
        f"{p.name}: {m}"
        for p in root.glob("*.py")
        for m in _imported_modules(p)
        if m == "facesearch.media" or m.startswith("facesearch.media.")
    }
    assert offenders == set()
