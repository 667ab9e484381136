"""Case report, as HTML and PDF: the chain of custody of a case's face searches.

Contents: the case (purpose, legal authority, justification, who requested, approved,
assigned and closed it, and when); every probe (SHA-256, size, when stored, when purged);
every search (when, by whom, probe hash, model name and hash, threshold, k, band shown,
policy hash, how many candidates were hidden and why) with each candidate shown (score,
band, image hash, provenance) and every review decision on it; the case's audit entries with
their hashes; the audit chain's verification and head at the time of the report, the latest
signed checkpoint of the log (sequence number, entry hash, time, key fingerprint) when one
exists, and the statement that results are investigative leads. Then the report's sections
(:mod:`facesearch.govern.report_sections`): the multi-probe searches with their probes and
which probes matched each candidate, and those the composition root adds (victim
identification's: the media sets and elimination counts by category, the persons found and
their review decisions, and the cross-case alerts).

The PDF uses DejaVu Sans when installed (full Unicode), else the PDF core font Helvetica
(text outside Latin-1 is replaced by '?').
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import Entry, VerifyResult, as_utc, entries, verify
from facesearch.govern.cases import CaseSummary
from facesearch.govern.checkpoint import Checkpoint, latest_recorded
from facesearch.govern.policy import Policy
from facesearch.govern.report_identifications import (
    WITHHELD,
    identification_tables,
    withhold_actors,
)
from facesearch.govern.report_sections import (
    ReportSections,
    ReportTable,
    render_html_tables,
)
from facesearch.govern.schema import Case, Probe, User
from facesearch.govern.searches import LEADS_STATEMENT, ReviewDecision, SearchOutcome, outcome_of
from facesearch.govern.searches import searches_of_case as _searches_of_case
from facesearch.govern.verifications import for_viewer, identifications_of


@dataclass(frozen=True)
class AssignmentRow:
    user: str
    assigned_by: str
    assigned_at: datetime
    removed_by: str | None
    removed_at: datetime | None


@dataclass(frozen=True)
class ProbeRow:
    sha256: str
    size: int
    stored_at: datetime
    purged_at: datetime | None
    encrypted: bool


@dataclass(frozen=True)
class SearchRow:
    outcome: SearchOutcome
    face: int | None
    collection: str | None
    policy_sha256: str


@dataclass(frozen=True)
class CaseReportData:
    case: CaseSummary
    assignments: tuple[AssignmentRow, ...]
    probes: tuple[ProbeRow, ...]
    searches: tuple[SearchRow, ...]
    audit: tuple[Entry, ...]
    chain: VerifyResult
    generated_at: datetime
    generated_by: str
    policy_sha256: str
    statement: str = LEADS_STATEMENT
    checkpoint: Checkpoint | None = None  # the latest signed checkpoint the log records
    # the report's sections (report_sections: multi-probe searches, media when added)
    sections: tuple[ReportTable, ...] = ()

    @property
    def checkpoint_text(self) -> str:
        cp = self.checkpoint
        if cp is None:
            return "No signed checkpoint of the audit log has been made."
        return (
            f"Latest signed checkpoint: entry #{cp.seq} {cp.entry_hash} (entry time "
            f"{cp.entry_ts}), signed {cp.signed_at} with the Ed25519 key of fingerprint "
            f"{cp.fingerprint[:16]}."
        )

    @property
    def reviews(self) -> int:
        return sum(len(c.reviews) for s in self.searches for c in s.outcome.candidates)


def build_case_report(
    session: Session,
    case: Case,
    generated_by: str,
    generated_at: datetime,
    policy_sha256: str,
    sections: ReportSections,
    reader: tuple[User, Policy] | None = None,
) -> CaseReportData:
    """The report's contents; with ``reader`` (the user asking and the policy in force), the
    possible matches and identifications section first among the sections, and what that user
    must not see before their own verification withheld (facesearch.govern.verifications)."""
    searches = _searches_of_case(session, case)
    outcomes = [outcome_of(s) for s in searches]
    audit = list(entries(session, case=case.number))
    first: list[ReportTable] = []
    if reader is not None:
        user, policy = reader
        outcomes = for_viewer(session, policy, user, outcomes)
        found = identifications_of(session, policy, user, case)
        first = identification_tables(found, policy.review.verifications_required)
        audit = withhold_actors(audit, found)
    probes = session.execute(
        select(Probe).where(Probe.case_id == case.id).order_by(Probe.created_at, Probe.id)
    ).scalars()
    return CaseReportData(
        case=CaseSummary.of(case, len(searches)),
        assignments=tuple(
            AssignmentRow(a.user.username, a.assigned_by, a.assigned_at, a.removed_by, a.removed_at)
            for a in case.assignments
        ),
        probes=tuple(
            ProbeRow(p.sha256, p.size, p.created_at, p.purged_at, p.encrypted) for p in probes
        ),
        searches=tuple(
            SearchRow(o, s.face, s.collection, s.policy_sha256)
            for o, s in zip(outcomes, searches, strict=True)
        ),
        audit=tuple(audit),
        chain=verify(session),
        checkpoint=latest_recorded(session),
        sections=(*first, *sections.tables(session, case)),
        generated_at=generated_at,
        generated_by=generated_by,
        policy_sha256=policy_sha256,
    )


def fmt_time(dt: datetime | None) -> str:
    return as_utc(dt).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


def _prov_text(p: dict[str, Any]) -> str:
    order = ("collection", "path", "source_url", "page_url", "title", "captured_at", "ingested_at")
    parts = [f"{k}: {p[k]}" for k in order if p.get(k) not in (None, "")]
    parts += [f"{k}: {v}" for k, v in sorted(p.items()) if k not in order and v not in (None, "")]
    return "; ".join(parts) or "(none recorded)"


def _case_rows(d: CaseReportData) -> list[tuple[str, str]]:
    c = d.case
    return [
        ("Case number", c.number),
        ("Status", c.status),
        ("Purpose", f"{c.purpose_name} ({c.purpose_key})"),
        ("Legal authority", c.legal_authority),
        ("Justification", c.justification),
        ("Requested", f"{c.requested_by}, {fmt_time(c.requested_at)}"),
        (
            "Approval",
            f"{c.decided_by}, {fmt_time(c.decided_at)}"
            + (f" - {c.decision_note}" if c.decision_note else "")
            if c.decided_by
            else ("not required by policy" if c.opened_at and not c.decided_by else "none"),
        ),
        ("Opened for searching", fmt_time(c.opened_at)),
        (
            "Closed",
            f"{c.closed_by}, {fmt_time(c.closed_at)}"
            + (f" - {c.close_note}" if c.close_note else "")
            if c.closed_by
            else "open",
        ),
        ("Searches", str(c.searches)),
    ]


def _search_rows(s: SearchRow) -> list[tuple[str, str]]:
    o = s.outcome
    hidden = (
        f"{o.hidden_below_band} below band '{o.min_band_shown}', {o.hidden_suppressed} suppressed"
    )
    return [
        ("Time", fmt_time(o.at)),
        ("User", o.user),
        ("Probe SHA-256", o.probe_sha256),
        ("Probe quality", "-" if o.probe_quality is None else f"{o.probe_quality:.3f}"),
        ("Model", o.model),
        ("Model SHA-256", o.model_sha256),
        ("Thresholds", _thresholds_text(o.thresholds, o.threshold)),
        ("k requested / used", f"{o.k_requested} / {o.k_used}"),
        (
            "Probe face / collection",
            f"{'#' + str(s.face) if s.face is not None else 'largest'} / {s.collection or 'all'}",
        ),
        ("Hidden by policy", hidden),
        ("Policy SHA-256", s.policy_sha256),
        ("Audit entry", f"#{o.audit_seq}" if o.audit_seq else "-"),
    ]


def _thresholds_text(thresholds: dict[str, float], match: float | None) -> str:
    if thresholds:
        return ", ".join(f"{k} {v:.4f}" for k, v in sorted(thresholds.items()))
    return "-" if match is None else f"match {match:.4f}"


def _reviews_text(reviews: Sequence[Any]) -> str:
    if not reviews:
        return "not reviewed"
    return " | ".join(
        f"{ReviewDecision.LABELS.get(r.decision, r.decision)} by "
        f"{WITHHELD if getattr(r, 'hidden', False) else r.reviewer}, {fmt_time(r.at)}"
        + (f": {r.note}" if r.note else "")
        for r in reviews
    )


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body { font-family: DejaVu Sans, Arial, sans-serif; font-size: 10pt; margin: 2em; color: #111; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.5em; } h3 { font-size: 11pt; }
table { border-collapse: collapse; margin: 0.5em 0; width: 100%; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; } td.hash, span.hash { font-family: monospace; font-size: 8.5pt;
word-break: break-all; } .statement { border: 2px solid #a00; padding: 8px; font-weight: bold; }
.bad { color: #a00; font-weight: bold; } .ok { color: #060; }
"""


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
        "<h2>Case</h2>",
        _kv_table(_case_rows(d)),
        "<h2>Assigned investigators</h2>",
        "<table><tr><th>User</th><th>Assigned by</th><th>Assigned</th><th>Removed</th></tr>",
    ]
    for a in d.assignments:
        removed = f"{a.removed_by}, {fmt_time(a.removed_at)}" if a.removed_at else "-"
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
        out.append(
            f'<tr><td class="hash">{e(p.sha256)}</td><td>{p.size}</td>'
            f"<td>{e(fmt_time(p.stored_at))}</td><td>{e(fmt_time(p.purged_at))}</td>"
            f"<td>{'yes' if p.encrypted else 'no'}</td></tr>"
        )
    out.append("</table>")
    out.append(f"<h2>Searches ({len(d.searches)})</h2>")
    for s in d.searches:
        o = s.outcome
        out.append(f'<h3 id="search-{o.search_id}">Search {o.search_id}</h3>')
        out.append(_kv_table(_search_rows(s)))
        if o.results_purged_at is not None:
            out.append(
                f"<p>Stored results purged under the retention policy on "
                f"{e(fmt_time(o.results_purged_at))}; the candidates shown (face ids and "
                f"scores) remain in audit entry #{o.audit_seq}.</p>"
            )
            continue
        out.append(
            "<table><tr><th>Rank</th><th>Face</th><th>Score</th><th>Band</th>"
            "<th>Image SHA-256</th><th>Provenance</th><th>Review</th></tr>"
        )
        if not o.candidates:
            out.append('<tr><td colspan="7">No candidates shown.</td></tr>')
        for c in o.candidates:
            prov = "<br>".join(e(_prov_text(p)) for p in c.provenance) or "(none recorded)"
            out.append(
                f"<tr><td>{c.rank}</td><td>{c.face_id}</td><td>{c.score:.4f}</td>"
                f'<td>{e(c.band)}</td><td class="hash">{e(c.image_sha256 or "-")}</td>'
                f"<td>{prov}</td><td>{e(_reviews_text(c.reviews))}</td></tr>"
            )
        out.append("</table>")
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
            f"<tr><td>{en.seq}</td><td>{e(en.ts)}</td><td>{e(en.actor)}</td>"
            f'<td>{e(en.action)}</td><td class="hash">{e(en.hash)}</td></tr>'
        )
    out.append("</table>")
    out.append(f'<p class="statement">{e(d.statement)}</p>')
    out.append("</body></html>")
    return "\n".join(out)


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    e = html.escape
    body = "".join(
        f'<tr><th style="width:22%">{e(k)}</th>'
        f"<td{' class=hash' if 'SHA-256' in k else ''}>{e(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


# --- PDF --------------------------------------------------------------------------------------

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)


