"""The public-records export of the search log (issue 24, item 7): one row per search, with
only the fields the installation allows (the ``reports_public_fields`` setting,
``FACESEARCH_REPORTS_PUBLIC_FIELDS``; a jurisdiction's profile may set it).

Built from the audit log (so it survives retention): each ``search`` entry of the period, and
for it whether any of its candidates was reviewed, how many were marked a possible match and
confirmed, and the outcomes recorded for its case. Never a user's name, a face id, a score or
an image. The fields:

* ``date`` (UTC day), ``time`` (UTC, to the second);
* ``case`` (the case number) or ``case_ref`` (a redacted reference: the same for every search
  of one case, not the number);
* ``purpose`` (the offence category), ``results`` (candidates shown), ``reviewed`` (yes/no),
  ``possible_matches``, ``confirmed``, ``outcomes`` (the case's outcome kinds, ``;``-separated),
  ``model`` and ``collection``.

The default leaves the case number out (:data:`DEFAULT_FIELDS`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from facesearch.govern.audit import entries, format_ts

FIELDS = (
    "date",
    "time",
    "case",
    "case_ref",
    "purpose",
    "results",
    "reviewed",
    "possible_matches",
    "confirmed",
    "outcomes",
    "model",
    "collection",
)
DEFAULT_FIELDS = (
    "date",
    "case_ref",
    "purpose",
    "results",
    "reviewed",
    "possible_matches",
    "confirmed",
    "outcomes",
)


def check_fields(fields: Sequence[str]) -> tuple[str, ...]:
    """The fields, in :data:`FIELDS` order; ValueError naming an unknown one."""
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ValueError(
            f"unknown public-records field(s) {', '.join(unknown)}: allowed {', '.join(FIELDS)}"
        )
    if not fields:
        raise ValueError("no public-records field allowed: name at least one")
    return tuple(f for f in FIELDS if f in fields)


def case_ref(number: str, salt: str) -> str:
    """A reference that tells the searches of one case apart from another's without the
    number (a keyed hash: not reversible by trying numbers without the salt)."""
    return "case-" + hashlib.sha256(f"{salt}:{number}".encode()).hexdigest()[:10]


def public_rows(
    session: Session, start: datetime, end: datetime, fields: Sequence[str], salt: str
) -> list[dict[str, Any]]:
    """One row per search of ``start <= ts < end``, only ``fields``."""
    allowed = check_fields(fields)
    start_ts, end_ts = format_ts(start), format_ts(end)
    searches: list[dict[str, Any]] = []
    reviewed: set[Any] = set()
    possible: dict[Any, set[Any]] = defaultdict(set)
    confirmed: dict[Any, set[Any]] = defaultdict(set)
    outcomes: dict[str, list[str]] = defaultdict(list)
    for e in entries(session):
        d = e.details
        sid = d.get("search_id")
        if e.action == "search" and start_ts <= e.ts < end_ts:
            shown = d.get("candidates")
            searches.append(
                {
                    "ts": e.ts,
                    "search_id": sid,
                    "case": e.case_number or "",
                    "purpose": str(d.get("purpose") or ""),
                    "results": len(shown) if isinstance(shown, list) else 0,
                    "model": str(d.get("model") or ""),
                    "collection": str(d.get("collection") or ""),
                }
            )
        elif e.action == "review":
            reviewed.add(sid)
            if d.get("decision") == "possible_match":
                possible[sid].add(d.get("face_id"))
        elif e.action == "verify" and d.get("status") == "confirmed":
            confirmed[sid].add(d.get("face_id"))
        elif e.action == "case.outcome" and e.case_number:
            kind = str(d.get("kind"))
            if kind not in outcomes[e.case_number]:
                outcomes[e.case_number].append(kind)
    rows = []
    for s in searches:
        sid = s["search_id"]
        full = {
            "date": s["ts"][:10],
            "time": s["ts"][:19] + "Z",
            "case": s["case"],
            "case_ref": case_ref(s["case"], salt) if s["case"] else "",
            "purpose": s["purpose"],
            "results": s["results"],
            "reviewed": "yes" if sid in reviewed else "no",
            "possible_matches": len(possible.get(sid, ())),
            "confirmed": len(confirmed.get(sid, ())),
            "outcomes": ";".join(outcomes.get(s["case"], [])),
            "model": s["model"],
            "collection": s["collection"],
        }
        rows.append({f: full[f] for f in allowed})
    return rows


def to_csv(rows: list[dict[str, Any]], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(check_fields(fields)), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
