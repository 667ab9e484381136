"""The case report as one self-contained HTML document (pictures inline as ``data:`` URIs),
laid out for A4 paper as well as for a screen. Contents: :mod:`facesearch.govern.report`."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from facesearch.govern.report import (
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
from facesearch.govern.report_sections import render_html_tables

# printed sizes: a face crop 30 mm wide, a whole probe at most 60 mm wide and 45 mm high
CROP_MM = 30
WHOLE_MM = (60, 45)

_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: DejaVu Sans, Arial, sans-serif; font-size: 10pt; margin: 2em; color: #111; }
@media print { body { margin: 0; } h3 { break-after: avoid; } tr, figure { break-inside: avoid; } }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.5em; } h3 { font-size: 11pt; }
table { border-collapse: collapse; margin: 0.5em 0; width: 100%; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } td.hash, span.hash { font-family: monospace; font-size: 8.5pt;
word-break: break-all; } .statement { border: 2px solid #a00; padding: 8px; font-weight: bold; }
.bad { color: #a00; font-weight: bold; } .ok { color: #060; }
.probes { display: flex; flex-wrap: wrap; gap: 4mm; margin: 0.5em 0; }
figure { margin: 0; } figcaption { font-size: 8pt; color: #333; max-width: 60mm; }
img { display: block; border: 1px solid #999; }
td.picture { width: 32mm; } .muted { color: #555; font-style: italic; }
"""


def data_uri(p: Picture) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(p.jpeg).decode("ascii")


def img(p: Picture, alt: str, max_mm: tuple[float, float], kind: str) -> str:
    """An inline picture, its printed size at most ``max_mm`` (width, height) in millimetres,
    its pixel size in ``width``/``height`` (the file's own: nothing is scaled up)."""
    scale = min(max_mm[0] / p.width, max_mm[1] / p.height)
    w_mm, h_mm = p.width * scale, p.height * scale
    return (
        f'<img class="{kind}" src="{data_uri(p)}" width="{p.width}" height="{p.height}" '
        f'style="width:{w_mm:.1f}mm;height:{h_mm:.1f}mm" alt="{html.escape(alt)}">'
    )


def render_html(d: CaseReportData) -> str:
    e = html.escape
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Case report {e(d.case.number)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Face search case report: {e(d.case.number)}</h1>",
        f'<p class="statement">{e(d.statement)}</p>',
        f"<p>Generated {e(fmt_time(d.generated_at))} by {e(d.generated_by)}; policy in force "
        f'<span class="hash">{e(d.policy_sha256)}</span>.</p>',
        f'<p class="contents">{e(d.contents_text)}</p>',
        "<h2>Case</h2>",
        _kv_table(case_rows(d)),
        "<h2>Assigned investigators</h2>",
        "<table><tr><th>User</th><th>Assigned by</th><th>Assigned</th><th>Removed</th></tr>",
    ]
    for a in d.assignments:
        removed = f"by {a.removed_by}, {fmt_time(a.removed_at)}" if a.removed_at else "-"
        out.append(
            f"<tr><td>{e(a.user)}</td><td>{e(a.assigned_by)}</td>"
            f"<td>{e(fmt_time(a.assigned_at))}</td><td>{e(removed)}</td></tr>"
        )
    out.append("</table>")
    out.append("<h2>Probe images</h2>")
    out.append(
        "<table><tr><th>SHA-256</th><th>Bytes</th><th>Stored</th><th>Purged</th>"
        "<th>Encrypted</th></tr>"
    )
    for p in d.probes:
        purged = fmt_time(p.purged_at) if p.purged_at else "not purged"
        out.append(
            f'<tr><td class="hash">{e(p.sha256)}</td><td>{p.size}</td>'
            f"<td>{e(fmt_time(p.stored_at))}</td><td>{e(purged)}</td>"
            f"<td>{'yes' if p.encrypted else 'no'}</td></tr>"
        )
    out.append("</table>")
    out.append(f"<h2>Searches ({len(d.searches)})</h2>")
    for s in d.searches:
        out.extend(_search(s, d.pictured))
    out.extend(render_html_tables(d.sections))
    out.append("<h2>Audit entries for this case</h2>")
    cls = "ok" if d.chain.ok else "bad"
    out.append(f'<p class="{cls}">{e(d.chain.summary())}</p>')
    out.append(f'<p class="checkpoint">{e(d.checkpoint_text)}</p>')
    out.append(
        "<table><tr><th>#</th><th>Time</th><th>User</th><th>Action</th><th>Entry SHA-256</th></tr>"
    )
    for en in d.audit:
        out.append(
            f"<tr><td>{en.seq}</td><td>{e(audit_time(en))}</td><td>{e(en.actor)}</td>"
            f'<td>{e(en.action)}</td><td class="hash">{e(en.hash)}</td></tr>'
        )
    out.append("</table>")
    out.append(f'<p class="statement">{e(d.statement)}</p>')
    out.append("</body></html>")
    return "\n".join(out)


