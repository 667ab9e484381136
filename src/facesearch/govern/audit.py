"""The audit log: append-only, hash-chained.

Each entry stores its sequence number (1, 2, 3, ... with no gaps), a UTC timestamp, the
acting user, the action, the case number it concerns (if any), its details as canonical JSON,
and the SHA-256 of the previous entry (64 zeros for the first). Its own hash is

    SHA-256( canonical_json([seq, ts, actor, action, case_number, details, prev_hash]) )

where ``details`` is the canonical JSON text itself. Canonical JSON: keys sorted, no spaces,
UTF-8, no NaN/Infinity.

:func:`verify` recomputes every hash and link and says where the first problem is:
a modified entry (its hash no longer matches), a deleted entry (a gap in the sequence, or a
log shorter than the head row records), an inserted or reordered entry (a broken link).
Someone able to rewrite the whole table *and* recompute every later hash can only be caught
with a copy of the head kept elsewhere: :func:`head` gives ``(seq, hash)`` to publish (it is
printed in every case report) and :func:`verify` accepts such ``anchors``. Deleting the newest
entries and moving the head row back leaves a chain that verifies: only a copy of the head
kept elsewhere shows it, which is what signed checkpoints are
(:mod:`facesearch.govern.checkpoint`; their findings join :class:`VerifyResult`).

The log never holds an image: probes and faces appear as SHA-256 hashes and face ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from facesearch.govern.actor import auth_of
from facesearch.govern.schema import AuditEntry, AuditHead

GENESIS_HASH = "0" * 64
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (naive values, as SQLite returns them, are UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_ts(dt: datetime) -> str:
    return as_utc(dt).strftime(TS_FORMAT)


def parse_ts(ts: str) -> datetime:
    return datetime.strptime(ts, TS_FORMAT).replace(tzinfo=UTC)


def jsonable(value: Any) -> Any:
    """``value`` converted to plain JSON types (numpy scalars, datetimes, bytes, enums...)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite number ({value}) in the audit log")
        return float(value)
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        return jsonable(item())
    tolist = getattr(value, "tolist", None)  # numpy array
    if callable(tolist):
        return jsonable(tolist())
    raise TypeError(f"cannot record a {type(value).__name__} in the audit log")


def canonical_json(value: Any) -> str:
    return json.dumps(
        jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    seq: int,
    ts: str,
    actor: str,
    action: str,
    case_number: str | None,
    details: str,
    prev_hash: str,
) -> str:
    payload = canonical_json([seq, ts, actor, action, case_number, details, prev_hash])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """An audit entry as read back."""

    seq: int
    ts: str
    actor: str
    action: str
    case_number: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @property
    def at(self) -> datetime:
        return parse_ts(self.ts)

    @classmethod
    def from_row(cls, row: AuditEntry) -> Entry:
        try:
            details = json.loads(row.details)
        except ValueError:
            details = {"_unparseable": row.details}
        if not isinstance(details, dict):
            details = {"_value": details}
        return cls(
            row.seq,
            row.ts,
            row.actor,
            row.action,
            row.case_number,
            details,
            row.prev_hash,
            row.hash,
        )


