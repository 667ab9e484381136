"""The reports that leave the system as PDF (fpdf2, as the case report: :mod:`.report_pdf`):
a title, paragraphs and tables of text. No pictures: these reports carry none."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from facesearch.govern.report_pdf import _find_font


@dataclass
class Table:
    heading: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    note: str = ""


@dataclass
class Document:
    title: str
    author: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def render_document(doc: Document) -> bytes:
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("PDF reports need the 'fpdf2' package (pip install fpdf2)") from exc
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    regular, bold = _find_font("DejaVuSans.ttf"), _find_font("DejaVuSans-Bold.ttf")
    t: Callable[[str], str]
    if regular and bold:
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold))
        family = "body"
        t = str
    else:
        family = "helvetica"

        def t(s: str) -> str:
            return s.encode("latin-1", "replace").decode("latin-1")

    pdf.set_title(doc.title)
    pdf.set_author(doc.author)
    pdf.set_creator("facesearch")
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def text(size: float, style: str, value: str) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.5, t(value), new_x=XPos.LEFT, new_y=YPos.NEXT)

    text(15, "B", doc.title)
    pdf.ln(2)
    for p in doc.paragraphs:
        text(9, "", p)
        pdf.ln(1)
    for tab in doc.tables:
        pdf.ln(2)
        text(12, "B", tab.heading)
        if tab.note:
            text(8, "", tab.note)
        if not tab.rows:
            text(9, "", "none")
            continue
        pdf.set_font(family, "", 7.5)
        with pdf.table(text_align="LEFT", line_height=3.8) as table:
            head = table.row()
            for c in tab.columns:
                head.cell(t(c))
            for row in tab.rows:
                r = table.row()
                for v in row:
                    r.cell(t(str(v)))
    return bytes(pdf.output())
