"""Sections that other parts add to the case report (:mod:`facesearch.govern.report`).

Governance writes the chain of custody of a case's searches; a part above it that keeps more
of a case (the media sets of victim identification, :mod:`facesearch.media.report`) adds its
own sections here instead of being imported by governance. A section is a function of the
report's session and case returning plain :class:`ReportTable` rows, which the HTML and PDF
renderers print alike; a section without content returns no table, so a case without it reads
as before.

Sections are added by the composition root (``facesearch.app``), once per process, never at
import time::

    CASE_REPORT_SECTIONS.add("media", media_tables)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

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
    """The sections added to the case report, in the order they were added; adding a name
    again replaces its section in place (adding is idempotent)."""

    def __init__(self) -> None:
        self._sections: dict[str, ReportSection] = {}

    def add(self, name: str, section: ReportSection) -> None:
        self._sections[name] = section

    def remove(self, name: str) -> None:
        self._sections.pop(name, None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def tables(self, session: Session, case: Case) -> list[ReportTable]:
        """Every section's tables for ``case``, section by section."""
        return [t for section in self._sections.values() for t in section(session, case)]


# The case report's sections in this process (filled by the composition root).
CASE_REPORT_SECTIONS = ReportSections()


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
