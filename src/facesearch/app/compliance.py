"""Jurisdiction profiles, training records and collections' lawful basis
(``facesearch.govern.profiles``, ``.trainings``, ``.collection_basis``): each step one governed
transaction with its audit entry."""

from __future__ import annotations

from datetime import date, datetime

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.govern import collection_basis as cb
from facesearch.govern import profiles as prof
from facesearch.govern import trainings as tr
from facesearch.govern.checkpoint import CheckpointError
from facesearch.govern.collection_basis import BasisView, NewBasis
from facesearch.govern.policy import Policy
from facesearch.govern.profiles import Profile, RequirementStatus
from facesearch.govern.trainings import TrainingView
from facesearch.govern.users import Role


class Compliance:
    """What the policy's profile requires and whether it is met; trainings; collection bases."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        now: datetime = self.ctx.governance.clock()
        return now

    def audit_key_configured(self) -> bool:
        try:
            self.ctx.governance.signing_key()
        except CheckpointError:
            return False
        return True

    def requirements(
        self, who: Principal, policy: Policy | None = None
    ) -> tuple[Profile, list[RequirementStatus]]:
        """The profile of ``policy`` (the one in force when None) and each of its requirements,
        checked against this installation (administrators, supervisors, auditors)."""
        self.ctx.require(who, "policy.validate", Role.ADMINISTRATOR, Role.SUPERVISOR, Role.AUDITOR)
        gov = self.ctx.governance
        chosen: Policy = policy or gov.policy
        key = self.audit_key_configured()
        with gov.session() as s:
            state = prof.installation_state(s, chosen, key, self._now().date())
        profile = prof.profile_of(chosen)
        return profile, prof.evaluate(profile, state)

    # --- trainings ---------------------------------------------------------------------------

    def record_training(
        self,
        who: Principal,
        username: str,
        course: str,
        completed_on: date,
        expires_on: date | None,
    ) -> TrainingView:
        now = self._now()
        found: TrainingView = self.ctx.governance.run(
            who.username,
            "training.record",
            {"user": username, "course": course},
            lambda s, a: tr.record_training(
                s, a, who.username, username, course, completed_on, expires_on, now
            ),
        )
        return found

    def trainings(self, who: Principal, username: str | None = None) -> list[TrainingView]:
        now = self._now()
        found: list[TrainingView] = self.ctx.governance.run(
            who.username,
            "training.list",
            {"user": username},
            lambda s, a: tr.trainings(s, who.username, username, now),
        )
        return found

    def expiring_trainings(
        self, who: Principal, days: int = tr.EXPIRING_DAYS
    ) -> list[TrainingView]:
        now = self._now()
        found: list[TrainingView] = self.ctx.governance.run(
            who.username,
            "training.expiring",
            {"days": days},
            lambda s, a: tr.expiring(s, who.username, now, days),
        )
        return found

    # --- collections' basis ------------------------------------------------------------------

    def record_basis(self, who: Principal, collection: str, new: NewBasis) -> BasisView:
        now = self._now()
        gov = self.ctx.governance
        found: BasisView = gov.run(
            who.username,
            "collection.basis",
            {"collection": collection},
            lambda s, a: cb.record_basis(s, a, gov.policy, who.username, collection, new, now),
        )
        return found

    def bases(self, who: Principal) -> list[BasisView]:
        gov = self.ctx.governance
        found: list[BasisView] = gov.run(
            who.username,
            "collection.bases",
            {},
            lambda s, a: cb.bases(s, gov.policy, who.username),
        )
        return found

    def purge_collections(
        self, who: Principal, now: datetime | None = None
    ) -> tuple[dict[str, int], list[str]]:
        """Apply each collection's ``"N days"`` retention rule (administrators): delete the
        faces of its images ingested more than N days before ``now`` through the gallery's
        removal path, one audit entry per collection. Returns the faces removed per collection
        and the collections whose rule is ``not-convicted-purge`` (the agency's to mark)."""
        ctx, when = self.ctx, now or self._now()
        ctx.governance.require_role(who.username, "retention.collections", Role.ADMINISTRATOR)
        with ctx.governance.session() as s:
            due = cb.purge_due(s, when)
            flagged = cb.not_convicted_collections(s)
        removed: dict[str, int] = {}
        for item in due:
            count = 0
            if item.face_ids:
                with ctx.writing("retention"):
                    count = int(ctx.gallery.remove_faces(list(item.face_ids)))
            removed[item.collection] = count
            ctx.governance.record(
                who.username,
                "retention.collection",
                {
                    "collection": item.collection,
                    "days": item.days,
                    "as_of": when.isoformat(),
                    "faces": list(item.face_ids),
                    "removed": count,
                },
            )
        return removed, flagged
