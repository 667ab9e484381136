"""The case report's "Possible matches and identifications" section: each candidate reviewed
as a possible match, with its review, every independent verification (who, when, verdict,
basis, note) and its status (:mod:`facesearch.govern.verifications`). Only a confirmed
identification is called an identification; the rest are leads.

The report is built for the person who asks for it: where they may still verify a possible
match, the other examiners' names, notes and verdicts are withheld from it as from the search
results (and so is who wrote the audit entries of those examinations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from facesearch.govern.audit import Entry, as_utc
from facesearch.govern.report_sections import ReportTable
from facesearch.govern.searches import ReviewDecision
from facesearch.govern.verifications import (
    CONFIRMED,
    HIDDEN_TEXT,
    STATUS_LABELS,
    Identification,
)

IDENTIFICATIONS = "identifications"
WITHHELD = "(withheld until your own verification)"


def _when(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%d %H:%M:%S UTC")


def identification_tables(found: Sequence[Identification], required: int) -> list[ReportTable]:
    """One table, a row per examination (the first row of each candidate carries its status);
    none when the case has no possible match."""
    if not found:
        return []
    rows: list[tuple[str, ...]] = []
    for i in found:
        first = True
        exams: list[tuple[str, str, str, str, str]] = []
        for r in i.reviews:
            label = ReviewDecision.LABELS.get(r.decision, r.decision)
            who = WITHHELD if r.hidden else r.reviewer
            exams.append(("review", who, _when(r.at), label, HIDDEN_TEXT if r.hidden else r.note))
        for v in i.verifications:
            detail = "; ".join(x for x in (f"basis: {v.basis}" if v.basis else "", v.note) if x)
            exams.append(("verification", v.verifier, _when(v.at), v.verdict, detail))
        if i.verifications_hidden:
            exams.append(
                ("verification", WITHHELD, "-", f"{i.verifications_hidden} recorded", HIDDEN_TEXT)
            )
        for kind, who, when, verdict, detail in exams:
            rows.append(
                (
                    f"{i.search_id} / {i.face_id}" if first else "",
                    STATUS_LABELS.get(i.status, i.status) if first else "",
                    kind,
                    who,
                    when,
                    verdict,
                    detail,
                )
            )
            first = False
    confirmed = sum(1 for i in found if i.status == CONFIRMED)
    return [
        ReportTable(
            f"Possible matches and identifications ({len(found)}; {confirmed} confirmed "
            "identifications)",
            ("Search / face", "Status", "Examination", "By", "When", "Verdict", "Basis and note"),
            tuple(rows),
            (10, 15, 12, 11, 15, 11, 26),
            f"A candidate reviewed as a possible match is a confirmed identification only once "
            f"{required} people have examined it: the reviewer and independent verifiers who "
            "neither ran the search nor made that review (policy [review] "
            "verifications_required). Until then it is an investigative lead; a rejection by "
            "a verifier makes it disputed.",
        )
    ]


def withhold_actors(entries: Sequence[Entry], found: Sequence[Identification]) -> list[Entry]:
    """The audit entries with the author of every review or verification of a candidate the
    reader has yet to verify withheld."""
    awaiting = {(i.search_id, i.face_id) for i in found if i.awaiting_verification}
    if not awaiting:
        return list(entries)
    out: list[Entry] = []
    for en in entries:
        key = (en.details.get("search_id"), en.details.get("face_id"))
        if en.action in ("review", "verify") and key in awaiting:
            en = replace(en, actor=WITHHELD)
        out.append(en)
    return out
