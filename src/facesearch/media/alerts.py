"""Cross-case alerts: a face of one case's media matches a face of another case's media.

When: after every media import (the case's searchable faces against every other case's, so an
import into either case finds the pair), and on demand (``facesearch media crosscheck CASE``,
for material imported before, or after the model's bands changed). Clustering changes no face,
so it needs no new check.

A pair is an alert when its cosine score (the import's embeddings: the primary recognizer
only) is at or above the recognizer's **strong** band. Stored as two ``media_alerts`` rows,
one per side, each naming its own face and the other case; the other side's face and the score
are kept for the audit only. What either side is shown: that case N has a possible match, who
supervises case N (the supervisor who approved it) and which of *its own* faces matched; nothing
of the other case's material, files, faces, clusters, names or scores.

Each new alert is audited once per side (``media.alert``, ``case`` = that side), each entry
naming only that side's faces, so neither case's report shows anything of the other but its
number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.schema import Case, User
from facesearch.media.access import MediaAccess
from facesearch.media.schema import MediaAlert, MediaFace
from facesearch.media.vectors import face_vectors
from facesearch.store.crypto import Cipher

CHUNK = 20_000  # other cases' faces scored per step


@dataclass(frozen=True)
class AlertView:
    """What a case's people see of a cross-case hit."""

    other_case: str
    supervisor: str | None  # who approved the other case (username), None if nobody did
    supervisor_name: str
    faces: tuple[int, ...]  # this case's own media faces that matched
    first_at: datetime
    last_at: datetime

    @property
    def message(self) -> str:
        who = (
            f"{self.supervisor_name or self.supervisor} ({self.supervisor})"
            if self.supervisor
            else "no supervisor recorded: ask an administrator"
        )
        return (
            f"Case {self.other_case} has a possible match for {len(self.faces)} face(s) of this "
            f"case; supervisor of case {self.other_case}: {who}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "other_case": self.other_case,
            "supervisor": self.supervisor,
            "supervisor_name": self.supervisor_name,
            "faces": list(self.faces),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "message": self.message,
        }


@dataclass(frozen=True)
class CrossCheck:
    faces: int  # this case's searchable faces compared
    compared_with: int  # other cases' searchable faces
    new_pairs: int
    cases_with_new_alerts: tuple[str, ...]  # other cases (shown to this case's people)