def _find_font(name: str) -> Path | None:
    for d in _FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return p
    return None


def render_pdf(d: CaseReportData) -> bytes:
    try:
        from fpdf import FPDF
        from fpdf.enums import XPos, YPos
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("PDF reports need the 'fpdf2' package (pip install fpdf2)") from exc

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_margins(15, 15, 15)
    regular, bold = _find_font("DejaVuSans.ttf"), _find_font("DejaVuSans-Bold.ttf")
    if regular and bold:
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold))
        family = "body"

        def t(s: str) -> str:
            return s
    else:
        family = "helvetica"

        def t(s: str) -> str:
            return s.encode("latin-1", "replace").decode("latin-1")

    pdf.set_title(f"Case report {d.case.number}")
    pdf.set_author(d.generated_by)
    pdf.set_creator("facesearch")
    pdf.alias_nb_pages()

    def footer() -> None:
        pdf.set_y(-12)
        pdf.set_font(family, "", 7)
        pdf.cell(
            0,
            5,
            t(f"Case {d.case.number} - {LEADS_STATEMENT[:60]}... - page {pdf.page_no()}/{{nb}}"),
            align="C",
        )

    pdf.footer = footer  # type: ignore[method-assign]
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: float = 13) -> None:
        pdf.ln(2)
        pdf.set_font(family, "B", size)
        pdf.multi_cell(width, size * 0.5, t(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)

    def para(text: str, size: float = 9, style: str = "") -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(width, size * 0.48, t(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def kv(rows: Sequence[tuple[str, str]]) -> None:
        pdf.set_font(family, "", 8)
        with pdf.table(
            col_widths=(30, 70), text_align="LEFT", first_row_as_headings=False, line_height=4
        ) as table:
            for k, v in rows:
                r = table.row()
                r.cell(t(k))
                r.cell(t(v))

    def grid(headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
        pdf.set_font(family, "", 7)
        with pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=3.5) as table:
            h = table.row()
            for x in headings:
                h.cell(t(x))
            for row in rows:
                r = table.row()
                for x in row:
                    r.cell(t(x))

    heading(f"Face search case report: {d.case.number}", 16)
    pdf.set_draw_color(140, 140, 140)
    para(d.statement, 10, "B")
    para(
        f"Generated {fmt_time(d.generated_at)} by {d.generated_by}; "
        f"policy in force {d.policy_sha256}."
    )
    heading("Case")
    kv(_case_rows(d))
    heading("Assigned investigators")
    grid(
        ("User", "Assigned by", "Assigned", "Removed"),
        [
            (
                a.user,
                a.assigned_by,
                fmt_time(a.assigned_at),
                f"{a.removed_by}, {fmt_time(a.removed_at)}" if a.removed_at else "-",
            )
            for a in d.assignments
        ]
        or [("-", "-", "-", "-")],
        (20, 20, 30, 30),
    )
    heading("Probe images")
    grid(
        ("SHA-256", "Bytes", "Stored", "Purged", "Enc."),
        [
            (
                p.sha256,
                str(p.size),
                fmt_time(p.stored_at),
                fmt_time(p.purged_at),
                "yes" if p.encrypted else "no",
            )
            for p in d.probes
        ]
        or [("-", "-", "-", "-", "-")],
        (46, 10, 20, 20, 6),
    )
    heading(f"Searches ({len(d.searches)})")
    for s in d.searches:
        o = s.outcome
        heading(f"Search {o.search_id}", 11)
        kv(_search_rows(s))
        if o.results_purged_at is not None:
            para(
                f"Stored results purged under the retention policy on "
                f"{fmt_time(o.results_purged_at)}; the candidates shown (face ids and scores) "
                f"remain in audit entry #{o.audit_seq}."
            )
            continue
        pdf.ln(1)
        grid(
            ("Rank", "Face", "Score", "Band", "Image SHA-256", "Provenance", "Review"),
            [
                (
                    str(c.rank),
                    str(c.face_id),
                    f"{c.score:.4f}",
                    c.band,
                    c.image_sha256 or "-",
                    "\n".join(_prov_text(p) for p in c.provenance) or "(none recorded)",
                    _reviews_text(c.reviews),
                )
                for c in o.candidates
            ]
            or [("-", "-", "-", "-", "no candidates shown", "-", "-")],
            (6, 8, 9, 10, 25, 27, 25),
        )
    for table in d.sections:
        heading(table.title, 13 if table.level == 2 else 11)
        if table.note:
            para(table.note, 8)
        if any(table.headers):
            grid(table.headers, table.rows, table.widths)
        else:
            kv([(r[0], r[1]) for r in table.rows])
    heading("Audit entries for this case")
    para(d.chain.summary(), 9, "B")
    para(d.checkpoint_text, 8)
    grid(
        ("#", "Time", "User", "Action", "Entry SHA-256"),
        [(str(a.seq), a.ts[:19] + "Z", a.actor, a.action, a.hash) for a in d.audit] or [("-",) * 5],
        (6, 22, 14, 14, 44),
    )
    pdf.ln(3)
    para(d.statement, 10, "B")
    return bytes(pdf.output())
