"""The case report as PDF (fpdf2, pure Python), A4. Contents: :mod:`facesearch.govern.report`.

Pictures are embedded as the JPEGs they are (fpdf2 writes a JPEG as is, and an identical one
once), so a report of a few searches stays a few hundred kilobytes at most. The text uses
DejaVu Sans when installed (full Unicode), else the PDF core font Helvetica (text outside
Latin-1 is replaced by '?').
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

from facesearch.govern.report import (
    CandidateShown,
    CaseReportData,
    Picture,
    ProbeShown,
    SearchRow,
    audit_time,
    case_rows,
    fmt_time,
    reviews_text,
    search_rows,
    source_text,
    unreviewed_text,
    whole_caption,
)
from facesearch.govern.searches import LEADS_STATEMENT

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
CROP_MM = 30.0  # a face crop's printed width and height at most
WHOLE_MM = (60.0, 45.0)  # a whole probe's
GAP_MM = 4.0


def _find_font(name: str) -> Path | None:
    for d in _FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return p
    return None


def fitted(p: Picture, max_w: float, max_h: float) -> tuple[float, float]:
    """The printed size (mm) of ``p`` within ``max_w`` x ``max_h``, its proportions kept."""
    scale = min(max_w / p.width, max_h / p.height)
    return p.width * scale, p.height * scale


class _Writer:
    """One report's PDF: the fpdf2 document and the few layouts the report uses."""

    def __init__(self, d: CaseReportData) -> None:
        try:
            from fpdf import FPDF  # fpdf2 takes about a second to import: only when used
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("PDF reports need the 'fpdf2' package (pip install fpdf2)") from exc
        self.d = d
        pdf = FPDF(orientation="P", unit="mm", format="A4")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_margins(15, 15, 15)
        regular, bold = _find_font("DejaVuSans.ttf"), _find_font("DejaVuSans-Bold.ttf")
        self.t: Callable[[str], str]
        if regular and bold:
            pdf.add_font("body", "", str(regular))
            pdf.add_font("body", "B", str(bold))
            self.family = "body"
            self.t = lambda s: s
        else:
            self.family = "helvetica"
            self.t = lambda s: s.encode("latin-1", "replace").decode("latin-1")
        pdf.set_title(f"Case report {d.case.number}")
        pdf.set_author(d.generated_by)
        pdf.set_creator("facesearch")
        pdf.alias_nb_pages()
        pdf.footer = self._footer  # type: ignore[method-assign]
        pdf.set_draw_color(140, 140, 140)
        pdf.add_page()
        self.pdf = pdf
        self.width = pdf.w - pdf.l_margin - pdf.r_margin

    def _footer(self) -> None:
        pdf = self.pdf
        pdf.set_y(-12)
        pdf.set_font(self.family, "", 7)
        text = (
            f"Case {self.d.case.number} - {LEADS_STATEMENT[:60]}... - page {pdf.page_no()}/{{nb}}"
        )
        pdf.cell(0, 5, self.t(text), align="C")

    # --- text ---------------------------------------------------------------------------------

    def heading(self, text: str, size: float = 13) -> None:
        pdf = self.pdf
        self.room(size * 0.5 + 20)  # a heading does not end a page
        pdf.ln(2)
        pdf.set_font(self.family, "B", size)
        self._text(self.width, size * 0.5, text)
        pdf.ln(1)

    def para(self, text: str, size: float = 9, style: str = "") -> None:
        self.pdf.set_font(self.family, style, size)
        self._text(self.width, size * 0.48, text)

    def _text(self, width: float, line: float, text: str) -> None:
        from fpdf.enums import XPos, YPos

        self.pdf.multi_cell(width, line, self.t(text), align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)

    def kv(self, rows: Sequence[tuple[str, str]]) -> None:
        self.pdf.set_font(self.family, "", 8)
        with self.pdf.table(
            col_widths=(30, 70), text_align="LEFT", first_row_as_headings=False, line_height=4
        ) as table:
            for k, v in rows:
                r = table.row()
                r.cell(self.t(k))
                r.cell(self.t(v))

    def grid(
        self, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
    ) -> None:
        self.pdf.set_font(self.family, "", 7)
        with self.pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=3.5) as t:
            h = t.row()
            for x in headings:
                h.cell(self.t(x))
            for row in rows:
                r = t.row()
                for x in row:
                    r.cell(self.t(x))

    # --- pictures ------------------------------------------------------------------------------

    def room(self, height: float) -> None:
        """A new page unless ``height`` mm are left on this one."""
        pdf = self.pdf
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()

    def image(self, p: Picture, x: float, y: float, max_w: float, max_h: float) -> float:
        """``p`` at (x, y) within max_w x max_h, framed; returns its printed height."""
        w, h = fitted(p, max_w, max_h)
        self.pdf.image(io.BytesIO(p.jpeg), x=x, y=y, w=w, h=h)
        self.pdf.rect(x, y, w, h)
        return h

    def probes(self, probes: Sequence[ProbeShown]) -> None:
        pdf = self.pdf
        for p in probes:
            if p.pictures is None:
                self.para(f"{p.label.capitalize()}: {p.note or 'no picture'}", 8)
                continue
            self.room(WHOLE_MM[1] + 12)
            x, y = pdf.l_margin, pdf.get_y() + 1
            bottom = y
            pdf.set_font(self.family, "", 7)
            shown: list[tuple[Picture, float, float, str]] = []
            if p.pictures.face is not None:
                shown.append((p.pictures.face, CROP_MM, 40.0, f"{p.label}: searched face"))
            shown.append((p.pictures.whole, *WHOLE_MM, whole_caption(p)))
            for pic, mw, mh, caption in shown:
                h = self.image(pic, x, y, mw, mh)
                w = fitted(pic, mw, mh)[0]
                pdf.set_xy(x, y + h + 0.5)
                self._text(max(w, 30.0), 3.2, caption.capitalize())
                bottom = max(bottom, pdf.get_y())
                x += max(w, 30.0) + GAP_MM
            pdf.set_xy(pdf.l_margin, bottom + 1)

    def candidate(self, shown: CandidateShown) -> None:
        """A candidate as a block: its face crop, and beside it rank, score, band, review
        and source."""
        pdf = self.pdf
        c = shown.candidate
        self.room(CROP_MM + 4)
        x, y = pdf.l_margin, pdf.get_y() + 1
        if shown.picture is not None:
            h = self.image(shown.picture, x, y, CROP_MM, CROP_MM)
        else:
            pdf.rect(x, y, CROP_MM, CROP_MM)
            pdf.set_xy(x + 1, y + 1)
            pdf.set_font(self.family, "", 6.5)
            self._text(CROP_MM - 2, 3, shown.note or "no picture")
            h = CROP_MM
        left = x + CROP_MM + GAP_MM
        text_w = self.width - CROP_MM - GAP_MM
        pdf.set_xy(left, y)
        pdf.set_font(self.family, "B", 8.5)
        self._text(
            text_w,
            4,
            f"Rank {c.rank} - face {c.face_id} - score {c.score:.4f} - band {c.band}",
        )
        pdf.set_font(self.family, "", 8)
        self._text(text_w, 3.6, f"Review: {reviews_text(c.reviews)}")
        pdf.set_font(self.family, "", 7)
        self._text(text_w, 3.2, f"Image SHA-256: {c.image_sha256 or '-'}")
        self._text(text_w, 3.2, f"Source: {source_text(c)}")
        bottom = max(y + h, pdf.get_y()) + 1.5
        pdf.line(pdf.l_margin, bottom, pdf.l_margin + self.width, bottom)
        pdf.set_xy(pdf.l_margin, bottom + 0.5)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render_pdf(d: CaseReportData) -> bytes:
    w = _Writer(d)
    w.heading(f"Face search case report: {d.case.number}", 16)
    w.para(d.statement, 10, "B")
    w.para(
        f"Generated {fmt_time(d.generated_at)} by {d.generated_by}; "
        f"policy in force {d.policy_sha256}."
    )
    w.para(d.contents_text, 8)
    w.heading("Case")
    w.kv(case_rows(d))
    w.heading("Assigned investigators")
    w.grid(
        ("User", "Assigned by", "Assigned", "Removed"),
        [
            (
                a.user,
                a.assigned_by,
                fmt_time(a.assigned_at),
                f"by {a.removed_by}, {fmt_time(a.removed_at)}" if a.removed_at else "-",
            )
            for a in d.assignments
        ]
        or [("-", "-", "-", "-")],
        (20, 20, 30, 30),
    )
    w.heading("Probe images")
    w.grid(
        ("SHA-256", "Bytes", "Stored", "Purged", "Enc."),
        [
            (
                p.sha256,
                str(p.size),
                fmt_time(p.stored_at),
                fmt_time(p.purged_at) if p.purged_at else "not purged",
                "yes" if p.encrypted else "no",
            )
            for p in d.probes
        ]
        or [("-", "-", "-", "-", "-")],
        (46, 10, 20, 20, 6),
    )
    w.heading(f"Searches ({len(d.searches)})")
    for s in d.searches:
        _search(w, s, d.pictured)
    for table in d.sections:
        w.heading(table.title, 13 if table.level == 2 else 11)
        if table.note:
            w.para(table.note, 8)
        if any(table.headers):
            w.grid(table.headers, table.rows, table.widths)
        else:
            w.kv([(r[0], r[1]) for r in table.rows])
    w.heading("Audit entries for this case")
    w.para(d.chain.summary(), 9, "B")
    w.para(d.checkpoint_text, 8)
    w.grid(
        ("#", "Time", "User", "Action", "Entry SHA-256"),
        [(str(a.seq), audit_time(a), a.actor, a.action, a.hash) for a in d.audit] or [("-",) * 5],
        (6, 22, 14, 14, 44),
    )
    w.pdf.ln(3)
    w.para(d.statement, 10, "B")
    return w.output()


