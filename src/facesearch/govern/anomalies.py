"""Anomalies in the use of the system that an oversight body should look at, from the audit
entries of a reporting period (:func:`detect`; :mod:`facesearch.govern.oversight` adds the
rules about cases and the chain).

Each rule is about what people did, not about noise: a mistyped password, a page opened
before signing in or one refused request is not an anomaly.

* ``unreviewed`` - searches that showed candidates and that nobody reviewed within
  ``unreviewed_days`` days (one anomaly per user and case).
* ``reveal_rate`` - a user who un-blurred (``face.reveal``) a far larger share of the
  candidates they were shown than the others: at least ``reveal_min`` reveals, a rate of at
  least ``reveal_min_rate``, and ``reveal_factor`` times the median rate of the other users.
* ``out_of_hours`` - searches outside working hours (``work_start``..``work_end`` o'clock
  on ``work_days``, in UTC; one anomaly per user).
* ``many_cases`` - one user searching in ``many_cases`` or more different cases within
  ``many_cases_hours`` hours.
* ``repeated_refusals`` - one signed-in user refused ``refusals`` or more times (searches,
  views, reveals: not sign-in) within ``refusals_minutes`` minutes.
* ``login_burst`` - ``login_burst`` or more failed sign-ins for one name within
  ``login_burst_minutes`` minutes (guessing, not a typo).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from facesearch.govern.audit import Entry, format_ts

# refusals of these acts are about signing in (or not being signed in): not counted as
# refused searches or views
AUTH_ACTIONS = ("authenticate", "login", "logout", "http", "session", "csrf", "password")
NOBODY = {"(none)", "(anonymous)"}


@dataclass(frozen=True)
class Anomaly:
    """``rule`` (its kind), ``message`` (who did what), ``why`` it is flagged, the audit entries
    behind it (``seqs``) and what to open: the ``actor``, the ``case``, the ``searches``."""

    rule: str
    message: str
    seqs: tuple[int, ...]
    actor: str | None = None
    case: str | None = None
    why: str = ""
    searches: tuple[int, ...] = ()


@dataclass(frozen=True)
class AnomalyRules:
    unreviewed_days: int = 7
    reveal_min: int = 3
    reveal_min_rate: float = 0.3
    reveal_factor: float = 3.0
    work_start: int = 7  # hour, UTC
    work_end: int = 19  # hour, UTC (exclusive)
    work_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday..Friday
    many_cases: int = 4
    many_cases_hours: int = 24
    refusals: int = 3
    refusals_minutes: int = 60
    login_burst: int = 5
    login_burst_minutes: int = 10


def _search_id(e: Entry) -> int | None:
    sid = e.details.get("search_id")
    return sid if isinstance(sid, int) and not isinstance(sid, bool) else None


def _shown(e: Entry) -> int:
    c = e.details.get("candidates")
    return len(c) if isinstance(c, list) else 0


def _window(
    items: Sequence[tuple[datetime, Entry]], span: timedelta
) -> Iterable[list[tuple[datetime, Entry]]]:
    """Each run of ``items`` (sorted by time) that fits in ``span``, from each start."""
    j = 0
    for i in range(len(items)):
        j = max(j, i)
        while j + 1 < len(items) and items[j + 1][0] - items[i][0] <= span:
            j += 1
        yield list(items[i : j + 1])


def detect(stream: Iterable[Entry], rules: AnomalyRules, now: datetime) -> list[Anomaly]:
    """The anomalies among the entries of a period (in sequence order); ``now`` decides which
    searches have waited long enough for a review."""
    searches: list[Entry] = []
    reviewed: set[int] = set()
    reveals: dict[str, list[Entry]] = defaultdict(list)
    refused: dict[str, list[Entry]] = defaultdict(list)
    logins: dict[str, list[Entry]] = defaultdict(list)
    for e in stream:
        if e.action == "search":
            searches.append(e)
        elif e.action in ("review", "verification") and _search_id(e) is not None:
            reviewed.add(_search_id(e) or 0)
        elif e.action == "face.reveal":
            reveals[e.actor].append(e)
        elif e.action.startswith("authenticate.refused"):
            logins[e.actor].append(e)
        elif (
            e.action.endswith(".refused")
            and e.actor not in NOBODY
            and not e.action.startswith(AUTH_ACTIONS)
        ):
            refused[e.actor].append(e)
    out: list[Anomaly] = []
    out += _unreviewed(searches, reviewed, rules, now)
    out += _reveal_rate(searches, reveals, rules)
    out += _out_of_hours(searches, rules)
    out += _many_cases(searches, rules)
    out += _refusals(refused, rules)
    out += _login_bursts(logins, rules)
    return out


def _unreviewed(
    searches: list[Entry], reviewed: set[int], rules: AnomalyRules, now: datetime
) -> list[Anomaly]:
    cutoff = format_ts(now - timedelta(days=rules.unreviewed_days))
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for e in searches:
        sid = _search_id(e)
        if _shown(e) and e.ts < cutoff and sid not in reviewed:
            groups[(e.actor, e.case_number or "")].append(e)
    out = []
    for (actor, case), found in sorted(groups.items()):
        n = len(found)
        out.append(
            Anomaly(
                "unreviewed",
                f"{n} search{'es' if n > 1 else ''} by {actor}"
                + (f" in case {case}" if case else "")
                + " never reviewed",
                tuple(e.seq for e in found),
                actor,
                case or None,
                f"candidates were shown more than {rules.unreviewed_days} days ago and no "
                "review was recorded: results looked at and neither confirmed nor rejected",
                tuple(sid for e in found if (sid := _search_id(e)) is not None),
            )
        )
    return out


def _reveal_rate(
    searches: list[Entry], reveals: dict[str, list[Entry]], rules: AnomalyRules
) -> list[Anomaly]:
    shown: dict[str, int] = defaultdict(int)
    for e in searches:
        shown[e.actor] += _shown(e)
    rates = {u: len(reveals.get(u, [])) / n for u, n in shown.items() if n}
    out = []
    for user, revealed in sorted(reveals.items()):
        n = len(revealed)
        rate = n / shown[user] if shown.get(user) else 1.0
        others = [r for u, r in rates.items() if u != user]
        median = statistics.median(others) if others else 0.0
        if n < rules.reveal_min or rate < rules.reveal_min_rate:
            continue
        if others and rate < rules.reveal_factor * median:
            continue
        compared = (
            f"the other users' median is {median:.0%}" if others else "no other user to compare"
        )
        out.append(
            Anomaly(
                "reveal_rate",
                f"{user} revealed {n} of {shown.get(user, 0)} candidates shown ({rate:.0%})",
                tuple(e.seq for e in revealed),
                user,
                None,
                f"un-blurring is the exception: {compared} (flagged at "
                f"{rules.reveal_min_rate:.0%} and {rules.reveal_factor:g} times the median)",
                tuple(sorted({sid for e in revealed if (sid := _search_id(e)) is not None})),
            )
        )
    return out


def _out_of_hours(searches: list[Entry], rules: AnomalyRules) -> list[Anomaly]:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in searches:
        at = e.at
        if at.weekday() not in rules.work_days or not (
            rules.work_start <= at.hour < rules.work_end
        ):
            groups[e.actor].append(e)
    days = "Mon-Fri" if rules.work_days == (0, 1, 2, 3, 4) else f"days {rules.work_days}"
    return [
        Anomaly(
            "out_of_hours",
            f"{len(found)} search{'es' if len(found) > 1 else ''} by {actor} outside working "
            f"hours (first {found[0].ts[:16].replace('T', ' ')} UTC)",
            tuple(e.seq for e in found),
            actor,
            found[0].case_number if len({e.case_number for e in found}) == 1 else None,
            f"working hours are {rules.work_start:02d}:00-{rules.work_end:02d}:00 UTC, {days}",
            tuple(sid for e in found if (sid := _search_id(e)) is not None),
        )
        for actor, found in sorted(groups.items())
    ]


def _many_cases(searches: list[Entry], rules: AnomalyRules) -> list[Anomaly]:
    per_user: dict[str, list[tuple[datetime, Entry]]] = defaultdict(list)
    for e in searches:
        if e.case_number:
            per_user[e.actor].append((e.at, e))
    out = []
    span = timedelta(hours=rules.many_cases_hours)
    for actor, items in sorted(per_user.items()):
        best: list[tuple[datetime, Entry]] = []
        for run in _window(items, span):
            if len({e.case_number for _, e in run}) > len({e.case_number for _, e in best}):
                best = run
        cases = sorted({e.case_number or "" for _, e in best})
        if len(cases) >= rules.many_cases:
            out.append(
                Anomaly(
                    "many_cases",
                    f"{actor} searched in {len(cases)} cases within {rules.many_cases_hours} "
                    f"hours: {', '.join(cases)}",
                    tuple(e.seq for _, e in best),
                    actor,
                    None,
                    "one investigator searching across many cases in a short time may be "
                    "searching for reasons of their own",
                    tuple(sid for _, e in best if (sid := _search_id(e)) is not None),
                )
            )
    return out


def _burst(
    items: list[Entry], span: timedelta, weight: bool = False
) -> list[tuple[datetime, Entry]]:
    """The run within ``span`` with the most entries (summaries count their ``count``)."""
    timed = [(e.at, e) for e in items]

    def size(run: list[tuple[datetime, Entry]]) -> int:
        if not weight:
            return len(run)
        return sum(_count(e) for _, e in run)

    best: list[tuple[datetime, Entry]] = []
    for run in _window(timed, span):
        if size(run) > size(best):
            best = run
    return best


def _count(e: Entry) -> int:
    n = e.details.get("count")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def _refusals(refused: dict[str, list[Entry]], rules: AnomalyRules) -> list[Anomaly]:
    out = []
    for actor, items in sorted(refused.items()):
        best = _burst(items, timedelta(minutes=rules.refusals_minutes))
        if len(best) < rules.refusals:
            continue
        acts = sorted({e.action.removesuffix(".refused") for _, e in best})
        cases = sorted({e.case_number for _, e in best if e.case_number})
        out.append(
            Anomaly(
                "repeated_refusals",
                f"{actor} was refused {len(best)} times within {rules.refusals_minutes} "
                f"minutes ({', '.join(acts)})" + (f" in cases {', '.join(cases)}" if cases else ""),
                tuple(e.seq for _, e in best),
                actor,
                cases[0] if len(cases) == 1 else None,
                "repeated refusals suggest someone trying what they are not allowed to "
                "(another case, a purged result), not a slip",
                tuple(sid for _, e in best if (sid := _search_id(e)) is not None),
            )
        )
    return out


def _login_bursts(logins: dict[str, list[Entry]], rules: AnomalyRules) -> list[Anomaly]:
    out = []
    for name, items in sorted(logins.items()):
        best = _burst(items, timedelta(minutes=rules.login_burst_minutes), weight=True)
        n = sum(_count(e) for _, e in best)
        if n < rules.login_burst:
            continue
        out.append(
            Anomaly(
                "login_burst",
                f"{n} failed sign-ins as {name!r} within {rules.login_burst_minutes} minutes",
                tuple(e.seq for _, e in best),
                name,
                None,
                f"{rules.login_burst} or more failures in a short time suggest password "
                "guessing (a single mistyped password is not flagged)",
            )
        )
    return out
