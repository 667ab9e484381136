"""Case report: the chain of custody of a case's face searches, what the report holds.

Contents: the case (status, purpose, legal basis, justification, who requested, approved or
rejected, and closed it, and when); every probe (SHA-256, size, when stored, when purged);
every search (when, by whom, probe hash, model name and hash, thresholds, k, band shown,
policy hash, how many candidates were hidden and why) with its probe pictured (the searched
face cropped, and the whole photo small with that face boxed) and the candidates someone
reviewed, each with its face crop, score, band, review decisions and source (the others are
counted per search, or all listed when asked: :class:`ReportOptions`); the case's audit
entries with their hashes; the audit chain's verification and head at the time of the report,
the latest signed checkpoint of the log when one exists, and the statement that results are
investigative leads. Then the report's sections (:mod:`facesearch.govern.report_sections`).

Pictures come from a :class:`ReportPictures` the caller supplies (the application layer's
gallery: governance never reads the blob store or runs the detector). Governance decides
which pictures may be printed: a candidate whose face has been removed from the gallery, or
who matches an active suppression entry (the person asked to be removed), is never pictured;
a purged probe is not either (:mod:`.report_build`). Renderers: :mod:`.report_html`,
:mod:`.report_pdf`; the export (access, pictures, audit entry): :mod:`.report_export`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from facesearch.govern.audit import Entry, VerifyResult, as_utc
from facesearch.govern.cases import CaseSummary
from facesearch.govern.checkpoint import Checkpoint
from facesearch.govern.report_identifications import WITHHELD
from facesearch.govern.report_sections import ReportTable
from facesearch.govern.searches import (
    LEADS_STATEMENT,
    CandidateView,
    ReviewDecision,
    SearchOutcome,
)

# --- what is asked for, and where pictures come from -----------------------------------------


@dataclass(frozen=True)
class ReportOptions:
    """What a case report lists and pictures.

    ``all_candidates``: list every candidate shown to the searcher (default: only those
    someone reviewed; the others are counted per search). ``shielded``: the wellbeing option,
    every picture greyscale and the whole probe blurred outside the searched face (a report
    for court is printed as the pictures are, by default)."""

    all_candidates: bool = False
    shielded: bool = False

    def asked(self) -> dict[str, bool]:
        return {"all_candidates": self.all_candidates, "shielded": self.shielded}


@dataclass(frozen=True)
class Picture:
    """A JPEG to print, with its size in pixels (the renderers size it for paper)."""

    jpeg: bytes
    width: int
    height: int


@dataclass(frozen=True)
class ProbePictures:
    """A probe as the report shows it: the searched face cropped (None when no face could be
    found again in the photo) and the whole photo, small, with the searched face boxed."""

    face: Picture | None
    whole: Picture


class ReportPictures(Protocol):
    """Where a case report's pictures come from (the application layer's gallery)."""

    def probe(self, image: bytes, face: int | None, *, shielded: bool) -> ProbePictures | None:
        """The probe photo ``image`` with its face number ``face`` (None: the largest)."""
        ...

    def crop(self, key: str, *, shielded: bool) -> Picture | None:
        """The gallery's stored face crop ``key`` (None: missing or unreadable)."""
        ...


ProbeKey = tuple[str, int | None]  # (probe SHA-256, face searched)


@dataclass(frozen=True)
class PictureRequests:
    """The pictures a report may print, read in the governance transaction that checked
    access: the probes (decrypted) and the crop of each listed candidate allowed a picture."""

    probes: dict[ProbeKey, bytes] = field(default_factory=dict)
    crops: dict[int, str] = field(default_factory=dict)  # face id -> blob key


@dataclass(frozen=True)
class Pictures:
    """The pictures made for a report (a value of None: none could be made)."""

    probes: dict[ProbeKey, ProbePictures | None] = field(default_factory=dict)
    crops: dict[int, Picture | None] = field(default_factory=dict)
    made: bool = False  # False: the report was asked for without pictures


