"""Authorisations of searches, urgent use and its deadline, deletion receipts and the
Art. 12(3) record of a search (``facesearch.govern.authorisations``, ``.receipts``,
``.search_record``): each step one governed transaction with its audit entries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from facesearch.app.accounts import LOCAL_OPERATOR
from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.govern import authorisations as authz
from facesearch.govern import checkpoint as ckpt
from facesearch.govern import receipts
from facesearch.govern.audit import as_utc
from facesearch.govern.authorisations import AuthorisationView, NewAuthorisation
from facesearch.govern.authorisations_schema import DeletionReceipt
from facesearch.govern.cases import can_read_case, require_case
from facesearch.govern.errors import NotVisibleError
from facesearch.govern.receipts import ReceiptView
from facesearch.govern.search_record import search_record
from facesearch.govern.users import Role, has_role, require_user
from facesearch.store.crypto import maybe_decrypt

RECEIPT_READERS = {Role.SUPERVISOR, Role.ADMINISTRATOR, Role.AUDITOR}


class Authorisations:
    """Authorisations of a case's searches, enforcement of urgent-use deadlines, receipts."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        now: datetime = self.ctx.governance.clock()
        return now

    def _key(self) -> Ed25519PrivateKey | None:
        """The audit checkpoint signing key, or None when none is configured (receipts are
        then written unsigned, and say so)."""
        try:
            return self.ctx.governance.signing_key()
        except ckpt.CheckpointError:
            return None

    def record(self, who: Principal, number: str, new: NewAuthorisation) -> AuthorisationView:
        now, gov = self._now(), self.ctx.governance
        key = self._key() if new.kind in authz.DOCUMENTS and not new.granted else None
        found: AuthorisationView = gov.run(
            who.username,
            "authorisation.record",
            {"case": number, "kind": new.kind, "granted": new.granted},
            lambda s, a: authz.record_authorisation(
                s, a, gov.policy, gov.cipher, key, who.username, number, new, now
            ),
        )
        return found

    def validate(self, who: Principal, authorisation_id: int) -> AuthorisationView:
        now = self._now()
        found: AuthorisationView = self.ctx.governance.run(
            who.username,
            "authorisation.validate",
            {"authorisation": authorisation_id},
            lambda s, a: authz.validate(s, a, who.username, authorisation_id, now),
        )
        return found

    def of_case(self, who: Principal, number: str) -> list[AuthorisationView]:
        """The case's authorisations; an urgent use past its deadline is enforced first."""
        now, key = self._now(), self._key()

        def fn(s: Any, a: Any) -> list[AuthorisationView]:
            user = require_user(s, who.username, "authorisation.list")
            case = require_case(s, number, "authorisation.list")
            if can_read_case(user, case):
                authz.enforce(s, a, who.username, key, now, case)
            return authz.of_case(s, who.username, number)

        found: list[AuthorisationView] = self.ctx.governance.run(
            who.username, "authorisation.list", {"case": number}, fn
        )
        return found

    def deadlines(self, who: Principal) -> list[AuthorisationView]:
        """Urgent uses awaiting their authorisation; those past their deadline are enforced
        first (so a supervisor never sees a deadline that has passed)."""
        now, key = self._now(), self._key()

        def fn(s: Any, a: Any) -> list[AuthorisationView]:
            found = authz.deadlines(s, who.username)  # the role check first
            if any(x.deadline_at and as_utc(x.deadline_at) <= as_utc(now) for x in found):
                authz.enforce(s, a, who.username, key, now)
                found = authz.deadlines(s, who.username)
            return found

        found: list[AuthorisationView] = self.ctx.governance.run(
            who.username, "authorisation.deadlines", {}, fn
        )
        return found

    def enforce_due(self) -> int:
        """At server start: enforce the deadlines that passed while no server ran (the system
        acts, as the local operator); the number of receipts written."""
        now, key = self._now(), self._key()
        found: int = self.ctx.governance.run(
            LOCAL_OPERATOR,
            "authorisation.enforce",
            {},
            lambda s, a: len(authz.enforce(s, a, LOCAL_OPERATOR, key, now)),
        )
        return found

    def enforce(self, who: Principal, now: datetime | None = None) -> list[ReceiptView]:
        """Delete the searches of every urgent use past its deadline (administrators)."""
        when, key = now or self._now(), self._key()

        def fn(s: Any, a: Any) -> list[ReceiptView]:
            require_user(s, who.username, "authorisation.enforce", {Role.ADMINISTRATOR})
            rows = authz.enforce(s, a, who.username, key, when)
            a.record(who.username, "authorisation.enforce", {"now": when, "receipts": len(rows)})
            return [ReceiptView.of(r) for r in rows]

        found: list[ReceiptView] = self.ctx.governance.run(
            who.username, "authorisation.enforce", {}, fn
        )
        return found

    def scan(self, who: Principal, authorisation_id: int) -> tuple[bytes, str]:
        """The scan of an authorisation's document, decrypted, and its media type."""
        gov = self.ctx.governance

        def fn(s: Any, a: Any) -> tuple[bytes, str]:
            row, data = authz.scan_of(s, who.username, authorisation_id)
            a.record(
                who.username,
                "authorisation.scan",
                {"case": row.case.number, "authorisation": row.id, "sha256": row.scan_sha256},
            )
            aad = (row.scan_sha256 or "").encode()
            plain = maybe_decrypt(gov.cipher, data, aad=aad) if row.scan_encrypted else data
            return bytes(plain), row.scan_type or "application/octet-stream"

        found: tuple[bytes, str] = gov.run(
            who.username, "authorisation.scan", {"authorisation": authorisation_id}, fn
        )
        return found

    def receipts(self, who: Principal, number: str | None = None) -> list[ReceiptView]:
        """Deletion receipts, newest first (supervisors, administrators, auditors)."""

        def fn(s: Any, a: Any) -> list[ReceiptView]:
            require_user(s, who.username, "receipt.list", RECEIPT_READERS)
            q = select(DeletionReceipt).order_by(DeletionReceipt.id.desc())
            if number:
                q = q.where(DeletionReceipt.case_id == require_case(s, number, "receipt.list").id)
            return [ReceiptView.of(r) for r in s.scalars(q)]

        found: list[ReceiptView] = self.ctx.governance.run(
            who.username, "receipt.list", {"case": number}, fn
        )
        return found

    def receipt(self, who: Principal, receipt_id: int) -> dict[str, Any]:
        """The signed receipt document (supervisors, administrators, auditors, and the case's
        readers; audited)."""

        def fn(s: Any, a: Any) -> dict[str, Any]:
            user = require_user(s, who.username, "receipt.view")
            row = receipts.require_receipt(s, receipt_id, "receipt.view")
            if not can_read_case(user, row.case) and not has_role(user, Role.ADMINISTRATOR):
                raise NotVisibleError(
                    "receipt.view",
                    f"user {user.username!r} may not read case {row.case.number!r}",
                    f"no receipt {receipt_id}",
                )
            a.record(who.username, "receipt.view", {"case": row.case.number, "receipt_id": row.id})
            return receipts.receipt_document(row)

        found: dict[str, Any] = self.ctx.governance.run(
            who.username, "receipt.view", {"receipt_id": receipt_id}, fn
        )
        return found

    def search_record(self, who: Principal, search_id: int) -> dict[str, Any]:
        """The Art. 12(3) record of a search, JSON-ready."""
        found: dict[str, Any] = self.ctx.governance.run(
            who.username,
            "search.record",
            {"search_id": search_id},
            lambda s, a: search_record(s, a, who.username, search_id),
        )
        return json.loads(json.dumps(found, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
