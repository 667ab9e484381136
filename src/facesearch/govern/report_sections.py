"""Sections that other parts add to the case report (:mod:`facesearch.govern.report`).

Governance writes the chain of custody of a case's searches; a part above it that keeps more
of a case (the media sets of victim identification, :mod:`facesearch.media.report`) adds its
own sections here instead of being imported by governance. A section is a function of the
report's session and case returning plain :class:`ReportTable` rows, which the HTML and PDF
renderers print alike; a section without content returns no table, so a case without it reads
as before.

Each :class:`~facesearch.govern.Governance` holds its own registry (``report_sections``),
which starts with governance's multi-probe searches (:data:`MULTI_PROBE`); the composition root
(``facesearch.app``) adds the others when it builds the governance, never at import time::

    governance.report_sections.add("media", media_tables, before=MULTI_PROBE)
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from facesearch.govern.multisearch import multi_searches_of_case
from facesearch.govern.schema import Case


@dataclass(frozen=True)
class ReportTable:
    """One table of a report section: ``widths`` are percentages of the PDF page's width.

    Headers all empty: a two-column table of names and values."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...]
    note: str = ""
    level: int = 2  # 2: a section heading; 3: a table within the section above


class ReportSection(Protocol):
    """What a section adds to a case's report (read only: no audit entry of its own)."""

    def __call__(self, session: Session, case: Case, /) -> Sequence[ReportTable]: ...


class ReportSections:
    """The sections of a report, in order: last, or ``before`` another one when added; adding
    a name again replaces its section in place (adding is idempotent)."""

    def __init__(self, sections: Mapping[str, ReportSection] | None = None) -> None:
        self._sections: dict[str, ReportSection] = dict(sections or {})

    def add(self, name: str, section: ReportSection, *, before: str | None = None) -> None:
        if name in self._sections or before not in self._sections:
            self._sections[name] = section
            return
        order = list(self._sections.items())
        at = [n for n, _ in order].index(before)
        self._sections = dict([*order[:at], (name, section), *order[at:]])

    def remove(self, name: str) -> None:
        self._sections.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def tables(self, session: Session, case: Case) -> list[ReportTable]:
        """Every section's tables for ``case``, section by section."""
        return [t for section in self._sections.values() for t in section(session, case)]


MULTI_PROBE = "multi-probe"


def multi_probe_tables(s: Session, case: Case) -> list[ReportTable]:
    """The case's multi-probe searches (none: no table)."""
    out: list[ReportTable] = []
    multis = multi_searches_of_case(s, case)
    if multis:
        out.append(
            ReportTable(
                f"Multi-probe searches ({len(multis)})",
                ("Search", "Probe", "SHA-256", "Quality", "From"),
                tuple(
                    (
                        str(m.outcome.search_id),
                        str(p.position),
                        p.sha256,
                        "-" if p.quality is None else f"{p.quality:.3f}",
                        (
                            f"media face {p.media_face_id} (cluster {m.cluster})"
                            if p.media_face_id is not None
                            else p.label or "photo"
                        ),
                    )
                    for m in multis
                    for p in m.probes
                ),
                (9, 7, 46, 10, 28),
                "Each search used several probes as one query: candidates are ranked by the "
                "score against the mean of the probes' normalised embeddings; the best single "
                "probe's score and the probes that matched (own score at or above the match "
                "band) are listed per candidate. The searches are also listed above.",
            )
        )
        for m in multis:
            out.append(
                ReportTable(
                    f"Search {m.outcome.search_id}: candidates and the probes that matched",
                    ("Rank", "Face", "Mean score", "Band", "Best score (probe)", "Matched probes"),
                    tuple(
                        (
                            str(c.rank),
                            str(c.face_id),
                            f"{c.score:.4f}",
                            c.band,
                            (
                                f"{sc.best_score:.4f} ({sc.best_probe})"
                                if (sc := m.scores.get(c.face_id))
                                else "-"
                            ),
                            ", ".join(str(i) for i in sc.matched) if sc else "-",
                        )
                        for c in m.outcome.candidates
                    )
                    or (("-", "-", "-", "-", "-", "no candidates stored"),),
                    (8, 10, 16, 14, 24, 28),
                    level=3,
                )
            )
    return out


def case_report_sections() -> ReportSections:
    """A case report's sections as governance knows them: its multi-probe searches (the
    composition root adds the others to its governance's own registry)."""
    return ReportSections({MULTI_PROBE: multi_probe_tables})


def render_html_tables(tables: Sequence[ReportTable]) -> list[str]:
    """The tables as HTML: a heading, the note, then the table (hashes in monospace)."""
    e = html.escape
    out: list[str] = []
    for t in tables:
        out.append(f"<h{t.level}>{e(t.title)}</h{t.level}>")
        if t.note:
            out.append(f"<p>{e(t.note)}</p>")
        head = "".join(f"<th>{e(h)}</th>" for h in t.headers) if any(t.headers) else ""
        out.append("<table>" + (f"<tr>{head}</tr>" if head else ""))
        for row in t.rows:
            cells = "".join(f"<td{' class=hash' if len(v) == 64 else ''}>{e(v)}</td>" for v in row)
            out.append(f"<tr>{cells}</tr>")
        out.append("</table>")
    return out
