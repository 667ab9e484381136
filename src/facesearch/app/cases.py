"""Cases: the only context a search may run in; opened, decided, assigned, closed, reported."""

from __future__ import annotations

from collections.abc import Callable

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.report_pictures import GalleryPictures
from facesearch.app.results import Media
from facesearch.govern.cases import CaseSummary
from facesearch.govern.report import ReportOptions
from facesearch.govern.searches import SearchOutcome
from facesearch.govern.supervision import Investigator
from facesearch.govern.users import Role
from facesearch.govern.verifications import Identification

DECISIONS = ("approve", "reject", "assign", "unassign", "close")


class Cases:
    """The case resource."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def summaries(self, who: Principal, status: str | None = None) -> list[CaseSummary]:
        found: list[CaseSummary] = self.ctx.governance.list_cases(who.username, status)
        return found

    def open(
        self, who: Principal, number: str, purpose: str, legal_authority: str, justification: str
    ) -> CaseSummary:
        self.ctx.require(who, "case.open", Role.INVESTIGATOR)
        case: CaseSummary = self.ctx.governance.open_case(
            who.username, number, purpose, legal_authority, justification
        )
        return case

    def resubmit(
        self,
        who: Principal,
        number: str,
        purpose: str,
        legal_authority: str,
        justification: str,
        note: str = "",
    ) -> CaseSummary:
        """The requester amends their rejected case and submits it for approval again."""
        case: CaseSummary = self.ctx.governance.resubmit_case(
            who.username, number, purpose, legal_authority, justification, note
        )
        return case

    def assignable(self, who: Principal, number: str) -> list[Investigator]:
        """The active investigators a supervisor may assign to the case."""
        found: list[Investigator] = self.ctx.governance.assignable(who.username, number)
        return found

    def pending_count(self, who: Principal) -> int:
        """How many cases wait for a supervisor's decision (supervisors)."""
        count: int = self.ctx.governance.pending_count(who.username)
        return count

    def identifications(self, who: Principal, status: str | None = None) -> list[Identification]:
        """The possible matches of every open case, as a supervisor may see them
        (``status="disputed"``: the disputes to resolve)."""
        found: list[Identification] = self.ctx.governance.identifications_across(
            who.username, status
        )
        return found

    def show(self, who: Principal, number: str) -> tuple[CaseSummary, list[SearchOutcome]]:
        found: tuple[CaseSummary, list[SearchOutcome]] = self.ctx.governance.show_case(
            who.username, number
        )
        return found

    def decide(self, who: Principal, number: str, action: str, arg: str) -> CaseSummary:
        """approve / reject / assign / unassign / close a case (``arg``: note or user name)."""
        gov = self.ctx.governance
        calls: dict[str, Callable[[str, str, str], CaseSummary]] = {
            "approve": gov.approve_case,
            "reject": gov.reject_case,
            "assign": gov.assign,
            "unassign": gov.unassign,
            "close": gov.close_case,
        }
        return calls[action](who.username, number, arg)

    def report(
        self,
        who: Principal,
        number: str,
        fmt: str,
        *,
        all_candidates: bool = False,
        shielded: bool = False,
    ) -> Media:
        """The case report, HTML or PDF, with the probes' and the reported candidates' pictures
        from the gallery (logged as an export with its hash). ``all_candidates``: list every
        candidate, not only those reviewed; ``shielded``: the wellbeing option (greyscale
        pictures, the probe blurred outside the searched face)."""
        data: bytes = self.ctx.governance.case_report(
            who.username,
            number,
            fmt,
            ReportOptions(all_candidates=all_candidates, shielded=shielded),
            GalleryPictures(self.ctx),
        )
        return Media(data, "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8")
