"""Exporting a case report (:meth:`facesearch.govern.Governance.case_report`).

Three steps, so that no picture is made inside a governance transaction (finding a probe's
face again runs the detector; the transaction of a SQLite catalog holds every other
governance act): (1) one transaction checks that the actor may read the case and reads what
may be pictured (the probes, decrypted, and the crop of each listed candidate whose face is
still in the gallery and whose person is not suppressed); (2) the caller's
:class:`~facesearch.govern.report.ReportPictures` makes the pictures, outside any
transaction; (3) the export's transaction checks access again, builds the report (applying
the picture rules again: a face removed in between is not pictured), renders it and records
the export with the document's SHA-256. A refusal in either transaction is logged.
Without a picture source the report has no pictures and step 2 is skipped.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from facesearch.govern import cases as cases_mod
from facesearch.govern import users
from facesearch.govern.audit import AuditLog
from facesearch.govern.authorisations import check_export
from facesearch.govern.report import (
    PictureRequests,
    Pictures,
    ReportOptions,
    ReportPictures,
    make_pictures,
)
from facesearch.govern.report_build import build_case_report, picture_requests
from facesearch.govern.report_html import render_html
from facesearch.govern.report_pdf import render_pdf
from facesearch.govern.schema import Case, User
from facesearch.govern.suppression import SuppressionMatcher
from facesearch.govern.unit import GovernanceCore

FORMATS = ("html", "pdf")
ACTION = "case.report"


def export_case_report(
    core: GovernanceCore,
    actor: str,
    number: str,
    fmt: str = "html",
    options: ReportOptions | None = None,
    pictures: ReportPictures | None = None,
) -> bytes:
    """The case report as HTML (UTF-8) or PDF bytes; logged as an export with its hash."""
    if fmt not in FORMATS:
        raise ValueError("fmt must be 'html' or 'pdf'")
    options = options or ReportOptions()
    asked = {"case": number, "format": fmt, **options.asked()}

    def reader(s: Session) -> tuple[User, Case]:
        user = users.require_user(s, actor, ACTION)
        case = cases_mod.require_readable_case(s, user, number, ACTION)
        check_export(s, case, ACTION)  # not while an urgent use awaits its authorisation
        return user, case

    def readable(s: Session) -> Case:
        return reader(s)[1]

    def matcher(s: Session) -> SuppressionMatcher:
        return SuppressionMatcher.load(s, core.policy.suppression.threshold, core.cipher)

    made = Pictures()
    if pictures is not None:
        wanted: PictureRequests = core.run(
            actor,
            ACTION,
            asked,
            lambda s, _a: picture_requests(s, readable(s), options, matcher(s), core.cipher),
        )
        made = make_pictures(wanted, pictures, options)

    def fn(s: Session, a: AuditLog) -> bytes:
        user, case = reader(s)
        data = build_case_report(
            s,
            case,
            actor,
            core.clock(),
            core.policy.sha256,
            core.report_sections,
            options=options,
            pictures=made,
            matcher=matcher(s) if made.made else None,
            cipher=core.cipher,
            reader=(user, core.policy),
        )
        out = render_html(data).encode("utf-8") if fmt == "html" else render_pdf(data)
        a.record(
            actor,
            ACTION,
            {
                "case": case.number,
                "format": fmt,
                "sha256": hashlib.sha256(out).hexdigest(),
                "bytes": len(out),
                "searches": len(data.searches),
                **options.asked(),
                "pictures": made.made,
                "audit_head": [data.chain.head_seq, data.chain.head_hash],
            },
        )
        return out

    return core.run(actor, ACTION, asked, fn)
