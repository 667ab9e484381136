"""The accuracy-by-group report as files: DET curves per group (PNG), a self-contained HTML page
(the plots embedded as PNG) and a PDF (fpdf2, as the other reports that leave the system:
:mod:`facesearch.govern.reports_pdf`), from a :class:`~facesearch.evaluate.groups_report.
GroupReport`.

matplotlib (the ``eval`` extra) and fpdf2 are imported inside the functions that draw, as in
:mod:`facesearch.evaluate.plots`: a report without them fails only when drawn.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from facesearch.evaluate.groups_report import (
    ColumnReport,
    GroupReport,
    Rate,
    flag_text,
    method_paragraphs,
)
from facesearch.evaluate.metrics import roc_curve
from facesearch.govern.report_pdf import _find_font

MAX_CURVE_POINTS = 2000


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def rate_text(r: Rate) -> str:
    """``12.50% [8.1%, 18.8%] (5/40)``: the rate, its Wilson 95% interval and its counts."""
    ci = r.ci95
    if ci is None:
        return "no pairs"
    return f"{_pct(r.rate)} [{100 * ci[0]:.1f}%, {100 * ci[1]:.1f}%] ({r.count}/{r.n})"


def rate_short(r: Rate) -> str:
    """``1.2% 7/600 [0.6-2.4]``: the terminal's narrower form of :func:`rate_text`."""
    ci = r.ci95
    if ci is None or r.rate is None:
        return "-"
    return f"{100 * r.rate:.1f}% {r.count}/{r.n} [{100 * ci[0]:.1f}-{100 * ci[1]:.1f}]"


