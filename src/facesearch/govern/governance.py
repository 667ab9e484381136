"""The governance facade: one object the CLI, an API and the search/ingest code go through.

Each method is one transaction run by :meth:`GovernanceCore.run
<facesearch.govern.unit.GovernanceCore.run>`: the operation and its audit entry commit
together; a refusal is rolled back, logged in a transaction of its own, and raised.

Typical wiring::

    gov = Governance(sessionmaker(engine), load_policy(path))
    case = gov.open_case("alice", "CASE-1", purpose, authority, justification)

:meth:`Governance.run` is the public unit of work: ``fn(session, audit)`` in one transaction,
a refusal rolled back and logged. The application layer runs the steps of a governed search
with it (``facesearch.app.governed``); the face finder and the remover are supplied by the
caller, so this package does not import the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesearch.govern import cases as cases_mod
from facesearch.govern import checkpoint as ckpt
from facesearch.govern import oversight, retention, searches, suppression, users, verifications
from facesearch.govern.audit import AuditLog, CheckpointProblem, VerifyResult
from facesearch.govern.case_history import resubmissions_of
from facesearch.govern.cases import CaseSummary
from facesearch.govern.errors import RefusedError
from facesearch.govern.report import ReportOptions, ReportPictures
from facesearch.govern.report_export import export_case_report
from facesearch.govern.schema import Case, Probe, Search
from facesearch.govern.searches import ReviewView, SearchOutcome, VerificationView
from facesearch.govern.supervision import SupervisionGovernance, summary_with_history
from facesearch.govern.suppression import FaceFinder, PreviewMatch, SuppressionMatcher
from facesearch.govern.unit import SessionFactory
from facesearch.govern.users import Role
from facesearch.store.crypto import maybe_decrypt

__all__ = ["Governance", "SessionFactory"]


class Governance(SupervisionGovernance):
    """The governed operations: audit, users, tokens and pending changes
    (:class:`~facesearch.govern.accounts.AccountGovernance`), cases (their resubmission and
    supervision: :class:`~facesearch.govern.supervision.SupervisionGovernance`), search
    results and reviews, retention, removal and suppression."""

    def verify_audit(
        self,
        actor: str,
        anchors: Mapping[int, str] | None = None,
        *,
        checkpoints: Sequence[Path] = (),
        trusted_key: ckpt.Ed25519PublicKey | None = None,
    ) -> VerifyResult:
        """Verify the chain, and the log against each signed checkpoint file: its signature
        must verify under ``trusted_key`` and the log must still hold its entry (and not end
        before it). Problems name the file; ``result.ok`` is False if there is any."""
        if checkpoints and trusted_key is None:
            raise ckpt.CheckpointError(
                "checking checkpoints needs the trusted public key: give --public-key FILE "
                f"(or set {ckpt.PUBLIC_KEY_ENV}); the key inside a checkpoint proves nothing"
            )
        loaded: list[tuple[str, ckpt.Checkpoint]] = []
        unreadable: list[CheckpointProblem] = []
        for path in checkpoints:
            try:
                loaded.append((str(path), ckpt.Checkpoint.read(path)))
            except ckpt.CheckpointError as exc:
                unreadable.append(CheckpointProblem(str(path), str(exc), forged=True))

        def fn(s: Session, audit: AuditLog) -> VerifyResult:
            users.require_user(s, actor, "audit.verify", {Role.AUDITOR, Role.ADMINISTRATOR})
            result = audit.verify(anchors)
            problems = list(unreadable)
            for source, cp in loaded:
                assert trusted_key is not None
                untrusted = cp.problems(trusted_key)
                problems += [CheckpointProblem(source, p, forged=True) for p in untrusted]
                failed = [] if untrusted else ckpt.check_log(s, cp)
                problems += [CheckpointProblem(source, p, forged=False) for p in failed]
                if not untrusted and not failed:
                    result.checkpoints_verified.append(source)
            result.checkpoint_problems = problems
            result.ok = result.ok and not problems
            audit.record(
                actor,
                "audit.verify",
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "first_bad_seq": result.first_bad_seq,
                    "problem": result.problem,
                    "checkpoints": len(checkpoints),
                    "checkpoint_problems": [[p.source, p.problem] for p in problems],
                },
            )
            return result

        return self.run(actor, "audit.verify", {}, fn)

    def oversight_report(
        self,
        actor: str,
        start: datetime | None = None,
        end: datetime | None = None,
        period: str = "month",
    ) -> oversight.OversightReport:
        def fn(s: Session, audit: AuditLog) -> oversight.OversightReport:
            users.require_user(s, actor, "audit.report", {Role.AUDITOR, Role.SUPERVISOR})
            rep = oversight.build_report(s, self.policy, start, end, period, now=self.clock())
            audit.record(
                actor,
                "audit.report",
                {"start": start, "end": end, "period": period, "anomalies": len(rep.anomalies)},
            )
            return rep

        return self.run(actor, "audit.report", {"start": start, "end": end}, fn)

    # --- cases -------------------------------------------------------------------------------

    def open_case(
        self, actor: str, number: str, purpose: str, legal_authority: str, justification: str
    ) -> CaseSummary:
        return self.run(
            actor,
            "case.open",
            {"case": number, "purpose": purpose, "legal_authority": legal_authority},
            lambda s, a: CaseSummary.of(
                cases_mod.open_case(
                    s,
                    a,
                    self.policy,
                    actor,
                    number,
                    purpose,
                    legal_authority,
                    justification,
                    self.clock(),
                )
            ),
        )

    def approve_case(self, actor: str, number: str, note: str = "") -> CaseSummary:
        return self.run(
            actor,
            "case.approve",
            {"case": number},
            lambda s, a: CaseSummary.of(
                cases_mod.approve_case(s, a, actor, number, note, self.clock())
            ),
        )

    def reject_case(self, actor: str, number: str, note: str) -> CaseSummary:
        return self.run(
            actor,
            "case.reject",
            {"case": number},
            lambda s, a: CaseSummary.of(
                cases_mod.reject_case(s, a, actor, number, note, self.clock())
            ),
        )

    def assign(self, actor: str, number: str, username: str) -> CaseSummary:
        return self.run(
            actor,
            "case.assign",
            {"case": number, "user": username},
            lambda s, a: CaseSummary.of(
                cases_mod.assign(s, a, actor, number, username, self.clock())
            ),
        )

    def unassign(self, actor: str, number: str, username: str) -> CaseSummary:
        return self.run(
            actor,
            "case.unassign",
            {"case": number, "user": username},
            lambda s, a: CaseSummary.of(
                cases_mod.unassign(s, a, actor, number, username, self.clock())
            ),
        )

    def close_case(self, actor: str, number: str, note: str = "") -> CaseSummary:
        return self.run(
            actor,
            "case.close",
            {"case": number},
            lambda s, a: CaseSummary.of(
                cases_mod.close_case(s, a, actor, number, note, self.clock())
            ),
        )

    def show_case(self, actor: str, number: str) -> tuple[CaseSummary, list[SearchOutcome]]:
        def fn(s: Session, a: AuditLog) -> tuple[CaseSummary, list[SearchOutcome]]:
            user = users.require_user(s, actor, "case.view")
            case = cases_mod.require_readable_case(s, user, number, "case.view")
            found = searches.searches_of_case(s, case)
            a.record(actor, "case.view", {"case": case.number, "searches": len(found)})
            shown = verifications.for_viewer(
                s, self.policy, user, [searches.outcome_of(x) for x in found]
            )
            return summary_with_history(s, case, len(found)), shown

        return self.run(actor, "case.view", {"case": number}, fn)

    def list_cases(self, actor: str, status: str | None = None) -> list[CaseSummary]:
        def fn(s: Session, a: AuditLog) -> list[CaseSummary]:
            user = users.require_user(s, actor, "case.list")
            q = select(Case).order_by(Case.requested_at, Case.id)
            if status:
                q = q.where(Case.status == status)
            counts = dict(
                s.execute(select(Search.case_id, func.count()).group_by(Search.case_id)).all()
            )
            readable = [c for c in s.execute(q).scalars() if cases_mod.can_read_case(user, c)]
            again = resubmissions_of(s, [c.number for c in readable])
            out = [
                CaseSummary.of(c, int(counts.get(c.id, 0)), again.get(c.number)) for c in readable
            ]
            a.record(actor, "case.list", {"status": status, "count": len(out)})
            return out

        return self.run(actor, "case.list", {"status": status}, fn)

    def case_report(
        self,
        actor: str,
        number: str,
        fmt: str = "html",
        options: ReportOptions | None = None,
        pictures: ReportPictures | None = None,
    ) -> bytes:
        """The case report as HTML (UTF-8) or PDF bytes; logged as an export with its hash.
        ``pictures``: where the probes' and candidates' pictures come from (none: a report
        without pictures); ``options``: what it lists (:mod:`.report_export`)."""
        return export_case_report(self, actor, number, fmt, options, pictures)

    # --- search results and review ----------------------------------------------------------

    def view_search(self, actor: str, search_id: int) -> SearchOutcome:
        def fn(s: Session, a: AuditLog) -> SearchOutcome:
            found = searches.view_search(s, a, actor, search_id)
            user = users.require_user(s, actor, "search.view")
            return verifications.for_viewer(s, self.policy, user, [found])[0]

        return self.run(actor, "search.view", {"search_id": search_id}, fn)

    def probe_image(self, actor: str, search_id: int) -> bytes:
        """The probe image of a search (decrypted), for people who may read the case."""

        def fn(s: Session, a: AuditLog) -> bytes:
            user = users.require_user(s, actor, "probe.view")
            found = searches.require_search(s, "probe.view", search_id)
            cases_mod.require_readable_case(s, user, found.case.number, "probe.view")
            probe: Probe = found.probe
            if probe.data is None:
                raise RefusedError("probe.view", f"probe {probe.sha256} was purged")
            a.record(
                actor,
                "probe.view",
                {"case": found.case.number, "search_id": search_id, "probe_sha256": probe.sha256},
            )
            return maybe_decrypt(self.cipher, probe.data, aad=probe.sha256.encode())

        return self.run(actor, "probe.view", {"search_id": search_id}, fn)

    def review(
        self, actor: str, search_id: int, face_id: int, decision: str, note: str = ""
    ) -> ReviewView:
        return self.run(
            actor,
            "review",
            {"search_id": search_id, "face_id": face_id, "decision": decision},
            lambda s, a: searches.review_candidate(
                s, a, actor, search_id, face_id, decision, note, self.clock(), self.policy
            ),
        )

    def verify(
        self,
        actor: str,
        search_id: int,
        face_id: int,
        verdict: str,
        note: str = "",
        basis: str = "",
    ) -> VerificationView:
        """An examiner's independent verdict on a possible match (two-person confirmation:
        :mod:`facesearch.govern.verifications`)."""
        return self.run(
            actor,
            "verify",
            {"search_id": search_id, "face_id": face_id, "verdict": verdict},
            lambda s, a: verifications.verify_candidate(
                s, a, self.policy, actor, search_id, face_id, verdict, note, basis, self.clock()
            ),
        )

    def identifications(
        self, actor: str, number: str, status: str | None = None
    ) -> list[verifications.Identification]:
        """The case's possible matches with their reviews, verifications and status, as
        ``actor`` may see them (``status="disputed"``: the supervisor's list)."""
        return self.run(
            actor,
            "identifications.view",
            {"case": number, "status": status},
            lambda s, a: verifications.list_identifications(
                s, a, self.policy, actor, number, status
            ),
        )

    # --- retention ---------------------------------------------------------------------------

    def purge(self, actor: str, now: datetime | None = None) -> retention.PurgeResult:
        when = now or self.clock()
        return self.run(
            actor,
            "retention.purge",
            {},
            lambda s, a: retention.purge(s, a, self.policy, actor, when),
        )

    # --- removal and suppression -------------------------------------------------------------

    def suppression_matcher(self) -> SuppressionMatcher:
        """Active suppression entries, loaded once: call per ingest run, then
        ``matcher.is_suppressed(embedding, model)`` per face."""
        with self.session() as s:
            return SuppressionMatcher.load(s, self.policy.suppression.threshold, self.cipher)

    def is_suppressed(self, embedding: np.ndarray, model: str | None = None) -> bool:
        return self.suppression_matcher().is_suppressed(embedding, model)

    def filter_candidates(
        self, candidates: Sequence[Any], model: str | None = None
    ) -> tuple[list[Any], int]:
        """Drop candidates of suppressed people; returns ``(kept, number dropped)``."""
        with self.session() as s:
            matcher = SuppressionMatcher.load(s, self.policy.suppression.threshold, self.cipher)
            return suppression.filter_candidates(s, matcher, candidates, model, self.cipher)

    def preview_removal(
        self,
        actor: str,
        embeddings: np.ndarray,
        model: str,
        requester: str,
        reason: str,
        *,
        finder: FaceFinder | None = None,
        threshold: float | None = None,
        entry_threshold: float | None = None,
    ) -> tuple[int, list[PreviewMatch]]:
        """Find the gallery faces matching a person's embeddings; returns
        ``(request_id, matches)`` for a person to check before :meth:`apply_removal`.
        ``entry_threshold``: the entries' own threshold (a model other than the one the
        policy's threshold is for)."""

        def fn(s: Session, a: AuditLog) -> tuple[int, list[PreviewMatch]]:
            req, matches = suppression.preview_removal(
                s,
                a,
                self.policy,
                actor,
                embeddings,
                model,
                requester,
                reason,
                self.clock(),
                finder,
                threshold,
                self.cipher,
                entry_threshold,
            )
            return req.id, matches

        return self.run(actor, "removal.preview", {"requester": requester, "model": model}, fn)

    def apply_removal(
        self,
        actor: str,
        request_id: int,
        remover: Callable[[list[int]], Any],
        face_ids: Iterable[int] | None = None,
    ) -> list[int]:
        """Activate the request's suppression, remove the confirmed faces through
        ``remover`` (e.g. ``gallery.remove_faces``), and record the outcome. Returns the
        face ids removed."""
        chosen_ids = None if face_ids is None else list(face_ids)

        def start(s: Session, a: AuditLog) -> list[int]:
            _, chosen, _ = suppression.start_removal(
                s, a, actor, request_id, chosen_ids, self.clock()
            )
            return chosen

        chosen = self.run(actor, "removal.apply", {"request_id": request_id}, start)
        try:
            outcome = remover(chosen) if chosen else 0
        except Exception as exc:
            with self.session() as s:
                suppression.finish_removal(
                    s,
                    self._audit(s),
                    actor,
                    request_id,
                    chosen,
                    None,
                    error=f"{type(exc).__name__}: {exc}",
                )
            raise
        with self.session() as s:
            suppression.finish_removal(s, self._audit(s), actor, request_id, chosen, outcome)
        return chosen

    def cancel_removal(self, actor: str, request_id: int, note: str = "") -> None:
        self.run(
            actor,
            "removal.cancel",
            {"request_id": request_id},
            lambda s, a: suppression.cancel_removal(s, a, actor, request_id, note),
        )
