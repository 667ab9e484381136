"""The reports that leave the system (``facesearch.govern`` annual, public_records,
disclosure, accountability) and the outcomes of cases: each one governed transaction with its
audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from facesearch import __version__
from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.errors import FacesearchError
from facesearch.govern import outcomes as out
from facesearch.govern import public_records as pub
from facesearch.govern.accountability import (
    AccountabilityReport,
    build_accountability,
    read_accuracy_groups,
)
from facesearch.govern.annual import READERS, AnnualReport, annual_pdf, build_annual
from facesearch.govern.audit import AuditLog
from facesearch.govern.disclosure import Bundle, build_bundle
from facesearch.govern.errors import RefusedError
from facesearch.govern.outcomes import OutcomeView
from facesearch.govern.users import require_user


@dataclass(frozen=True)
class Rendered:
    """A report as a file: its bytes, media type and a file name."""

    data: bytes
    media_type: str
    filename: str


class Reports:
    """Annual report, public-records export, disclosure bundle, accountability report, and
    outcomes of cases."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        now: datetime = self.ctx.governance.clock()
        return now

    # --- outcomes --------------------------------------------------------------------------

    def record_outcome(self, who: Principal, number: str, kind: str, note: str) -> OutcomeView:
        now = self._now()
        found: OutcomeView = self.ctx.governance.run(
            who.username,
            "case.outcome",
            {"case": number, "kind": kind},
            lambda s, a: out.record_outcome(s, a, who.username, number, kind, note, now),
        )
        return found

    def outcomes(self, who: Principal, number: str) -> list[OutcomeView]:
        found: list[OutcomeView] = self.ctx.governance.run(
            who.username,
            "case.outcomes",
            {"case": number},
            lambda s, a: out.list_outcomes(s, who.username, number),
        )
        return found

    # --- annual report and public records ------------------------------------------------

    def annual(self, who: Principal, start: datetime, end: datetime, fmt: str) -> AnnualReport:
        """The annual report of ``start <= t < end`` (administrators, auditors, supervisors;
        audited as ``report.annual`` with the format)."""
        now = self._now()

        def fn(s: Session, a: AuditLog) -> AnnualReport:
            require_user(s, who.username, "report.annual", READERS)
            report = build_annual(s, start, end, now)
            a.record(
                who.username,
                "report.annual",
                {"start": start.isoformat(), "end": end.isoformat(), "format": fmt},
            )
            return report

        found: AnnualReport = self.ctx.governance.run(
            who.username, "report.annual", {"start": start.isoformat(), "format": fmt}, fn
        )
        return found

    def annual_file(self, who: Principal, start: datetime, end: datetime, fmt: str) -> Rendered:
        report = self.annual(who, start, end, fmt)
        stem = f"annual-report-{start:%Y%m%d}-{end:%Y%m%d}"
        if fmt == "csv":
            return Rendered(report.to_csv().encode("utf-8"), "text/csv", stem + ".csv")
        if fmt == "pdf":
            return Rendered(annual_pdf(report, who.username), "application/pdf", stem + ".pdf")
        raise RefusedError("report.annual", f"format must be json, csv or pdf, got {fmt!r}")

    def public_fields(self) -> tuple[str, ...]:
        try:
            return pub.check_fields(self.ctx.settings.reports_public_fields)
        except ValueError as exc:
            raise FacesearchError(f"FACESEARCH_REPORTS_PUBLIC_FIELDS: {exc}") from None

    def public_records(self, who: Principal, start: datetime, end: datetime) -> Rendered:
        """The search log of the period with the fields the settings allow, as CSV
        (administrators, auditors, supervisors; audited as ``report.public_records``)."""
        fields = self.public_fields()
        salt = self.ctx.settings.secret_key.get_secret_value()

        def fn(s: Session, a: AuditLog) -> str:
            require_user(s, who.username, "report.public_records", READERS)
            rows = pub.public_rows(s, start, end, fields, salt)
            a.record(
                who.username,
                "report.public_records",
                {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "fields": list(fields),
                    "rows": len(rows),
                },
            )
            return pub.to_csv(rows, fields)

        text: str = self.ctx.governance.run(
            who.username, "report.public_records", {"start": start.isoformat()}, fn
        )
        name = f"search-log-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return Rendered(text.encode("utf-8"), "text/csv", name)

    # --- disclosure bundle -----------------------------------------------------------------

    def disclosure(self, who: Principal, number: str) -> Bundle:
        """The case's signed disclosure bundle (supervisors, auditors; audited). The audit
        checkpoint key signs it: refused when none is configured."""
        gov = self.ctx.governance
        now = self._now()
        blobs = self.ctx.gallery.blobs

        def crop(key: str) -> bytes | None:
            try:
                return blobs.get(key) if blobs.exists(key) else None
            except FacesearchError:
                return None

        def fn(s: Session, a: AuditLog) -> Bundle:
            require_user(s, who.username, "case.disclosure")
            try:
                key = gov.signing_key()
            except FacesearchError as exc:
                raise RefusedError("case.disclosure", f"cannot sign the bundle: {exc}") from None
            return build_bundle(s, a, who.username, number, key, now, cipher=gov.cipher, crop=crop)

        found: Bundle = gov.run(who.username, "case.disclosure", {"case": number}, fn)
        return found

    # --- accountability --------------------------------------------------------------------

    def accountability(self, who: Principal) -> AccountabilityReport:
        """The installation's accountability report (administrators, auditors, supervisors;
        audited as ``report.accountability``)."""
        gov = self.ctx.governance
        now = self._now()

        def fn(s: Session, a: AuditLog) -> AccountabilityReport:
            require_user(s, who.username, "report.accountability", READERS)
            groups = read_accuracy_groups(self.ctx.settings.data_dir)
            report = build_accountability(s, gov.policy, __version__, now, groups)
            a.record(who.username, "report.accountability", {})
            return report

        found: AccountabilityReport = gov.run(who.username, "report.accountability", {}, fn)
        return found