def _vectors(
    rows: list[tuple[int, int, bytes]], model: str, cipher: Cipher | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.array([r[0] for r in rows], np.int64)
    cases = np.array([r[1] for r in rows], np.int64)
    vecs = face_vectors(cipher, ((r[0], model, r[2]) for r in rows))
    return ids, cases, vecs


def _other_faces(s: Session, case: Case, model: str) -> Iterator[list[tuple[int, int, bytes]]]:
    q = (
        select(MediaFace.id, MediaFace.case_id, MediaFace.embedding)
        .where(
            MediaFace.case_id != case.id,
            MediaFace.searchable.is_(True),
            MediaFace.model == model,
        )
        .order_by(MediaFace.id)
    )
    last = 0
    while True:
        rows = [tuple(r) for r in s.execute(q.where(MediaFace.id > last).limit(CHUNK)).all()]
        if not rows:
            return
        last = int(rows[-1][0])  # type: ignore[call-overload]
        yield rows  # type: ignore[misc]


def cross_check(
    s: Session,
    audit: AuditLog,
    case: Case,
    *,
    strong: float,
    model: str,
    actor: str,
    now: datetime,
    cipher: Cipher | None,
) -> CrossCheck:
    """Compare the case's searchable media faces with every other case's; store and audit the
    new pairs at or above ``strong`` (both sides). Already known pairs are left as they are.
    ``cipher``: the key the faces' vectors are sealed with (None: stored plain)."""
    own_rows = [
        tuple(r)
        for r in s.execute(
            select(MediaFace.id, MediaFace.case_id, MediaFace.embedding)
            .where(
                MediaFace.case_id == case.id,
                MediaFace.searchable.is_(True),
                MediaFace.model == model,
            )
            .order_by(MediaFace.id)
        ).all()
    ]
    if not own_rows:
        return CrossCheck(0, 0, 0, ())
    own_ids, _, own = _vectors(own_rows, model, cipher)  # type: ignore[arg-type]
    known = {
        (int(a), int(b))
        for a, b in s.execute(
            select(MediaAlert.face_id, MediaAlert.other_face_id).where(
                MediaAlert.case_id == case.id
            )
        ).all()
    }
    compared = 0
    new: dict[int, list[tuple[int, int, float]]] = defaultdict(list)  # other case -> pairs
    for rows in _other_faces(s, case, model):
        ids, cases, vecs = _vectors(rows, model, cipher)
        compared += len(ids)
        scores = vecs @ own.T  # (others, own)
        for oi, mi in zip(*np.nonzero(scores >= strong), strict=True):
            pair = (int(own_ids[mi]), int(ids[oi]))
            if pair not in known:
                known.add(pair)
                new[int(cases[oi])].append((pair[0], pair[1], float(scores[oi, mi])))
    named: list[str] = []
    for other_id in sorted(new):
        other = s.get(Case, other_id)
        assert other is not None
        pairs = new[other_id]
        for mine, theirs, score in pairs:
            s.add(
                MediaAlert(
                    case_id=case.id,
                    other_case_id=other_id,
                    face_id=mine,
                    other_face_id=theirs,
                    score=score,
                    model=model,
                    created_at=now,
                )
            )
            s.add(
                MediaAlert(
                    case_id=other_id,
                    other_case_id=case.id,
                    face_id=theirs,
                    other_face_id=mine,
                    score=score,
                    model=model,
                    created_at=now,
                )
            )
        s.flush()
        # one entry per side, each naming only that side's faces and the other case's number
        audit.record(
            actor,
            "media.alert",
            {
                "case": case.number,
                "other_case": other.number,
                "faces": sorted({m for m, _, _ in pairs}),
                "pairs": len(pairs),
                "band": "strong",
            },
        )
        audit.record(
            "system",
            "media.alert",
            {
                "case": other.number,
                "other_case": case.number,
                "faces": sorted({t for _, t, _ in pairs}),
                "pairs": len(pairs),
                "band": "strong",
            },
        )
        named.append(other.number)
    return CrossCheck(
        faces=len(own_ids),
        compared_with=compared,
        new_pairs=sum(len(v) for v in new.values()),
        cases_with_new_alerts=tuple(named),
    )


def alerts_of_case(s: Session, case: Case) -> list[AlertView]:
    """The case's alerts, one per other case, newest first (no access check: callers do)."""
    rows = s.execute(
        select(MediaAlert.other_case_id, MediaAlert.face_id, MediaAlert.created_at).where(
            MediaAlert.case_id == case.id
        )
    ).all()
    by_case: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for other_id, face_id, at in rows:
        by_case[int(other_id)].append((int(face_id), at))
    views = []
    for other_id, hits in by_case.items():
        other = s.get(Case, other_id)
        assert other is not None
        sup: User | None = other.decided_by
        views.append(
            AlertView(
                other_case=other.number,
                supervisor=sup.username if sup is not None else None,
                supervisor_name=(sup.display_name or "") if sup is not None else "",
                faces=tuple(sorted({f for f, _ in hits})),
                first_at=min(at for _, at in hits),
                last_at=max(at for _, at in hits),
            )
        )
    views.sort(key=lambda v: (v.last_at, v.other_case), reverse=True)
    return views


class CrossCases(MediaAccess):
    """The governed cross-case acts: check a case's faces against the other cases', and
    show a case its alerts."""

    def crosscheck(self, actor: str, case: str) -> CrossCheck:
        """Compare the case's media faces with every other case's; new hits at or above the
        strong band become alerts for both cases (audited on both sides)."""

        def fn(s: Session, a: AuditLog) -> CrossCheck:
            _, c = self._media_case(s, actor, case, "media.crosscheck")
            found = cross_check(
                s,
                a,
                c,
                strong=self.gallery.scoring.bands.strong,
                model=self.gallery.model_key,
                actor=actor,
                now=self.gov.clock(),
                cipher=self.cipher,
            )
            a.record(
                actor,
                "media.crosscheck",
                {
                    "case": c.number,
                    "faces": found.faces,
                    "compared_with": found.compared_with,
                    "new_pairs": found.new_pairs,
                    "cases_with_new_alerts": list(found.cases_with_new_alerts),
                },
            )
            return found

        return self._run(actor, "media.crosscheck", {"case": case}, fn)

    def alerts(self, actor: str, case: str) -> list[AlertView]:
        """The case's cross-case alerts: the other case's number and supervisor, and which of
        this case's faces matched; nothing of the other case. Logged."""

        def fn(s: Session, a: AuditLog) -> list[AlertView]:
            _, c = self._media_case(s, actor, case, "media.alerts")
            views = alerts_of_case(s, c)
            a.record(
                actor,
                "media.alerts",
                {"case": c.number, "other_cases": [v.other_case for v in views]},
            )
            return views

        return self._run(actor, "media.alerts", {"case": case}, fn)
