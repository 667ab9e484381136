"""The governance unit of work: transactions, refusals, the audit record, the policy in force
and the audit log's signed checkpoints.

Each operation is one transaction (:meth:`GovernanceCore.run`): the operation and its audit
entries commit together. When an operation is refused, its transaction is rolled back, the
refusal (actor, action, reason, and what was asked) is written to the audit log in a
transaction of its own, and :class:`RefusedError` is raised with the reason. The operations
themselves are :class:`facesearch.govern.governance.Governance`'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, Self, TypeVar

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from facesearch.govern import changes, users
from facesearch.govern import checkpoint as ckpt
from facesearch.govern.audit import AuditLog, Entry, segment_problem, utc_now
from facesearch.govern.errors import GovernanceError, RefusedError
from facesearch.govern.policy import Policy, load_policy, parse_policy
from facesearch.govern.report_sections import ReportSections, case_report_sections
from facesearch.govern.schema import Base, PendingChange, PolicyVersion
from facesearch.govern.users import Role
from facesearch.store.crypto import Cipher

T = TypeVar("T")
SessionFactory = Callable[[], Session]
log = logging.getLogger(__name__)
_RECORDED = "facesearch_audit_last"  # Session.info key: the last entry recorded in it
# the id of the policy in force, read at the start of every transaction: plain SQL (no
# statement to build), an index-only look-up of the primary key on SQLite and PostgreSQL
_LATEST_POLICY = f"SELECT max(id) FROM {PolicyVersion.__tablename__}"


class GovernanceCore:
    """Transactions, refusals, the audit record and checkpoints (see the module docstring)."""

    def __init__(
        self,
        session_factory: SessionFactory,
        policy: Policy,
        *,
        cipher: Cipher | None = None,
        clock: Callable[[], datetime] = utc_now,
        signing_env: Mapping[str, str] | None = None,
    ) -> None:
        self.session_factory = session_factory
        # the policy file's; the policy in force is read from the database on first use, and
        # followed at the start of every transaction (see _follow_policy)
        self.policy_file = policy
        self._in_force: tuple[int, Policy] | None = None  # (its gov_policy_versions id, it)
        self.cipher = cipher
        self.clock = clock
        # where the checkpoint signing key is named (Settings.audit_key_environ())
        self.signing_env: Mapping[str, str] = dict(signing_env or {})
        self._checkpointer: ckpt.AutoCheckpointer | None = None
        self._signing_key: ckpt.Ed25519PrivateKey | None = None
        # Held around every transaction when set (SQLite: one writer at a time, so that two
        # threads appending to the audit chain never read the same head).
        self.transaction_lock: threading.RLock | None = None
        # the case report's sections: governance's own, then those the composition root adds
        self.report_sections: ReportSections = case_report_sections()

    @classmethod
    def from_url(
        cls,
        url: str,
        policy: Policy | None = None,
        *,
        create_tables: bool = False,
        **kwargs: Any,
    ) -> Self:
        """Convenience for scripts and tests: an engine from ``url`` (tables created if asked)."""
        engine = create_engine(url)
        if create_tables:
            Base.metadata.create_all(engine)
        return cls(sessionmaker(engine), policy or load_policy(None), **kwargs)

    # --- transactions and refusals -----------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error. It starts
        by reading which policy is in force (:meth:`_follow_policy`), so that every decision
        taken in it follows a policy approved since, by this process or another."""
        lock = self.transaction_lock
        if lock is not None:
            lock.acquire()
        s = self.session_factory()
        try:
            self._follow_policy(s)
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()
            if lock is not None:
                lock.release()
        last = s.info.pop(_RECORDED, None)
        if last is not None:
            self._checkpoint_if_due(last)

    def _audit(self, s: Session) -> AuditLog:
        return AuditLog(s, self.clock, on_record=lambda e: s.info.__setitem__(_RECORDED, e))

    def run(
        self,
        actor: str,
        action: str,
        asked: Mapping[str, Any],
        fn: Callable[[Session, AuditLog], T],
    ) -> T:
        """The unit of work: ``fn(session, audit)`` in one transaction that commits with its
        audit entries; a :class:`RefusedError` it raises rolls the transaction back, is logged
        (``actor``, ``action``, what was ``asked``, the reason) and raised again."""
        self._ensure_policy_recorded(actor)
        try:
            with self.session() as s:
                return fn(s, self._audit(s))
        except RefusedError as exc:
            self._log_refusal(actor, exc.action or action, exc.reason, asked)
            raise

    def require_role(
        self, actor: str, action: str, role: Role, asked: Mapping[str, Any] | None = None
    ) -> None:
        """Refuse (and log the refusal) unless ``actor`` is an active user holding ``role``.

        For acts governed outside this class, such as ingest and deleting faces."""
        self.run(
            actor,
            action,
            dict(asked or {}),
            lambda s, _a: users.require_user(s, actor, action, [role]),
        )

    def refuse(
        self, actor: str, action: str, reason: str, asked: Mapping[str, Any] | None = None
    ) -> NoReturn:
        """Log a refusal decided outside this class (e.g. a search without a case), then
        raise it."""
        self._ensure_policy_recorded(actor)
        self._log_refusal(actor, action, reason, dict(asked or {}))
        raise RefusedError(action, reason)

    def log_refusal(
        self, actor: str, action: str, reason: str, asked: Mapping[str, Any] | None = None
    ) -> None:
        """Log a refusal decided outside this class without raising (e.g. an HTTP request
        without credentials, a failed CSRF check, a rate limit)."""
        self._ensure_policy_recorded(actor)
        self._log_refusal(actor, action, reason, dict(asked or {}))

    def _log_refusal(self, actor: str, action: str, reason: str, asked: Mapping[str, Any]) -> None:
        with self.session() as s:
            self._audit(s).record(
                actor or "(none)", f"{action}.refused", {**asked, "reason": reason}
            )

    # --- the policy in force -----------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The policy in force: the latest approved policy in the database (see
        :meth:`_ensure_policy_recorded`), which need not be the policy file's, as of this
        object's latest transaction (each one starts by checking it: :meth:`_follow_policy`)."""
        if self._in_force is None:
            self._ensure_policy_recorded("(none)")
        assert self._in_force is not None
        return self._in_force[1]

    def refresh_policy(self) -> Policy:
        """The policy in force now: read in a transaction of its own (one indexed query, and
        a parse only when it changed)."""
        self._ensure_policy_recorded("(none)")
        with self.session():
            pass
        return self.policy

    def policy_status(self) -> dict[str, Any]:
        """The policy in force, the policy file's, and the pending change (its id) when they
        differ: ``{"in_force": Policy, "file": Policy, "pending_change": int | None}``."""
        self._ensure_policy_recorded("(none)")
        pending = None
        with self.session() as s:
            in_force = self.policy
            if self.policy_file.sha256 != in_force.sha256:
                row = changes.pending_for(s, "policy", self.policy_file.sha256)
                pending = row.id if row is not None else None
        return {"in_force": in_force, "file": self.policy_file, "pending_change": pending}

    def pending_policy(self) -> changes.PendingPolicy | None:
        """The policy change waiting for two administrators (whichever process recorded it),
        if any: read, not logged (the policy in force is public to every signed-in user)."""
        with self.session() as s:
            return changes.pending_policy(s)

    def pending_policy_change(self) -> int | None:
        """The id of the pending change that would put the policy file in force, if any."""
        found: int | None = self.policy_status()["pending_change"]
        return found

    def _follow_policy(self, s: Session) -> None:
        """At the start of a transaction: put in force the latest approved policy when it is
        not the one held (another process, or this one, approved a new one). The check is one
        indexed ``max(id)`` of ``gov_policy_versions``; the text is read and parsed only when
        the id changed. Until the policy is first settled (:meth:`_ensure_policy_recorded`)
        there is nothing to follow."""
        held = self._in_force
        if held is None:
            return
        latest = s.connection().exec_driver_sql(_LATEST_POLICY).scalar()
        if latest is None or latest == held[0]:
            return
        row = s.get(PolicyVersion, latest)
        if row is None:  # pragma: no cover - a version row is never deleted
            return
        policy = self._policy_of(row)
        if policy.audit != held[1].audit:
            self._checkpointer = None  # the automatic checkpoints follow the new [audit]
        self._in_force = (latest, policy)
        log.info("policy %s (version %d) is now in force", policy.sha256[:12], latest)

    def _policy_of(self, row: PolicyVersion) -> Policy:
        """The policy a version row holds (the policy file itself when it is the file's, so
        that relative paths in it stay relative to the file)."""
        if row.sha256 == self.policy_file.sha256:
            return self.policy_file
        return parse_policy(row.text, source=row.source)

    def _ensure_policy_recorded(self, actor: str) -> None:
        """Settle the policy in force, once per object. It is the latest approved policy in the
        database: the first policy ever (an empty table) goes in force at once
        (``policy.activate``); a policy file whose SHA-256 differs from the one in force
        becomes a pending change (recorded once, ``policy.requested``), which two
        administrators approve (:mod:`.changes`), and until then the text in force is used.
        Its own transaction, so a refusal cannot roll it back. Afterwards each transaction
        follows the latest approved version (:meth:`_follow_policy`)."""
        if self._in_force is not None:
            return
        file = self.policy_file
        with self.session() as s:
            latest = s.execute(
                select(PolicyVersion).order_by(PolicyVersion.id.desc()).limit(1)
            ).scalar_one_or_none()
            audit = self._audit(s)
            if latest is None:
                latest = self._record_policy_version(s, audit, file, actor or "(none)", None)
                in_force = file
            elif latest.sha256 == file.sha256:
                in_force = file
            else:
                in_force = self._policy_of(latest)
                # a file that was in force before (replaced since, e.g. from the web app) is
                # stale, not a change: an operator going back to it asks for it (the CLI's
                # ``change policy FILE``, or the Policy page)
                was_in_force = s.execute(
                    select(PolicyVersion.id).where(PolicyVersion.sha256 == file.sha256).limit(1)
                ).scalar_one_or_none()
                if was_in_force is None and not changes.ever_requested(s, "policy", file.sha256):
                    changes.supersede(s, audit, "policy", file.sha256)
                    changes.request(
                        s,
                        audit,
                        changes.SYSTEM,
                        "policy",
                        file.sha256,
                        {"text": file.text, "source": file.source, "first_used_by": str(actor)},
                        f"put policy {file.sha256[:12]} ({file.source}) in force",
                        self.clock(),
                        {
                            "first_used_by": actor,
                            "policy_sha256": file.sha256,
                            "in_force_sha256": latest.sha256,
                            "source": file.source,
                        },
                    )
            version = latest.id
        if self._in_force is None:
            self._in_force = (version, in_force)

    def _record_policy_version(
        self,
        s: Session,
        audit: AuditLog,
        policy: Policy,
        actor: str,
        change_id: int | None,
    ) -> PolicyVersion:
        previous = s.execute(
            select(PolicyVersion.sha256).order_by(PolicyVersion.id.desc()).limit(1)
        ).scalar_one_or_none()
        row = PolicyVersion(
            sha256=policy.sha256,
            text=policy.text,
            source=policy.source,
            activated_at=self.clock(),
            activated_by=actor,
        )
        s.add(row)
        s.flush()
        details: dict[str, Any] = {
            "first_used_by": actor,
            "policy_sha256": policy.sha256,
            "previous_sha256": previous,
            "source": policy.source,
            "purposes": [p.key for p in policy.purposes],
        }
        if change_id is not None:
            details["change_id"] = change_id
        audit.record("system" if change_id is None else actor, "policy.activate", details)
        return row

    def _apply_policy_change(
        self, s: Session, audit: AuditLog, row: PendingChange, approver: str
    ) -> None:
        """Put an approved policy change in force: the text that was asked for (and shown to
        the approvers), whatever the file holds now."""
        text = str(row.payload.get("text", ""))
        policy = parse_policy(text, source=str(row.payload.get("source", "<approved>")))
        if policy.sha256 != row.target:
            raise RefusedError("change.approve", f"change {row.id}: the policy text was altered")
        self._record_policy_version(s, audit, policy, approver, row.id)

    # --- audit -------------------------------------------------------------------------------

    def record(
        self,
        actor: str,
        action: str,
        details: Mapping[str, Any] | None = None,
        *,
        case: str | None = None,
    ) -> Entry:
        """Append an audit entry in its own transaction (e.g. for ingest and deletions).

        To log atomically with your own database work, use
        ``AuditLog(session).record(...)`` in your session instead.
        """
        self._ensure_policy_recorded(actor)
        with self.session() as s:
            return self._audit(s).record(actor, action, details, case=case)

    def protected_dirs(self) -> list[Path]:
        """Folders a signing key must not be in: the policy file's folder (the data directory)
        and the SQLite database's folder."""
        dirs = []
        if not self.policy.source.startswith("<"):
            dirs.append(Path(self.policy.source).parent)
        with self.session_factory() as s:
            url = s.get_bind().engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            dirs.append(Path(url.database).parent)
        return dirs

    def signing_key(self, path: Path | None = None) -> ckpt.Ed25519PrivateKey:
        """The checkpoint signing key (``path``, or the one the settings name), refused if it
        is kept in the data directory."""
        return ckpt.load_signing_key(path, env=self.signing_env, protected=self.protected_dirs())

    def checkpoint(
        self, actor: str, out: Path, key: ckpt.Ed25519PrivateKey
    ) -> tuple[ckpt.Checkpoint, Path]:
        """Sign the log's head (after verifying the whole chain) and write it to ``out``
        (auditors and administrators; logged as ``audit.checkpoint``)."""

        def fn(s: Session, audit: AuditLog) -> tuple[ckpt.Checkpoint, Path]:
            users.require_user(s, actor, "audit.checkpoint", {Role.AUDITOR, Role.ADMINISTRATOR})
            result = audit.verify()
            if not result.ok:
                raise GovernanceError(f"{result.summary()}: no checkpoint signed")

            def write(cp: ckpt.Checkpoint) -> Path:
                ckpt.write_atomically(out, cp.to_json())
                return out

            return self._sign_head(s, audit, actor, key, write, automatic=False)

        return self.run(actor, "audit.checkpoint", {"out": str(out)}, fn)

    def latest_checkpoint(self, s: Session) -> ckpt.Checkpoint | None:
        return ckpt.latest_recorded(s)

    def _sign_head(
        self,
        s: Session,
        audit: AuditLog,
        actor: str,
        key: ckpt.Ed25519PrivateKey,
        write: Callable[[ckpt.Checkpoint], Path],
        *,
        automatic: bool,
    ) -> tuple[ckpt.Checkpoint, Path]:
        row = ckpt.head_entry(s)
        if row is None:
            raise GovernanceError("the audit log has no head entry: nothing to checkpoint")
        cp = ckpt.sign_head(key, row.seq, row.hash, row.ts, self.clock())
        path = write(cp)
        audit.record(
            actor, "audit.checkpoint", {**cp.as_dict(), "file": str(path), "automatic": automatic}
        )
        return cp, path

    def _auto_checkpointer(self) -> ckpt.AutoCheckpointer | None:
        """The policy's automatic checkpoints ([audit] section), made on first use."""
        if self._checkpointer is None and self.policy.audit is not None:
            folder = Path(self.policy.audit.checkpoint_folder).expanduser()
            if not folder.is_absolute() and not self.policy.source.startswith("<"):
                folder = Path(self.policy.source).parent / folder
            self._checkpointer = ckpt.AutoCheckpointer(
                folder,
                self.policy.audit.checkpoint_every_entries,
                self.policy.audit.checkpoint_every_minutes,
            )
        return self._checkpointer

    def _checkpoint_if_due(self, last: Entry) -> None:
        """After a commit that recorded ``last``: write an automatic checkpoint when one is due.
        A failure never undoes the committed work: it is logged (once) and checkpoints stop."""
        if last.action.startswith("audit.checkpoint"):
            return
        auto = self._auto_checkpointer()
        if auto is None or not auto.due(last.seq, self.clock()):
            return
        try:
            if self._signing_key is None:
                self._signing_key = self.signing_key()
            key = self._signing_key
            with self.session() as s:
                previous = auto.last
                start = (previous.seq, previous.entry_hash) if previous else (0, "")
                problem = segment_problem(s, *start)
                if problem is not None:
                    raise GovernanceError(
                        f"the audit log does not verify since the last checkpoint ({problem})"
                    )
                self._sign_head(s, self._audit(s), "system", key, auto.write, automatic=True)
        except (GovernanceError, OSError) as exc:
            auto.disabled_reason = str(exc)
            log.warning("automatic audit checkpoints stopped: %s", exc)
            with self.session() as s:
                self._audit(s).record(
                    "system",
                    "audit.checkpoint.failed",
                    {"reason": str(exc), "folder": str(auto.folder)},
                )