def _search(w: _Writer, s: SearchRow, pictured: bool) -> None:
    o = s.outcome
    w.heading(f"Search {o.search_id}", 11)
    w.kv(search_rows(s))
    if pictured:
        w.probes(s.probes)
    if o.results_purged_at is not None:
        w.para(
            f"Stored results purged under the retention policy on "
            f"{fmt_time(o.results_purged_at)}; the candidates shown (face ids and scores) "
            f"remain in audit entry #{o.audit_seq}."
        )
        return
    w.pdf.ln(1)
    if not o.candidates:
        w.para("No candidates shown.", 8)
    elif not s.listed:
        w.para("No candidate was reviewed.", 8)
    elif pictured:
        for shown in s.listed:
            w.candidate(shown)
    else:
        w.grid(
            ("Rank", "Face", "Score", "Band", "Image SHA-256", "Source", "Review"),
            [_candidate_cells(x) for x in s.listed],
            (6, 8, 9, 10, 25, 27, 25),
        )
    if text := unreviewed_text(s):
        w.para(text, 8)


def _candidate_cells(shown: CandidateShown) -> tuple[str, ...]:
    c = shown.candidate
    return (
        str(c.rank),
        str(c.face_id),
        f"{c.score:.4f}",
        c.band,
        c.image_sha256 or "-",
        source_text(c),
        reviews_text(c.reviews),
    )