def det_points(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) at every distinct threshold, at most :data:`MAX_CURVE_POINTS` of them."""
    curve = roc_curve(genuine, impostor)
    fmr, fnmr = np.asarray(curve.far), np.asarray(curve.fnmr)
    if fmr.size > MAX_CURVE_POINTS:
        idx = np.unique(np.linspace(0, fmr.size - 1, MAX_CURVE_POINTS).astype(np.int64))
        fmr, fnmr = fmr[idx], fnmr[idx]
    return fmr, fnmr


def det_png(column: ColumnReport, threshold: float) -> bytes | None:
    """A DET plot (FMR against FNMR, log axes) with one curve per group of ``column`` and
    each group's operating point; None when no group has both kinds of pairs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = [
        (value, gen, imp) for value, (gen, imp) in column.curves.items() if gen.size and imp.size
    ]
    if not drawn:
        return None
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    smallest = 1.0
    for value, gen, imp in drawn:
        fmr, fnmr = det_points(gen, imp)
        # a log axis cannot show 0: such points are drawn at the axis floor (1 / pairs)
        floor_x, floor_y = 0.5 / imp.size, 0.5 / gen.size
        x, y = np.maximum(fmr, floor_x), np.maximum(fnmr, floor_y)
        smallest = min(smallest, floor_x, floor_y)
        (line,) = ax.step(x, y, where="post", label=f"{value} ({gen.size} gen / {imp.size} imp)")
        op_fmr = max(float(np.mean(imp >= threshold)), floor_x)
        op_fnmr = max(float(np.mean(gen < threshold)), floor_y)
        ax.plot([op_fmr], [op_fnmr], marker="o", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(smallest * 0.8, 1.0)
    ax.set_ylim(smallest * 0.8, 1.0)
    ax.set_xlabel("FMR (false match rate, impostor pairs within the group)")
    ax.set_ylabel("FNMR (false non-match rate)")
    ax.set_title(f"DET by {column.column} (dots: operating threshold {threshold:.4f})")
    fig.text(0.01, 0.01, "rates of 0 are drawn at 1/(2 x pairs)", fontsize="x-small")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def column_rows(
    column: ColumnReport, sizes: list[str], fmt: Callable[[Rate], str] = rate_text
) -> list[list[str]]:
    rows = []
    for g in column.groups:
        rows.append(
            [
                g.value,
                str(g.n_identities),
                str(g.n_images),
                fmt(g.fnmr),
                fmt(g.fmr_within),
                fmt(g.fmr_across),
                *(fmt(g.rank1[s]) for s in sizes),
                ", ".join(g.flags) or "-",
            ]
        )
    if column.mixed_genuine.n:
        blank = ["-"] * (len(sizes) + 2)
        rows.append(["(pairs across groups)", "-", "-", fmt(column.mixed_genuine), *blank])
    return rows


def column_header(sizes: list[str]) -> list[str]:
    return [
        "group",
        "identities",
        "images",
        "FNMR",
        "FMR within",
        "FMR across",
        *(f"rank-1 @ {s}" for s in sizes),
        "flag",
    ]


def age_tables(report: GroupReport) -> list[tuple[str, list[str], list[list[str]]]]:
    a = report.age
    if a is None:
        return []
    bands = [[name, rate_text(r)] for name, r in a.bands.items()]
    if a.bands_mixed.n:
        bands.append(["(photos in different bands)", rate_text(a.bands_mixed)])
    gaps = [[name, rate_text(r)] for name, r in a.gaps.items()]
    if a.n_genuine_without_age:
        gaps.append(["(a photo without an age)", f"{a.n_genuine_without_age} pairs"])
    return [
        (f"FNMR by age band ({a.band_source})", ["age band", "FNMR"], bands),
        ("FNMR by age gap between the two photos", ["age gap (years)", "FNMR"], gaps),
    ]


def _facts(report: GroupReport) -> list[tuple[str, str]]:
    return [
        ("created", report.created_at),
        ("data set", report.dataset),
        ("group labels", report.labels_file),
        ("model", f"{report.model_key} ({report.scoring})" if report.scoring else report.model_key),
        ("operating threshold", f"{report.threshold:.4f} (match band)"),
        ("disparity factor", f"{report.disparity_factor:g} ({report.factor_source})"),
        ("photos scored", str(report.n_images)),
        (
            "pairs",
            f"{report.n_genuine} genuine, {report.n_impostor} impostor"
            + (" (seeded sample)" if report.impostors_sampled else ""),
        ),
    ]


def render_html(report: GroupReport, plots: dict[str, bytes | None]) -> str:
    e = html.escape

    def table(columns: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{e(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    flags = report.flags
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Accuracy by group</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;"
        "margin:.5em 0 1.5em}td,th{border:1px solid #999;padding:.2em .5em;text-align:left;"
        "font-size:.9em}.flag{color:#a00;font-weight:bold}pre{white-space:pre-wrap}",
        "</style></head><body><h1>Accuracy by group</h1>",
        table(["about", ""], [[k, v] for k, v in _facts(report)]),
        "<h2>Flags</h2>",
    ]
    if flags:
        parts.append("<ul>")
        parts += [f"<li class='flag'>{e(flag_text(f))}</li>" for f in flags]
        parts.append("</ul>")
    else:
        parts.append(
            f"<p>No group's FNMR or FMR is more than {report.disparity_factor:g}x the best "
            "group's.</p>"
        )
    for col in report.columns:
        parts.append(f"<h2>By {e(col.column)}</h2>")
        png = plots.get(col.column)
        if png:
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f"<img alt='DET curves by {e(col.column)}' src='data:image/png;base64,{data}'>"
            )
        parts.append(
            table(column_header(report.gallery_sizes), column_rows(col, report.gallery_sizes))
        )
        if col.n_unlabelled_images:
            parts.append(f"<p>{col.n_unlabelled_images} photos carry no {e(col.column)} label.</p>")
    for heading, columns, rows in age_tables(report):
        parts += [f"<h2>{e(heading)}</h2>", table(columns, rows)]
    if report.notes:
        parts += ["<h2>Notes</h2><ul>", *(f"<li>{e(n)}</li>" for n in report.notes), "</ul>"]
    parts += [
        "<h2>Method</h2>",
        "<p>Rates are shown as rate [95% interval] (errors or hits / pairs or probes).</p>",
        "<ul>",
        *(f"<li>{e(p)}</li>" for p in method_paragraphs()),
        "</ul>",
        "</body></html>",
    ]
    return "\n".join(parts)


def render_pdf(report: GroupReport, plots: dict[str, bytes | None], author: str) -> bytes:
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("PDF reports need the 'fpdf2' package (pip install fpdf2)") from exc

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(12, 12, 12)
    regular, bold = _find_font("DejaVuSans.ttf"), _find_font("DejaVuSans-Bold.ttf")
    t: Callable[[str], str]
    if regular and bold:
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold))
        family, t = "body", str
    else:
        family = "helvetica"

        def t(s: str) -> str:
            return s.encode("latin-1", "replace").decode("latin-1")

    pdf.set_title("Accuracy by group")
    pdf.set_author(author)
    pdf.set_creator("facesearch")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def text(size: float, style: str, value: str) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.5, t(value), new_x=XPos.LEFT, new_y=YPos.NEXT)

    def table(columns: list[str], rows: list[list[str]]) -> None:
        pdf.set_font(family, "", 7)
        with pdf.table(text_align="LEFT", line_height=3.6) as tab:
            head = tab.row()
            for c in columns:
                head.cell(t(c))
            for row in rows:
                r = tab.row()
                for v in row:
                    r.cell(t(str(v)))

    text(15, "B", "Accuracy by group")
    for k, v in _facts(report):
        text(9, "", f"{k}: {v}")
    pdf.ln(2)
    text(12, "B", "Flags")
    flags: list[dict[str, Any]] = report.flags
    for f in flags:
        text(9, "B", flag_text(f))
    if not flags:
        text(9, "", f"No group's FNMR or FMR is more than {report.disparity_factor:g}x the best.")
    for col in report.columns:
        pdf.ln(2)
        text(12, "B", f"By {col.column}")
        png = plots.get(col.column)
        if png:
            if pdf.get_y() + 100 > pdf.h - pdf.b_margin:
                pdf.add_page()
            pdf.image(io.BytesIO(png), w=128)
        table(column_header(report.gallery_sizes), column_rows(col, report.gallery_sizes))
    for heading, columns, rows in age_tables(report):
        pdf.ln(2)
        text(12, "B", heading)
        table(columns, rows)
    for note in report.notes:
        text(8, "", f"note: {note}")
    pdf.ln(2)
    text(12, "B", "Method")
    text(8, "", "Rates: rate [95% interval] (errors or hits / pairs or probes).")
    for paragraph in method_paragraphs():
        text(8, "", "- " + paragraph)
    return bytes(pdf.output())