def make_pictures(
    asked: PictureRequests, source: ReportPictures, options: ReportOptions
) -> Pictures:
    """Every picture ``asked`` for, from ``source`` (outside any governance transaction)."""
    return Pictures(
        probes={
            key: source.probe(data, key[1], shielded=options.shielded)
            for key, data in asked.probes.items()
        },
        crops={i: source.crop(k, shielded=options.shielded) for i, k in asked.crops.items()},
        made=True,
    )


# --- the report's data ----------------------------------------------------------------------


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
class ProbeShown:
    """A probe of one search: ``label`` names it in a multi-probe search; ``note`` says why
    there is no picture (empty when there is one, or when pictures were not asked for)."""

    sha256: str
    face: int | None
    label: str
    pictures: ProbePictures | None
    note: str = ""


@dataclass(frozen=True)
class CandidateShown:
    """A listed candidate, its face crop, and why it has none (``note``)."""

    candidate: CandidateView
    picture: Picture | None
    note: str = ""


@dataclass(frozen=True)
class SearchRow:
    outcome: SearchOutcome
    face: int | None
    collection: str | None
    policy_sha256: str
    probes: tuple[ProbeShown, ...] = ()
    listed: tuple[CandidateShown, ...] = ()
    unreviewed: int = 0  # candidates shown to the searcher, not reviewed and not listed


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
    options: ReportOptions = ReportOptions()
    pictured: bool = False  # pictures were made for this report

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

    @property
    def contents_text(self) -> str:
        """What this report lists and pictures, in one sentence for its first page."""
        listed = (
            "every candidate shown to the searcher"
            if self.options.all_candidates
            else "the candidates someone reviewed (the others are counted per search)"
        )
        if not self.pictured:
            pictures = "Pictures: not included."
        elif self.options.shielded:
            pictures = (
                "Pictures: greyscale, the whole probe blurred outside the searched face "
                "(wellbeing option)."
            )
        else:
            pictures = "Pictures: as stored (probe and candidates' face crops)."
        return f"Listed: {listed}. {pictures}"


# --- text shared by the renderers -----------------------------------------------------------


def fmt_time(dt: datetime | None) -> str:
    """A time as people read it, with its zone (UTC); "-" for none."""
    return as_utc(dt).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


def _prov_value(key: str, value: Any) -> str:
    """A provenance value as printed: the ingest time (UTC, recorded by the system) read as
    the report's other times; a capture time as recorded (its zone is often unknown)."""
    if key == "ingested_at" and isinstance(value, str):
        try:
            return fmt_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def prov_text(p: dict[str, Any]) -> str:
    order = ("collection", "path", "source_url", "page_url", "title", "captured_at", "ingested_at")
    parts = [f"{k}: {_prov_value(k, p[k])}" for k in order if p.get(k) not in (None, "")]
    parts += [f"{k}: {v}" for k, v in sorted(p.items()) if k not in order and v not in (None, "")]
    return "; ".join(parts) or "(none recorded)"


STATUS_TEXT = {
    "pending": "pending: awaiting a supervisor's decision",
    "open": "open: searches allowed",
    "rejected": "rejected",
    "closed": "closed",
}


def _noted(text: str, note: str | None) -> str:
    return f"{text} - {note}" if note else text


def approval_text(c: CaseSummary) -> str:
    """Who decided the case and how: a rejection is not called an approval."""
    if c.decided_by:
        verb = "rejected" if c.status == "rejected" else "approved"
        return _noted(f"{verb} by {c.decided_by}, {fmt_time(c.decided_at)}", c.decision_note)
    if c.opened_at:
        return "not required by the policy for this purpose"
    return "awaiting a supervisor's decision"


