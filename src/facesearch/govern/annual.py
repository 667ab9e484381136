"""The annual report of the installation (issue 24, item 7): counts, never a name or an image.

Built from the audit log alone, like the oversight report, so that every count can be checked
against the entries it comes from. For the entries with ``start <= ts < end``:

* ``cases_opened`` - ``case.open`` entries (requests for a case, approved or not);
* ``searches`` - ``search`` entries (one per governed search, single or multi-probe);
* ``refused`` - every refused attempt (``*.refused``), of which ``searches_refused`` are
  refused searches (``search.refused``);
* ``reviews`` and ``possible_matches`` - ``review`` entries, and those deciding
  ``possible_match``;
* ``identifications_confirmed`` - candidates (search, face) that a ``verify`` entry of the
  period made a confirmed identification for the first time;
* ``outcomes`` - the outcomes recorded (``case.outcome``), by kind
  (:data:`facesearch.govern.outcomes.KINDS`).

Counts are given in total and by the case's *offence category*. Cases have no offence category
field: the category is the case's purpose (the policy's purpose key, e.g. ``threat-to-life``),
which is what the policy authorises searching for. Entries without a case count under
``(no case)``; a case the log never opened under ``unknown``. Suspensions of searching and
incidents (recorded, serious) are counted in total.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from facesearch.govern.audit import VerifyResult, entries, format_ts, verify
from facesearch.govern.errors import RefusedError
from facesearch.govern.outcomes import KINDS
from facesearch.govern.users import Role

__all__ = ["READERS", "AnnualReport", "build_annual", "year_span"]

READERS = {Role.ADMINISTRATOR, Role.AUDITOR, Role.SUPERVISOR}
METRICS = (
    "cases_opened",
    "searches",
    "refused",
    "searches_refused",
    "reviews",
    "possible_matches",
    "identifications_confirmed",
    "outcomes",
)
TOTAL_ONLY = ("suspensions", "incidents", "serious_incidents")
NO_CASE = "(no case)"
UNKNOWN = "unknown"


def year_span(year: int) -> tuple[datetime, datetime]:
    """1 January of ``year`` to 1 January of the next, UTC."""
    if not 1970 <= year <= 9998:
        raise ValueError(f"year must be between 1970 and 9998, got {year}")
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


@dataclass
class AnnualReport:
    start: datetime
    end: datetime
    generated_at: datetime
    chain: VerifyResult
    totals: Counter[str] = field(default_factory=Counter)
    by_category: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_by_category: dict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": format_ts(self.start),
            "end": format_ts(self.end),
            "generated_at": format_ts(self.generated_at),
            "category": "purpose",
            "audit_log": {
                "ok": self.chain.ok,
                "entries": self.chain.checked,
                "head_seq": self.chain.head_seq,
                "head_hash": self.chain.head_hash,
            },
            "totals": {m: int(self.totals[m]) for m in (*METRICS, *TOTAL_ONLY)},
            "by_category": {
                k: {m: int(v[m]) for m in METRICS} for k, v in sorted(self.by_category.items())
            },
            "outcomes": {k: int(self.outcomes[k]) for k in KINDS},
            "outcomes_by_category": {
                c: {k: int(v[k]) for k in KINDS}
                for c, v in sorted(self.outcomes_by_category.items())
            },
        }

    def rows(self) -> list[tuple[str, str, str, int]]:
        """The report in long format: (section, key, metric, value)."""
        d = self.as_dict()
        out: list[tuple[str, str, str, int]] = []
        out += [("totals", "all", m, v) for m, v in d["totals"].items()]
        for cat, ms in d["by_category"].items():
            out += [("by_category", cat, m, v) for m, v in ms.items()]
        out += [("outcomes", "all", k, v) for k, v in d["outcomes"].items()]
        for cat, ks in d["outcomes_by_category"].items():
            out += [("outcomes_by_category", cat, k, v) for k, v in ks.items()]
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["section", "key", "metric", "value"])
        w.writerow(["period", "start", format_ts(self.start), ""])
        w.writerow(["period", "end", format_ts(self.end), ""])
        w.writerows(self.rows())
        return buf.getvalue()


def build_annual(session: Session, start: datetime, end: datetime, now: datetime) -> AnnualReport:
    """The counts for ``start <= ts < end`` (see the module docstring)."""
    if end <= start:
        raise RefusedError("report.annual", "the end of the period must be after its start")
    report = AnnualReport(start, end, now, verify(session))
    start_ts, end_ts = format_ts(start), format_ts(end)
    purpose: dict[str, str] = {}
    confirmed: set[tuple[Any, Any]] = set()
    for e in entries(session, until=end):
        d = e.details
        case = e.case_number
        if e.action == "case.open" and case and isinstance(d.get("purpose"), str):
            purpose.setdefault(case, d["purpose"])
        newly_confirmed = False
        if e.action == "verify" and d.get("status") == "confirmed":
            key = (d.get("search_id"), d.get("face_id"))
            newly_confirmed = key not in confirmed
            confirmed.add(key)
        if e.ts < start_ts or e.ts >= end_ts:
            continue
        m: Counter[str] = Counter()
        if e.action == "case.open":
            m["cases_opened"] += 1
        elif e.action == "search":
            m["searches"] += 1
        elif e.action.endswith(".refused"):
            m["refused"] += 1
            if e.action == "search.refused":
                m["searches_refused"] += 1
        elif e.action == "review":
            m["reviews"] += 1
            if d.get("decision") == "possible_match":
                m["possible_matches"] += 1
        elif e.action == "verify" and newly_confirmed:
            m["identifications_confirmed"] += 1
        elif e.action == "case.outcome" and d.get("kind") in KINDS:
            m["outcomes"] += 1
        elif e.action == "search.suspend":
            report.totals["suspensions"] += 1
        elif e.action == "incident.record":
            report.totals["incidents"] += 1
            if d.get("serious") is True:
                report.totals["serious_incidents"] += 1
        if not m:
            continue
        category = NO_CASE if not case else purpose.get(case) or d.get("purpose") or UNKNOWN
        category = str(category)
        report.totals.update(m)
        report.by_category[category].update(m)
        if m["outcomes"]:
            report.outcomes[d["kind"]] += 1
            report.outcomes_by_category[category][d["kind"]] += 1
    return report


def to_text(report: AnnualReport) -> str:
    d = report.as_dict()
    lines = [
        f"Annual report, {d['start']} to {d['end']} (generated {d['generated_at']})",
        f"audit log: {'verified' if d['audit_log']['ok'] else 'DOES NOT VERIFY'}, "
        f"{d['audit_log']['entries']} entries",
        "",
        "totals: " + ", ".join(f"{k} {v}" for k, v in d["totals"].items()),
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in d["outcomes"].items()),
        "",
        "by offence category (the case's purpose):",
    ]
    for cat, ms in d["by_category"].items():
        lines.append(f"  {cat}: " + ", ".join(f"{k} {v}" for k, v in ms.items() if v))
    return "\n".join(lines)


def annual_pdf(report: AnnualReport, author: str) -> bytes:
    from facesearch.govern.reports_pdf import Document, Table, render_document

    d = report.as_dict()
    doc = Document(
        f"Annual report {d['start'][:10]} to {d['end'][:10]}",
        author,
        [
            f"Generated {d['generated_at']} from the audit log ("
            f"{'verified' if d['audit_log']['ok'] else 'which DOES NOT VERIFY'}, "
            f"{d['audit_log']['entries']} entries, head #{d['audit_log']['head_seq']}).",
            "Counts only: no names, no images. The offence category is the case's purpose.",
        ],
    )
    doc.tables.append(
        Table("Totals", ("metric", "count"), [(k, str(v)) for k, v in d["totals"].items()])
    )
    doc.tables.append(
        Table(
            "By offence category (purpose)",
            ("category", *METRICS),
            [(c, *(str(ms[m]) for m in METRICS)) for c, ms in d["by_category"].items()],
        )
    )
    doc.tables.append(
        Table(
            "Outcomes recorded",
            ("outcome", "count"),
            [(k, str(v)) for k, v in d["outcomes"].items()],
        )
    )
    return render_document(doc)
