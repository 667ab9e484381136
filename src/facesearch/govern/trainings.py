"""Training records (issue 24, item 4; EU AI Act Art. 26(2)): a user's trainings (course,
completed on, expires on), recorded by an administrator and audited.

Where the policy's jurisdiction profile says so (``Profile.training_required``), a review or a
verification is refused unless its examiner has a current training (:func:`check_trained`).
Administrators see the trainings that expire within :data:`EXPIRING_DAYS` days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog
from facesearch.govern.compliance_schema import Training
from facesearch.govern.errors import RefusedError
from facesearch.govern.policy import Policy
from facesearch.govern.profiles import is_current, profile_of
from facesearch.govern.schema import User
from facesearch.govern.users import Role, find_user, require_user

EXPIRING_DAYS = 30
MAX_COURSE = 200
READERS = {Role.ADMINISTRATOR, Role.AUDITOR, Role.SUPERVISOR}


@dataclass(frozen=True)
class TrainingView:
    id: int
    username: str
    course: str
    completed_on: date
    expires_on: date | None
    recorded_by: str
    recorded_at: datetime
    current: bool


def _view(t: Training, today: date) -> TrainingView:
    return TrainingView(
        t.id,
        t.user.username,
        t.course,
        t.completed_on,
        t.expires_on,
        t.recorded_by.username,
        t.recorded_at,
        is_current(t, today),
    )


def record_training(
    session: Session,
    audit: AuditLog,
    actor: str,
    username: str,
    course: str,
    completed_on: date,
    expires_on: date | None,
    now: datetime,
) -> TrainingView:
    """Record that ``username`` completed ``course`` (administrators; audited)."""
    action = "training.record"
    admin = require_user(session, actor, action, {Role.ADMINISTRATOR})
    user = find_user(session, username)
    if user is None:
        raise RefusedError(action, f"unknown user {username!r}")
    name = course.strip()
    if not name:
        raise RefusedError(action, "the course is required")
    if len(name) > MAX_COURSE:
        raise RefusedError(action, f"the course is longer than {MAX_COURSE} characters")
    if completed_on > now.date():
        raise RefusedError(action, "the completion date is in the future")
    if expires_on is not None and expires_on < completed_on:
        raise RefusedError(action, "the training expires before it was completed")
    row = Training(
        user_id=user.id,
        course=name,
        completed_on=completed_on,
        expires_on=expires_on,
        recorded_by_id=admin.id,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        actor,
        action,
        {
            "training": row.id,
            "user": user.username,
            "course": name,
            "completed_on": completed_on.isoformat(),
            "expires_on": expires_on.isoformat() if expires_on else None,
        },
    )
    session.refresh(row)
    return _view(row, now.date())


def trainings(
    session: Session, actor: str, username: str | None, now: datetime
) -> list[TrainingView]:
    """Trainings, newest first: a user's own, or anyone's for administrators, auditors and
    supervisors (all users' when ``username`` is None)."""
    action = "training.list"
    me = require_user(session, actor, action)
    if username != me.username:
        require_user(session, actor, action, READERS)
    query = select(Training).order_by(Training.completed_on.desc(), Training.id.desc())
    if username is not None:
        user = find_user(session, username)
        if user is None:
            raise RefusedError(action, f"unknown user {username!r}")
        query = query.where(Training.user_id == user.id)
    return [_view(t, now.date()) for t in session.scalars(query).all()]


def expiring(
    session: Session, actor: str, now: datetime, days: int = EXPIRING_DAYS
) -> list[TrainingView]:
    """Current trainings that expire within ``days`` days, soonest first, and those already
    expired, of active users who have no later training of the same course (administrators)."""
    require_user(session, actor, "training.expiring", {Role.ADMINISTRATOR})
    today = now.date()
    rows = session.scalars(
        select(Training)
        .where(Training.expires_on.is_not(None), Training.expires_on <= today + timedelta(days))
        .order_by(Training.expires_on)
    ).all()
    renewed = {
        (t.user_id, t.course)
        for t in session.scalars(select(Training)).all()
        if is_current(t, today) and (t.expires_on is None or t.expires_on > today + timedelta(days))
    }
    return [
        _view(t, today)
        for t in rows
        if (t.user_id, t.course) not in renewed and t.user.disabled_at is None
    ]


def check_trained(session: Session, policy: Policy, user: User, action: str, now: datetime) -> None:
    """Refuse ``action`` (a review or a verification) when the profile requires a current
    training and ``user`` has none."""
    prof = profile_of(policy)
    if not prof.training_required:
        return
    today = now.date()
    rows = session.scalars(select(Training).where(Training.user_id == user.id)).all()
    if not any(is_current(t, today) for t in rows):
        raise RefusedError(
            action,
            f"user {user.username!r} has no current training on record, which the "
            f"{prof.name} profile requires; an administrator records it "
            "(facesearch user training add)",
        )
