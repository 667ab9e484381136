"""Oversight and administration: the audit log (verify, checkpoints, reports), retention, the
policy, and removal on request (with suppression of the person's face)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.standing_moves import policy_threshold_on
from facesearch.govern import audit_browse
from facesearch.govern import checkpoint as ckpt
from facesearch.govern.audit import AuditLog, VerifyResult
from facesearch.govern.audit_browse import EntryFilter
from facesearch.govern.changes import ChangeView, PendingPolicy
from facesearch.govern.oversight import OversightReport
from facesearch.govern.policy import AccessPolicy, Policy, parse_policy
from facesearch.govern.retention import PurgeResult
from facesearch.govern.schema import RemovalRequest
from facesearch.govern.suppression import PreviewMatch, index_finder
from facesearch.govern.users import Role, require_user

AUDIT_READERS = {Role.AUDITOR, Role.SUPERVISOR, Role.ADMINISTRATOR}


class Admin:
    """Audit, retention, policy and removals."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    # --- audit and retention ----------------------------------------------------------------

    def verify_audit(
        self,
        who: Principal,
        anchors: Mapping[int, str] | None = None,
        checkpoints: Sequence[Path] = (),
        trusted_key: ckpt.Ed25519PublicKey | None = None,
    ) -> VerifyResult:
        """Verify the hash chain, against heads kept elsewhere (``anchors``) and signed
        checkpoint files (their signature checked under ``trusted_key``)."""
        result: VerifyResult = self.ctx.governance.verify_audit(
            who.username, anchors, checkpoints=checkpoints, trusted_key=trusted_key
        )
        return result

    def checkpoint(
        self, who: Principal, out: Path, key_path: Path | None = None
    ) -> tuple[ckpt.Checkpoint, Path]:
        """Sign the audit log's head with the key at ``key_path`` (or the settings') and
        write the checkpoint to ``out``; refused if the key lies in the data directory."""
        gov = self.ctx.governance
        found: tuple[ckpt.Checkpoint, Path] = gov.checkpoint(
            who.username, out, gov.signing_key(key_path)
        )
        return found

    def purge(self, who: Principal, now: datetime | None = None) -> PurgeResult:
        """Delete the probes and results whose retention period has ended (as of ``now``)."""
        result: PurgeResult = self.ctx.governance.purge(who.username, now)
        return result

    def oversight_report(
        self, who: Principal, start: datetime | None, end: datetime | None, period: str
    ) -> OversightReport:
        rep: OversightReport = self.ctx.governance.oversight_report(
            who.username, start, end, period
        )
        return rep

    # --- browsing the audit log (auditors, supervisors, administrators) -------------------

    def audit_entries(
        self, who: Principal, f: EntryFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the audit entries matching ``f`` (newest first) and the total; the look
        is logged as ``audit.entries`` (after the page is read: it is not in it)."""

        def fn(s: Session, audit: AuditLog) -> tuple[list[dict[str, Any]], int]:
            require_user(s, who.username, "audit.entries", AUDIT_READERS)
            found, total = audit_browse.list_entries(s, f, limit, offset)
            audit.record(
                who.username,
                "audit.entries",
                {"filters": f.asked(), "offset": offset, "shown": len(found), "total": total},
            )
            return [audit_browse.entry_dict(e) for e in found], total

        gov = self.ctx.governance
        out: tuple[list[dict[str, Any]], int] = gov.run(
            who.username, "audit.entries", f.asked(), fn
        )
        return out

    def audit_entry(self, who: Principal, seq: int) -> dict[str, Any] | None:
        """One audit entry (None if there is none with ``seq``), logged as ``audit.entry``."""

        def fn(s: Session, audit: AuditLog) -> dict[str, Any] | None:
            require_user(s, who.username, "audit.entry", AUDIT_READERS)
            e = audit_browse.get_entry(s, seq)
            audit.record(who.username, "audit.entry", {"seq": seq, "found": e is not None})
            return audit_browse.entry_dict(e) if e is not None else None

        out: dict[str, Any] | None = self.ctx.governance.run(
            who.username, "audit.entry", {"seq": seq}, fn
        )
        return out

    def export_audit_entries(self, who: Principal, f: EntryFilter) -> tuple[str, int]:
        """The entries matching ``f`` as CSV (newest first) and the row count; logged as
        ``audit.export`` with the filters and the count (the export does not hold its own
        entry)."""

        def fn(s: Session, audit: AuditLog) -> tuple[str, int]:
            require_user(s, who.username, "audit.export", AUDIT_READERS)
            text, n = audit_browse.to_csv(audit_browse.iter_entries(s, f))
            audit.record(who.username, "audit.export", {"filters": f.asked(), "rows": n})
            return text, n

        out: tuple[str, int] = self.ctx.governance.run(who.username, "audit.export", f.asked(), fn)
        return out

    def audit_state(self, who: Principal) -> dict[str, Any]:
        """The latest signed checkpoint the log records, whether the log still holds it, and
        the entries since (read only: not logged, like the chain's head in a report)."""

        def fn(s: Session, _audit: AuditLog) -> dict[str, Any]:
            require_user(s, who.username, "audit.state", AUDIT_READERS)
            return audit_browse.checkpoint_state(s)

        out: dict[str, Any] = self.ctx.governance.run(who.username, "audit.state", {}, fn)
        return out

    # --- policy -------------------------------------------------------------------------------

    def validate_policy(self, who: Principal, text: str, source: str = "<uploaded>") -> Policy:
        """Parse a policy text (raises PolicyError with every problem, naming ``source``);
        nothing is changed."""
        self.ctx.require(who, "policy.validate", Role.ADMINISTRATOR, Role.SUPERVISOR, Role.AUDITOR)
        return parse_policy(text, source=source)

    def show_policy(self, who: Principal) -> Policy:
        """The policy in force (the latest approved; not necessarily the file's)."""
        self.ctx.require(who, "policy.show")
        policy: Policy = self.ctx.governance.policy
        return policy

    def pending_policy(self, who: Principal) -> PendingPolicy | None:
        """The policy recorded as pending (a changed ``policy.toml``, in this process or
        another), waiting for two administrators; None when there is none."""
        self.ctx.require(who, "policy.show")
        found: PendingPolicy | None = self.ctx.governance.pending_policy()
        return found

    def access_in_force(self) -> AccessPolicy:
        """The ``[access]`` table of the policy in force now, read in a transaction of its own
        (one indexed query), so that a policy approved by another process applies from the
        next request: the server's own session timeouts, not a read done for a user (no role,
        nothing logged)."""
        access: AccessPolicy = self.ctx.governance.refresh_policy().access
        return access

    def policy_status(self, who: Principal) -> tuple[Policy, Policy, int | None]:
        """``(in force, the file's, the pending change's id)``: the file's policy differs
        from the one in force until two administrators approve it."""
        self.ctx.require(who, "policy.show")
        status = self.ctx.governance.policy_status()
        return status["in_force"], status["file"], status["pending_change"]

    def approve_policy(self, who: Principal, note: str = "") -> ChangeView:
        """Approve the pending change that puts the policy file in force (the first
        administrator's approval endorses it, a second one's puts it in force)."""
        change_id = self.ctx.governance.pending_policy_change()
        if change_id is None:
            self.ctx.refuse(who, "change.approve", "no policy change is pending")
        view: ChangeView = self.ctx.governance.approve_change(who.username, change_id, note)
        return view

    # --- removal and suppression --------------------------------------------------------------

    def preview_removal(
        self,
        who: Principal,
        photos: Sequence[bytes],
        requester: str,
        reason: str,
        *,
        names: Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> tuple[int, list[PreviewMatch]]:
        """A removal request from photos of the person (the largest face of each; a photo
        without a face is refused, named by ``names[i]`` or its position)."""
        ctx = self.ctx
        ctx.require(who, "removal.preview", Role.ADMINISTRATOR)
        vectors = []
        for i, photo in enumerate(photos):
            faces = ctx.pool.run(lambda data=photo: ctx.embed(data))  # type: ignore[misc]
            if not faces:
                where = names[i] if names else f"photo {i + 1}"
                ctx.refuse(who, "removal.preview", f"no face found in {where}")
            vectors.append(faces[0].embedding)
        return self.preview_removal_embeddings(
            who, np.stack(vectors), ctx.gallery.model_key, requester, reason, threshold=threshold
        )

    def preview_removal_embeddings(
        self,
        who: Principal,
        embeddings: np.ndarray,
        model: str,
        requester: str,
        reason: str,
        *,
        threshold: float | None = None,
    ) -> tuple[int, list[PreviewMatch]]:
        """A removal request from the person's embeddings (``(n, d)``, of ``model``): the
        gallery faces matching them, through the vector index when ``model`` is the
        gallery's (the index holds its vectors only), else by scanning the catalog's stored
        embeddings of ``model``."""
        ctx = self.ctx
        indexed = model == ctx.gallery.model_key
        # on an agency's own recognizer the policy's threshold (SFace's scale) is carried to
        # its scale, for the preview and for the entries (app/standing_moves.py)
        own = policy_threshold_on(ctx, model)
        with ctx.reading():
            found: tuple[int, list[PreviewMatch]] = ctx.governance.preview_removal(
                who.username,
                embeddings,
                model,
                requester,
                reason,
                finder=index_finder(ctx.gallery.index.search, k=1000) if indexed else None,
                threshold=own if threshold is None else threshold,
                entry_threshold=own,
            )
            return found

    def apply_removal(
        self, who: Principal, request_id: int, face_ids: Sequence[int] | None
    ) -> list[int]:
        ctx = self.ctx

        def remove(ids: list[int]) -> Any:
            with ctx.writing("removal"):
                return ctx.gallery.remove_faces(ids)

        chosen: list[int] = ctx.governance.apply_removal(who.username, request_id, remove, face_ids)
        return chosen

    def remove_faces(self, who: Principal, face_ids: Sequence[int], reason: str) -> int:
        """Delete faces from the catalog and the index at once, outside a removal request
        (administrators; logged with the reason). Returns how many were removed."""
        ctx = self.ctx
        ids = [int(i) for i in face_ids]
        ctx.governance.require_role(
            who.username, "faces.delete", Role.ADMINISTRATOR, {"faces": ids, "reason": reason}
        )
        with ctx.writing("removal"):
            removed: int = ctx.gallery.remove_faces(ids)
        ctx.governance.record(
            who.username, "faces.delete", {"faces": ids, "removed": removed, "reason": reason}
        )
        return removed

    def cancel_removal(self, who: Principal, request_id: int, note: str) -> None:
        self.ctx.governance.cancel_removal(who.username, request_id, note)

    def list_removals(self, who: Principal) -> list[dict[str, Any]]:
        self.ctx.require(who, "removal.list", Role.ADMINISTRATOR)
        with self.ctx.governance.session() as s:
            rows = s.execute(select(RemovalRequest).order_by(RemovalRequest.id.desc())).scalars()
            return [
                {
                    "id": r.id,
                    "requester": r.requester,
                    "status": r.status,
                    "created_by": r.created_by,
                    "created_at": r.created_at,
                    "removed": list(r.removed or []),
                }
                for r in rows
            ]
