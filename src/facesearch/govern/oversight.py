"""Oversight report: figures from the audit log, and anomalies an oversight body should see.

It is built from the audit log alone (not the working tables), so that it reflects what was
recorded, and it starts by verifying the log's hash chain.

Figures for entries with ``start <= ts < end``: per user, case, purpose and period (day,
week or month, UTC): searches, refused attempts, views, exports, reviews, candidates shown,
candidates marked a possible match.

Anomaly rules (each anomaly names the audit entries behind it):

* ``audit_chain`` - the hash chain does not verify.
* the rules of :mod:`facesearch.govern.anomalies` (``unreviewed``, ``reveal_rate``,
  ``out_of_hours``, ``many_cases``, ``repeated_refusals``, ``login_burst``): a single refused
  attempt (a mistyped password, a page opened before signing in) is not an anomaly.
* ``many_searches`` - a case with more than ``oversight.max_searches_per_case`` searches in
  the period, or more than ``oversight.max_searches_per_case_per_day`` on one UTC day.
* ``outside_case_dates`` - a search before its case was opened (approved, or opened without
  approval where the policy allowed it) or after it was closed, as the log records those.
* ``no_case`` - a search recorded without a case, or for a case the log never opened.
* ``unassigned`` - a search by a user the log does not show assigned to the case then.

Figures by case count only cases that exist (opened in the log, or in the case table): a
refused request naming a case that does not exist (a mistyped address) is counted under
:data:`UNKNOWN_CASE`, not as a case of its own.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern import anomalies as rules_mod
from facesearch.govern.anomalies import Anomaly, AnomalyRules
from facesearch.govern.audit import (
    Entry,
    VerifyResult,
    as_utc,
    entries,
    format_ts,
    utc_now,
    verify,
)
from facesearch.govern.oversight_incidents import suspension_lines, suspensions_and_incidents
from facesearch.govern.policy import Policy
from facesearch.govern.schema import Case

__all__ = ["Anomaly", "AnomalyRules", "OversightReport", "build_report"]

METRICS = (
    "searches",
    "refused",
    "views",
    "exports",
    "reviews",
    "candidates_shown",
    "possible_matches",
)
VIEW_ACTIONS = {"search.view", "case.view", "case.list"}
EXPORT_ACTIONS = {"case.report", "export"}
UNKNOWN_CASE = "refused (unknown case)"
# why each rule of this module flags what it flags (shown with the anomaly)
WHY = {
    "audit_chain": "the log may have been altered: entries changed, removed or inserted",
    "many_searches": "more searches than the policy's [oversight] limits allow without a look",
    "outside_case_dates": "searches are allowed only while their case is open (approved)",
    "no_case": "every search must be made inside a case the log shows opened",
    "unassigned": "only the investigators assigned to a case search in it",
}
# what the anomaly rules of facesearch.govern.anomalies read
_RULE_INPUT = {"search", "review", "verification", "face.reveal"}


@dataclass
class OversightReport:
    start: datetime | None
    end: datetime | None
    period: str
    chain: VerifyResult
    entries: int = 0
    totals: Counter[str] = field(default_factory=Counter)
    by_user: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_case: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_purpose: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_period: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    anomalies: list[Anomaly] = field(default_factory=list)
    # suspensions of searching and incidents of the period (facesearch.govern.incidents)
    suspensions: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def table(d: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            return {k: {m: int(v[m]) for m in METRICS} for k, v in sorted(d.items())}

        return {
            "start": format_ts(self.start) if self.start else None,
            "end": format_ts(self.end) if self.end else None,
            "period": self.period,
            "chain": {
                "ok": self.chain.ok,
                "entries": self.chain.checked,
                "head_seq": self.chain.head_seq,
                "head_hash": self.chain.head_hash,
                "first_bad_seq": self.chain.first_bad_seq,
                "problem": self.chain.problem,
            },
            "entries": self.entries,
            "totals": {m: int(self.totals[m]) for m in METRICS},
            "by_user": table(self.by_user),
            "by_case": table(self.by_case),
            "by_purpose": table(self.by_purpose),
            "by_period": table(self.by_period),
            "anomalies": [
                {
                    "rule": a.rule,
                    "kind": a.rule,
                    "message": a.message,
                    "why": a.why,
                    "seqs": list(a.seqs),
                    "actor": a.actor,
                    "case": a.case,
                    "search_ids": list(a.searches),
                }
                for a in self.anomalies
            ],
            "suspensions": self.suspensions,
            "incidents": self.incidents,
        }

    def to_text(self) -> str:
        span = (
            f"{format_ts(self.start) if self.start else 'beginning'} to "
            f"{format_ts(self.end) if self.end else 'now'}"
        )
        lines = [f"Oversight report, {span}", self.chain.summary(), ""]
        lines.append("totals: " + ", ".join(f"{m} {self.totals[m]}" for m in METRICS))
        for title, d in (
            ("by user", self.by_user),
            ("by case", self.by_case),
            ("by purpose", self.by_purpose),
            (f"by {self.period}", self.by_period),
        ):
            lines.append("")
            lines.append(title + ":")
            header = f"  {'':<32}" + "".join(f"{m:>17}" for m in METRICS)
            lines.append(header)
            for k in sorted(d):
                lines.append(f"  {k:<32}" + "".join(f"{d[k][m]:>17}" for m in METRICS))
        lines.append("")
        lines.append(f"anomalies ({len(self.anomalies)}):")
        for a in self.anomalies:
            refs = ", ".join(f"#{s}" for s in a.seqs[:10]) + (" ..." if len(a.seqs) > 10 else "")
            lines.append(f"  [{a.rule}] {a.message} (entries {refs})")
            if a.why:
                lines.append(f"      why: {a.why}")
        if not self.anomalies:
            lines.append("  none")
        lines += suspension_lines(self.suspensions, self.incidents)
        return "\n".join(lines)


def period_key(ts: str, period: str) -> str:
    if period == "day":
        return ts[:10]
    if period == "month":
        return ts[:7]
    if period == "week":
        y, w, _ = datetime.strptime(ts[:10], "%Y-%m-%d").isocalendar()
        return f"{y}-W{w:02d}"
    raise ValueError(f"period must be day, week or month, got {period!r}")


@dataclass
class _CaseState:
    purpose: str | None = None
    opened: str | None = None
    closed: str | None = None
    assigned: dict[str, bool] = field(default_factory=dict)


def build_report(
    session: Session,
    policy: Policy,
    start: datetime | None = None,
    end: datetime | None = None,
    period: str = "month",
    *,
    rules: AnomalyRules | None = None,
    now: datetime | None = None,
) -> OversightReport:
    """The report for ``start <= ts < end``; ``now`` (default: the time) decides which
    searches have waited too long for a review."""
    period_key("2000-01-01", period)  # validate early
    chain = verify(session)
    report = OversightReport(start=start, end=end, period=period, chain=chain)
    if not chain.ok:
        report.anomalies.append(
            Anomaly(
                "audit_chain",
                f"audit log does not verify at #{chain.first_bad_seq}: {chain.problem}",
                (chain.first_bad_seq or 0,),
            )
        )
    known = set(session.execute(select(Case.number)).scalars())
    found = _accumulate(report, policy, entries(session, until=end), start, known)
    at = as_utc(now) if now is not None else utc_now()
    if end is not None:
        at = min(at, as_utc(end))
    report.anomalies += rules_mod.detect(found, rules or AnomalyRules(), at)
    report.anomalies = [
        a if a.why else dataclasses.replace(a, why=WHY.get(a.rule, "")) for a in report.anomalies
    ]
    report.anomalies.sort(key=lambda a: a.seqs[0] if a.seqs else 0)
    report.suspensions, report.incidents = suspensions_and_incidents(session, start, end)
    return report


def _accumulate(
    report: OversightReport,
    policy: Policy,
    stream: Iterable[Entry],
    start: datetime | None,
    known: set[str],
) -> list[Entry]:
    """Add the figures and the case anomalies; answers the period's entries the other anomaly
    rules read (searches, reviews, reveals, refusals)."""
    start_ts = format_ts(start) if start else ""
    rule_input: list[Entry] = []
    cases: dict[str, _CaseState] = defaultdict(_CaseState)
    per_case_searches: dict[str, list[int]] = defaultdict(list)
    per_case_day: dict[tuple[str, str], list[int]] = defaultdict(list)

    for e in stream:
        d = e.details
        case = e.case_number
        state = cases[case] if case else None
        # life-cycle events are tracked from the beginning of the log
        if state is not None:
            if e.action == "case.open":
                state.purpose = d.get("purpose")
                if d.get("status") == "open":
                    state.opened = e.ts
            elif e.action == "case.resubmit" and isinstance(d.get("purpose"), str):
                state.purpose = d["purpose"]  # the request amended: its purpose from now on
            elif e.action == "case.approve":
                state.opened = e.ts
            elif e.action == "case.close":
                state.closed = e.ts
            elif e.action == "case.assign" and isinstance(d.get("user"), str):
                state.assigned[d["user"]] = True
            elif e.action == "case.unassign" and isinstance(d.get("user"), str):
                state.assigned[d["user"]] = False
        if e.ts < start_ts:
            continue
        report.entries += 1
        if e.action in _RULE_INPUT or ".refused" in e.action:  # also refusal summaries
            rule_input.append(e)
        metrics: Counter[str] = Counter()
        if e.action == "search":
            metrics["searches"] += 1
            shown = d.get("candidates") or []
            metrics["candidates_shown"] += len(shown) if isinstance(shown, list) else 0
            _check_search(report, e, state)
            if case:
                per_case_searches[case].append(e.seq)
                per_case_day[(case, e.ts[:10])].append(e.seq)
        elif e.action.endswith(".refused"):
            metrics["refused"] += 1
        elif e.action in VIEW_ACTIONS:
            metrics["views"] += 1
        elif e.action in EXPORT_ACTIONS:
            metrics["exports"] += 1
        elif e.action == "review":
            metrics["reviews"] += 1
            if d.get("decision") == "possible_match":
                metrics["possible_matches"] += 1
        if not metrics:
            continue
        report.totals.update(metrics)
        report.by_user[e.actor].update(metrics)
        report.by_period[period_key(e.ts, report.period)].update(metrics)
        if case and state is not None and (case in known or state.purpose or state.opened):
            report.by_case[case].update(metrics)
            purpose = (state.purpose if state else None) or d.get("purpose") or "unknown"
            report.by_purpose[str(purpose)].update(metrics)
        elif case:
            report.by_case[UNKNOWN_CASE].update(metrics)
            report.by_purpose["unknown"].update(metrics)
        else:
            report.by_purpose["(no case)"].update(metrics)

    limit = policy.oversight.max_searches_per_case
    for case, seqs in per_case_searches.items():
        if len(seqs) > limit:
            report.anomalies.append(
                Anomaly(
                    "many_searches",
                    f"case {case} had {len(seqs)} searches in the period (limit {limit})",
                    tuple(seqs),
                    case=case,
                )
            )
    day_limit = policy.oversight.max_searches_per_case_per_day
    for (case, day), seqs in sorted(per_case_day.items()):
        if len(seqs) > day_limit:
            report.anomalies.append(
                Anomaly(
                    "many_searches",
                    f"case {case} had {len(seqs)} searches on {day} (limit {day_limit} a day)",
                    tuple(seqs),
                    case=case,
                )
            )
    return rule_input


def _check_search(report: OversightReport, e: Entry, state: _CaseState | None) -> None:
    sid = e.details.get("search_id")
    searches = (sid,) if isinstance(sid, int) and not isinstance(sid, bool) else ()
    before = len(report.anomalies)
    _check_search_rules(report, e, state)
    for i in range(before, len(report.anomalies)):
        report.anomalies[i] = dataclasses.replace(report.anomalies[i], searches=searches)


def _check_search_rules(report: OversightReport, e: Entry, state: _CaseState | None) -> None:
    case = e.case_number
    if state is None or case is None:
        report.anomalies.append(
            Anomaly("no_case", f"search by {e.actor} recorded without a case", (e.seq,), e.actor)
        )
        return
    if state.purpose is None and state.opened is None:
        report.anomalies.append(
            Anomaly(
                "no_case",
                f"search by {e.actor} in case {case}, which the log never shows opened",
                (e.seq,),
                e.actor,
                case,
            )
        )
        return
    if state.opened is None or e.ts < state.opened:
        report.anomalies.append(
            Anomaly(
                "outside_case_dates",
                f"search by {e.actor} in case {case} at {e.ts}, before the case was opened"
                + (f" ({state.opened})" if state.opened else " (never approved)"),
                (e.seq,),
                e.actor,
                case,
            )
        )
    elif state.closed is not None and e.ts > state.closed:
        report.anomalies.append(
            Anomaly(
                "outside_case_dates",
                f"search by {e.actor} in case {case} at {e.ts}, after it was closed "
                f"({state.closed})",
                (e.seq,),
                e.actor,
                case,
            )
        )
    if not state.assigned.get(e.actor, False):
        report.anomalies.append(
            Anomaly(
                "unassigned",
                f"search by {e.actor} in case {case}, to which the log does not show them assigned",
                (e.seq,),
                e.actor,
                case,
            )
        )