def _search(s: SearchRow, pictured: bool) -> list[str]:
    e = html.escape
    o = s.outcome
    out = [f'<h3 id="search-{o.search_id}">Search {o.search_id}</h3>', _kv_table(search_rows(s))]
    if pictured:
        out.append('<div class="probes">')
        out.extend(_probe_figures(p) for p in s.probes)
        out.append("</div>")
    if o.results_purged_at is not None:
        out.append(
            f"<p>Stored results purged under the retention policy on "
            f"{e(fmt_time(o.results_purged_at))}; the candidates shown (face ids and "
            f"scores) remain in audit entry #{o.audit_seq}.</p>"
        )
        return out
    head = "<th>Face</th>" if pictured else ""
    out.append(
        f'<table class="candidates"><tr><th>Rank</th>{head}<th>Face id</th><th>Score</th>'
        "<th>Band</th><th>Review</th><th>Image SHA-256</th><th>Source</th></tr>"
    )
    if not o.candidates:
        out.append(f'<tr><td colspan="{7 + pictured}">No candidates shown.</td></tr>')
    elif not s.listed:
        out.append(f'<tr><td colspan="{7 + pictured}">No candidate was reviewed.</td></tr>')
    for shown in s.listed:
        c = shown.candidate
        cell = ""
        if pictured:
            inner = (
                img(
                    shown.picture,
                    f"Face crop of candidate {c.rank}",
                    (CROP_MM, CROP_MM),
                    "candidate",
                )
                if shown.picture
                else f'<span class="muted">{e(shown.note or "no picture")}</span>'
            )
            cell = f'<td class="picture">{inner}</td>'
        prov = "<br>".join(e(line) for line in source_text(c).split("\n"))
        out.append(
            f'<tr id="search-{o.search_id}-face-{c.face_id}"><td>{c.rank}</td>{cell}'
            f"<td>{c.face_id}</td><td>{c.score:.4f}</td><td>{e(c.band)}</td>"
            f"<td>{e(reviews_text(c.reviews))}</td>"
            f'<td class="hash">{e(c.image_sha256 or "-")}</td><td>{prov}</td></tr>'
        )
    out.append("</table>")
    if text := unreviewed_text(s):
        out.append(f'<p class="unreviewed">{e(text)}</p>')
    return out


def _probe_figures(p: ProbeShown) -> str:
    e = html.escape
    face = f"face #{p.face}" if p.face is not None else "the largest face"
    if p.pictures is None:
        return f'<p class="muted">{e(p.label.capitalize())}: {e(p.note or "no picture")}</p>'
    figures = []
    if p.pictures.face is not None:
        face_img = img(
            p.pictures.face, f"Searched face of the {p.label}", (CROP_MM, 40), "probe-face"
        )
        figures.append(
            f"<figure>{face_img}<figcaption>{e(p.label.capitalize())}: the searched face "
            f"({e(face)})</figcaption></figure>"
        )
    whole_img = img(p.pictures.whole, f"Whole {p.label}", WHOLE_MM, "probe-whole")
    figures.append(
        f"<figure>{whole_img}<figcaption>{e(whole_caption(p))}; "
        f'SHA-256 <span class="hash">{e(p.sha256[:16])}...</span></figcaption></figure>'
    )
    return "".join(figures)


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    e = html.escape
    body = "".join(
        f'<tr><th style="width:22%">{e(k)}</th>'
        f"<td{' class=hash' if 'SHA-256' in k else ''}>{e(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"
