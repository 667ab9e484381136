"""Deletion receipts: what was deleted when an urgent use was not authorised in time (or was
refused), as hashes, signed with the audit checkpoint key (``govern/checkpoint.py``).

A receipt file is JSON::

    {"format": "facesearch-deletion-receipt/1",
     "receipt": {...what was deleted: the case, the searches, the SHA-256 of each item...},
     "public_key": "<hex>", "signature": "<hex>", "unsigned": null}

The signature is Ed25519 over the canonical JSON of ``receipt`` (sorted keys, no spaces).
Deletion never waits for a key: when no signing key is configured the receipt is still
written and logged, with an empty signature and ``unsigned`` saying why; such a receipt
never verifies. Verify a receipt against a *trusted* public key (the checkpoint key's
``.pub``), never the key it carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from facesearch.govern.audit import AuditLog, canonical_json
from facesearch.govern.authorisations_schema import DeletionReceipt
from facesearch.govern.checkpoint import fingerprint, public_key_hex
from facesearch.govern.errors import RefusedError
from facesearch.govern.schema import Case

FORMAT = "facesearch-deletion-receipt/1"
UNSIGNED = (
    "no audit signing key was configured (FACESEARCH_AUDIT_KEY or FACESEARCH_AUDIT_KEY_PEM): "
    "the data was deleted but this receipt is not signed"
)


@dataclass(frozen=True)
class ReceiptView:
    id: int
    case: str
    reason: str
    created_at: datetime
    signed: bool
    key_fingerprint: str | None
    searches: list[int]
    audit_seq: int | None

    @classmethod
    def of(cls, row: DeletionReceipt) -> ReceiptView:
        body = json.loads(row.body)
        return cls(
            row.id,
            row.case.number,
            row.reason,
            row.created_at,
            bool(row.signature),
            fingerprint(row.public_key)[:16] if row.public_key else None,
            [int(s["search_id"]) for s in body.get("searches", [])],
            row.audit_seq,
        )


def write_receipt(
    session: Session,
    audit: AuditLog,
    actor: str,
    case: Case,
    reason: str,
    content: dict[str, Any],
    key: Ed25519PrivateKey | None,
    now: datetime,
) -> DeletionReceipt:
    """Sign ``content`` (what was deleted), keep the receipt and log it (the whole receipt is
    in the audit entry: the log keeps it for good)."""
    row = DeletionReceipt(
        case_id=case.id, created_at=now, reason=reason, body="{}", signature="", public_key=""
    )
    session.add(row)
    session.flush()
    body = {"receipt_id": row.id, "case": case.number, "reason": reason, **content}
    text = canonical_json(body)
    row.body = text
    if key is not None:
        row.signature = key.sign(text.encode("utf-8")).hex()
        row.public_key = public_key_hex(key.public_key())
    entry = audit.record(
        actor,
        "authorisation.deletion_receipt",
        {
            "case": case.number,
            "receipt_id": row.id,
            "reason": reason,
            "receipt": body,
            "signature": row.signature,
            "public_key": row.public_key,
            "unsigned": None if key is not None else UNSIGNED,
        },
    )
    row.audit_seq = entry.seq
    session.flush()
    return row


def receipt_document(row: DeletionReceipt) -> dict[str, Any]:
    """The downloadable receipt (see the module docstring)."""
    return {
        "format": FORMAT,
        "receipt": json.loads(row.body),
        "public_key": row.public_key,
        "signature": row.signature,
        "unsigned": None if row.signature else UNSIGNED,
    }


def require_receipt(session: Session, receipt_id: int, action: str) -> DeletionReceipt:
    row = session.get(DeletionReceipt, receipt_id)
    if row is None:
        raise RefusedError(action, f"no receipt {receipt_id}")
    return row


def verify_receipt(document: Any, trusted: Ed25519PublicKey) -> list[str]:
    """The problems of a receipt document under the ``trusted`` public key (empty: it
    verifies: it was signed with that key and not altered)."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return [f"not a deletion receipt (format {FORMAT!r} expected)"]
    body, signature = document.get("receipt"), document.get("signature")
    if not isinstance(body, dict):
        return ["the receipt has no 'receipt' object"]
    if not signature:
        return [f"the receipt is not signed: {document.get('unsigned') or 'no signature'}"]
    if document.get("public_key") and document["public_key"] != public_key_hex(trusted):
        return ["the receipt was signed with another key than the trusted public key"]
    try:
        trusted.verify(bytes.fromhex(str(signature)), canonical_json(body).encode("utf-8"))
    except (InvalidSignature, ValueError):
        return ["the signature does not verify: the receipt was altered or forged"]
    return []
