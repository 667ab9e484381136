"""Browsing the audit log: entries filtered and paginated (newest first), one entry, a CSV
export safe to open in a spreadsheet, and the state of the signed checkpoints.

Filters (all optional, combined with AND): ``actor`` (exact), ``action`` (exact) or
``action_prefix`` (e.g. ``case.`` for every case act), ``case`` (exact case number), ``since``
(inclusive) and ``until`` (exclusive) times, and ``outcome``: ``refused`` (``*.refused``),
``failed`` (``*.failed``) or ``ok`` (every other entry).

Each entry has a one-line ``summary`` (:func:`summary`) made from its action and details.
The CSV export (:func:`to_csv`) has a header row and escapes cells an spreadsheet would read as
a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) with a leading
apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, func, not_, or_, select
from sqlalchemy.orm import Session

from facesearch.govern import checkpoint as ckpt
from facesearch.govern.audit import Entry, canonical_json, format_ts, head
from facesearch.govern.schema import AuditEntry

Outcome = Literal["ok", "refused", "failed"]
OUTCOMES: tuple[str, ...] = ("ok", "refused", "failed")
CSV_COLUMNS = ("seq", "time", "actor", "action", "case", "outcome", "summary", "details", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SUMMARY_CHARS = 200
# details left out of the one-line summary (long, or said another way)
_NOT_SUMMARISED = {"case", "candidates", "auth", "policy_sha256", "model_sha256", "thresholds"}


@dataclass(frozen=True)
class EntryFilter:
    actor: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    case: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: Outcome | None = None

    def asked(self) -> dict[str, Any]:
        """The filters given (for the audit entry that records a look at the log)."""
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def outcome_of(action: str) -> Outcome:
    if action.endswith(".refused"):
        return "refused"
    if action.endswith(".failed"):
        return "failed"
    return "ok"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(q: Select[Any], f: EntryFilter) -> Select[Any]:
    if f.actor:
        q = q.where(AuditEntry.actor == f.actor)
    if f.action:
        q = q.where(AuditEntry.action == f.action)
    if f.action_prefix:
        q = q.where(AuditEntry.action.like(_escape_like(f.action_prefix) + "%", escape="\\"))
    if f.case:
        q = q.where(AuditEntry.case_number == f.case)
    if f.since is not None:
        q = q.where(AuditEntry.ts >= format_ts(f.since))
    if f.until is not None:
        q = q.where(AuditEntry.ts < format_ts(f.until))
    refused = AuditEntry.action.like("%.refused")
    failed = AuditEntry.action.like("%.failed")
    if f.outcome == "refused":
        q = q.where(refused)
    elif f.outcome == "failed":
        q = q.where(failed)
    elif f.outcome == "ok":
        q = q.where(not_(or_(refused, failed)))
    return q


def count_entries(session: Session, f: EntryFilter) -> int:
    return int(session.execute(_filtered(select(func.count(AuditEntry.seq)), f)).scalar_one())


def list_entries(
    session: Session, f: EntryFilter, limit: int = 50, offset: int = 0
) -> tuple[list[Entry], int]:
    """One page of the entries matching ``f``, newest first, and how many match in all."""
    q = _filtered(select(AuditEntry), f).order_by(AuditEntry.seq.desc())
    rows = session.execute(q.limit(limit).offset(offset)).scalars()
    return [Entry.from_row(r) for r in rows], count_entries(session, f)


def iter_entries(session: Session, f: EntryFilter, batch: int = 1000) -> Iterator[Entry]:
    """Every entry matching ``f``, newest first."""
    q = _filtered(select(AuditEntry), f).order_by(AuditEntry.seq.desc())
    for row in session.execute(q.execution_options(yield_per=batch)).scalars():
        yield Entry.from_row(row)


def get_entry(session: Session, seq: int) -> Entry | None:
    row = session.get(AuditEntry, seq)
    return Entry.from_row(row) if row is not None else None


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} items"
    if isinstance(value, dict):
        return "{...}"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def summary(e: Entry) -> str:
    """One line saying what the entry records."""
    d = e.details
    what = e.action
    if e.action.endswith(".refused"):
        what = f"refused {e.action.removesuffix('.refused')}"
        if d.get("reason"):
            what += f": {d['reason']}"
        text = what
    elif e.action == "search":
        shown = d.get("candidates")
        n = len(shown) if isinstance(shown, list) else 0
        text = f"search {d.get('search_id', '?')}: {n} candidates shown"
    else:
        parts = [
            f"{k} {_short(v)}"
            for k, v in sorted(d.items())
            if k not in _NOT_SUMMARISED and v not in (None, "", [], {})
        ]
        text = what + (": " + ", ".join(parts) if parts else "")
    if e.case_number and e.case_number not in text:
        text += f" (case {e.case_number})"
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def entry_dict(e: Entry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "actor": e.actor,
        "action": e.action,
        "case": e.case_number,
        "outcome": outcome_of(e.action),
        "summary": summary(e),
        "details": e.details,
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    }


def csv_cell(value: Any) -> str:
    """A cell as text, with a leading apostrophe when a spreadsheet would read it as a
    formula (CSV formula injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(stream: Iterable[Entry]) -> tuple[str, int]:
    """The entries as CSV text (header row first) and how many rows were written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for e in stream:
        row = (
            e.seq,
            e.ts,
            e.actor,
            e.action,
            e.case_number,
            outcome_of(e.action),
            summary(e),
            canonical_json(e.details),
            e.hash,
        )
        writer.writerow([csv_cell(v) for v in row])
        n += 1
    return out.getvalue(), n


def checkpoint_state(session: Session) -> dict[str, Any]:
    """The latest signed checkpoint the log records (seq, entry time, when signed, key id),
    whether the log still holds it, and how many entries were added since."""
    head_seq, head_hash = head(session)
    cp = ckpt.latest_recorded(session)
    state: dict[str, Any] = {
        "head_seq": head_seq,
        "head_hash": head_hash,
        "checkpoint": None,
        "entries_since": head_seq,
    }
    if cp is not None:
        problems = ckpt.check_log(session, cp)
        state["checkpoint"] = {
            "seq": cp.seq,
            "entry_hash": cp.entry_hash,
            "entry_ts": cp.entry_ts,
            "signed_at": cp.signed_at,
            "key_id": cp.fingerprint[:16],
            "held": not problems,
            "problems": problems,
        }
        state["entries_since"] = max(0, head_seq - cp.seq)
    return state