def closed_text(c: CaseSummary) -> str:
    """When and by whom the case was closed; a case not closed says what it is instead."""
    if c.closed_at or c.closed_by:
        return _noted(f"closed by {c.closed_by or '-'}, {fmt_time(c.closed_at)}", c.close_note)
    return {
        "open": "not closed: the case is open",
        "pending": "not closed: the case awaits a decision",
        "rejected": "not closed: the case was rejected and never opened",
    }.get(c.status, "not closed")


def case_rows(d: CaseReportData) -> list[tuple[str, str]]:
    c = d.case
    return [
        ("Case number", c.number),
        ("Status", STATUS_TEXT.get(c.status, c.status)),
        ("Purpose", f"{c.purpose_name} (policy purpose '{c.purpose_key}')"),
        ("Legal basis", c.legal_authority),
        ("Justification", c.justification),
        ("Requested", f"by {c.requested_by}, {fmt_time(c.requested_at)}"),
        ("Approval", approval_text(c)),
        ("Opened for searching", fmt_time(c.opened_at) if c.opened_at else "not opened"),
        ("Closed", closed_text(c)),
        ("Searches", str(c.searches)),
    ]


def search_rows(s: SearchRow) -> list[tuple[str, str]]:
    o = s.outcome
    face = f"face #{s.face}" if s.face is not None else "the largest face"
    quality = "" if o.probe_quality is None else f", quality {o.probe_quality:.3f}"
    shown = "results purged" if o.results_purged_at else str(len(o.candidates))
    return [
        ("Run", f"{fmt_time(o.at)} by {o.user}"),
        ("Probe SHA-256", o.probe_sha256),
        ("Probe face", f"{face}{quality}"),
        ("Model", o.model),
        ("Model SHA-256", o.model_sha256),
        ("Thresholds", thresholds_text(o.thresholds, o.threshold)),
        (
            "Candidates",
            f"k requested {o.k_requested}, allowed {o.k_used}; shown {shown}; hidden by policy: "
            f"{o.hidden_below_band} below band '{o.min_band_shown}', "
            f"{o.hidden_suppressed} suppressed",
        ),
        ("Collection", s.collection or "all"),
        ("Policy SHA-256", s.policy_sha256),
        ("Audit entry", f"#{o.audit_seq}" if o.audit_seq else "-"),
    ]


def thresholds_text(thresholds: dict[str, float], match: float | None) -> str:
    if thresholds:
        return ", ".join(f"{k} {v:.4f}" for k, v in sorted(thresholds.items()))
    return "-" if match is None else f"match {match:.4f}"


def reviews_text(reviews: Iterable[Any]) -> str:
    found = list(reviews)
    if not found:
        return "not reviewed"
    return " | ".join(
        f"{ReviewDecision.LABELS.get(r.decision, r.decision)} by "
        f"{WITHHELD if getattr(r, 'hidden', False) else r.reviewer}, {fmt_time(r.at)}"
        + (f": {r.note}" if r.note else "")
        for r in found
    )


def unreviewed_text(s: SearchRow) -> str:
    """The sentence on the candidates not listed ("" when none are left out)."""
    if not s.unreviewed:
        return ""
    n = s.unreviewed
    return (
        f"{n} candidate{'s' if n != 1 else ''} shown to the searcher "
        f"{'were' if n != 1 else 'was'} not reviewed and {'are' if n != 1 else 'is'} not "
        "listed (a report with all candidates lists them)."
    )


def source_text(c: CandidateView) -> str:
    return "\n".join(prov_text(p) for p in c.provenance) or "(none recorded)"


def whole_caption(p: ProbeShown) -> str:
    """The caption of a whole probe's picture: which face is boxed, or that none is."""
    if p.pictures is not None and p.pictures.face is None:
        return f"{p.label.capitalize()}, whole: the searched face was not found again (no box)"
    face = f"face #{p.face}" if p.face is not None else "the largest face"
    return f"{p.label.capitalize()}, whole: {face} boxed"


def audit_time(e: Entry) -> str:
    return fmt_time(e.at)
