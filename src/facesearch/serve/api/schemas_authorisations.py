"""Request and response models of search authorisations, deletion receipts and the Art. 12(3)
record of a search."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from facesearch.serve.api.schemas import Out, UtcDateTime


class AuthorisationOut(Out):
    id: int
    case: str
    kind: str = Field(description="judicial_warrant, administrative, urgent or not_required")
    kind_label: str
    authority: str
    reference: str
    issued_on: UtcDateTime | None
    reason: str
    status: str = Field(
        description="granted or refused; an urgent use: pending, authorised, refused, expired"
    )
    deadline_at: UtcDateTime | None = Field(description="an urgent use's deadline")
    resolved_at: UtcDateTime | None
    scan_sha256: str | None
    scan_type: str | None
    scan_size: int | None
    recorded_by: str
    recorded_at: UtcDateTime
    validated_by: str | None
    validated_at: UtcDateTime | None
    receipt_id: int | None = Field(description="the deletion receipt, if its searches went")
    searches: int = Field(description="searches run under it")
    awaiting: bool = Field(description="an urgent use whose authorisation is not recorded yet")


class ReceiptOut(Out):
    id: int
    case: str
    reason: str = Field(description="expired (deadline passed) or refused")
    created_at: UtcDateTime
    signed: bool
    key_fingerprint: str | None
    searches: list[int]
    audit_seq: int | None


class ReceiptDocumentOut(Out):
    """The signed receipt: Ed25519 over the canonical JSON of ``receipt``."""

    format: str
    receipt: dict[str, Any]
    public_key: str
    signature: str
    unsigned: str | None


class SearchRecordOut(Out):
    """The Art. 12(3) record of a search."""

    format: str
    search_id: int
    case: str
    purpose: str
    user: str
    started_at: UtcDateTime
    ended_at: UtcDateTime
    gallery_generation: int | None
    collections: list[str] | str = Field(description='the collections searched, or "all"')
    probe: dict[str, Any]
    probes: list[dict[str, Any]]
    model: str
    model_sha256: str
    policy_sha256: str
    results_deleted_at: UtcDateTime | None
    candidates: list[dict[str, Any]]
    reviewers: list[str]
    verifiers: list[str]
    authorisation: dict[str, Any] | None
    audit_seq: int | None