class AuditLog:
    """The audit log, in a session. ``record`` adds to the session's transaction: the entry
    commits, or rolls back, together with the operation it records."""

    def __init__(
        self,
        session: Session,
        clock: Callable[[], datetime] = utc_now,
        on_record: Callable[[Entry], None] | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.on_record = on_record  # told of every entry added (e.g. to checkpoint when due)

    def record(
        self,
        actor: str,
        action: str,
        details: Mapping[str, Any] | None = None,
        *,
        case: str | None = None,
    ) -> Entry:
        """Append an entry. ``case`` defaults to ``details["case"]`` when that is present."""
        if not actor or not action:
            raise ValueError("an audit entry needs an actor and an action")
        details_dict = dict(details or {})
        auth = auth_of(actor)
        if auth is not None and "auth" not in details_dict:
            details_dict["auth"] = auth
        actor = str(actor)  # the plain name is what is stored and hashed
        if case is None and isinstance(details_dict.get("case"), str):
            case = details_dict["case"]
        details_text = canonical_json(details_dict)
        head = lock_head(self.session)
        seq = head.seq + 1
        ts = format_ts(self.clock())
        h = entry_hash(seq, ts, actor, action, case, details_text, head.hash)
        row = AuditEntry(
            seq=seq,
            ts=ts,
            actor=actor,
            action=action,
            case_number=case,
            details=details_text,
            prev_hash=head.hash,
            hash=h,
        )
        self.session.add(row)
        head.seq = seq
        head.hash = h
        self.session.flush()
        entry = Entry.from_row(row)
        if self.on_record is not None:
            self.on_record(entry)
        return entry

    def head(self) -> tuple[int, str]:
        return head(self.session)

    def entries(self, **kwargs: Any) -> Iterator[Entry]:
        return entries(self.session, **kwargs)

    def verify(self, anchors: Mapping[int, str] | None = None) -> VerifyResult:
        return verify(self.session, anchors)


def lock_head(session: Session) -> AuditHead:
    """The chain's head row, locked for this transaction against every other writer, in any
    process, until it commits.

    A lock held in one process is not enough: a CLI command next to the server, or two
    server workers, append to the same chain, and two transactions that read the same head
    both write the same next ``seq`` (``UNIQUE constraint failed: gov_audit.seq``). So the
    head row is first made to exist with an insert that does nothing when it is there: a
    write, which on SQLite starts the transaction and takes the database's write lock
    (other writers wait, ``busy_timeout``) before the head is read, and on PostgreSQL waits
    for a concurrent first insert instead of colliding with it; then the row is read
    ``FOR UPDATE`` (a row lock on PostgreSQL; SQLite's write lock already covers it)."""
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        insert_fn = sqlite_insert if dialect == "sqlite" else pg_insert
        session.execute(
            insert_fn(AuditHead)
            .values(id=1, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["id"])
        )
    row = session.execute(
        select(AuditHead)
        .where(AuditHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if row is None:  # another database: a head row of this transaction's own
        row = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(row)
    return row


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the latest entry, as the head row records it; (0, zeros) if empty."""
    row = session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def entries(
    session: Session,
    *,
    case: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 1000,
) -> Iterator[Entry]:
    """Entries in sequence order, optionally filtered (``since`` inclusive, ``until``
    exclusive)."""
    q = select(AuditEntry).order_by(AuditEntry.seq)
    if case is not None:
        q = q.where(AuditEntry.case_number == case)
    if actor is not None:
        q = q.where(AuditEntry.actor == actor)
    if action is not None:
        q = q.where(AuditEntry.action == action)
    if since is not None:
        q = q.where(AuditEntry.ts >= format_ts(since))
    if until is not None:
        q = q.where(AuditEntry.ts < format_ts(until))
    for row in session.execute(q.execution_options(yield_per=batch)).scalars():
        yield Entry.from_row(row)


@dataclass(frozen=True)
class CheckpointProblem:
    """A checkpoint the log fails (``forged`` False), or one that cannot be trusted itself
    (``forged`` True: unreadable, signed by another key, or altered)."""

    source: str  # the checkpoint file
    problem: str
    forged: bool


@dataclass
class VerifyResult:
    ok: bool
    checked: int  # entries read
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None  # the first problem, in words
    problems: list[tuple[int, str]] = field(default_factory=list)  # up to 100
    checkpoints_verified: list[str] = field(default_factory=list)  # checkpoint files passed
    checkpoint_problems: list[CheckpointProblem] = field(default_factory=list)

    def summary(self) -> str:
        if self.problems:
            more = f" ({len(self.problems)} problems in all)" if len(self.problems) > 1 else ""
            return f"audit log TAMPERED at entry #{self.first_bad_seq}: {self.problem}{more}"
        if self.checkpoint_problems:
            first = self.checkpoint_problems[0]
            what = "REFUSED checkpoint" if first.forged else "FAILS checkpoint"
            return f"audit log {what} {first.source}: {first.problem}"
        text = f"audit log intact: {self.checked} entries, head #{self.head_seq} {self.head_hash}"
        if self.checkpoints_verified:
            n = len(self.checkpoints_verified)
            text += f"; {n} signed checkpoint{'' if n == 1 else 's'} held"
        return text


def verify(session: Session, anchors: Mapping[int, str] | None = None) -> VerifyResult:
    """Check the whole chain. ``anchors`` maps seq -> hash from copies kept elsewhere."""
    problems: list[tuple[int, str]] = []

    def bad(seq: int, msg: str) -> None:
        if len(problems) < 100:
            problems.append((seq, msg))

    expected = 1
    prev_hash = GENESIS_HASH
    checked = 0
    pending_anchors = dict(anchors or {})
    q = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    for row in session.execute(q).scalars():
        checked += 1
        if row.seq > expected:
            missing = f"#{expected}" if row.seq == expected + 1 else f"#{expected}..#{row.seq - 1}"
            bad(expected, f"entries {missing} are missing (deleted)")
        recomputed = entry_hash(
            row.seq, row.ts, row.actor, row.action, row.case_number, row.details, row.prev_hash
        )
        if recomputed != row.hash:
            bad(row.seq, "entry was modified: its contents no longer match its stored hash")
        if row.prev_hash != prev_hash:
            bad(
                row.seq,
                f"entry does not follow entry #{row.seq - 1}: its previous-hash link is broken "
                "(an entry was inserted, deleted, reordered or rewritten before it)",
            )
        if row.seq in pending_anchors and pending_anchors.pop(row.seq) != row.hash:
            bad(row.seq, "entry hash differs from the anchor kept outside the database")
        prev_hash = row.hash
        expected = row.seq + 1
    last_seq = expected - 1
    head_seq, head_hash = head(session)
    if head_seq > last_seq:
        bad(
            last_seq + 1,
            f"the log ends at #{last_seq} but its head records #{head_seq}: "
            "entries at the end were deleted",
        )
    elif head_seq < last_seq or (head_seq == last_seq and head_hash != prev_hash):
        bad(head_seq, "the head row does not match the last entry (head or log altered)")
    for seq in sorted(pending_anchors):
        if seq > last_seq:
            bad(seq, f"anchored entry #{seq} is missing: entries at the end were deleted")
    problems.sort(key=lambda p: p[0])
    first = problems[0] if problems else None
    return VerifyResult(
        ok=not problems,
        checked=checked,
        head_seq=head_seq,
        head_hash=head_hash,
        first_bad_seq=first[0] if first else None,
        problem=first[1] if first else None,
        problems=problems,
    )


def segment_problem(session: Session, start_seq: int, start_hash: str) -> str | None:
    """Check the chain from entry ``start_seq`` (which must still have ``start_hash``) to the
    head, cheaply: only the entries since then are read. ``None`` when it holds."""
    q = (
        select(AuditEntry)
        .where(AuditEntry.seq >= start_seq)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=1000)
    )
    prev_hash, expected = (GENESIS_HASH, 1) if start_seq == 0 else (start_hash, start_seq)
    for row in session.execute(q).scalars():
        if row.seq != expected:
            return f"entry #{expected} is missing"
        recomputed = entry_hash(
            row.seq, row.ts, row.actor, row.action, row.case_number, row.details, row.prev_hash
        )
        if row.seq == start_seq:
            if row.hash != start_hash or recomputed != row.hash:
                return f"entry #{start_seq} is no longer the one checkpointed last"
        elif recomputed != row.hash or row.prev_hash != prev_hash:
            return f"entry #{row.seq} was modified or does not follow #{row.seq - 1}"
        prev_hash, expected = row.hash, row.seq + 1
    if start_seq and expected == start_seq:
        return f"entry #{start_seq}, checkpointed last, is missing"
    head_seq, head_hash = head(session)
    if head_seq != expected - 1 or head_hash != prev_hash:
        return "the head row does not match the last entry"
    return None
