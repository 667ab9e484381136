"""Models of the audit-log browser: entries (a page, one entry) and the checkpoint state."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class AuditEntryOut(BaseModel):
    seq: int
    ts: str
    actor: str
    action: str
    case: str | None
    outcome: Literal["ok", "refused", "failed"]
    summary: str
    details: dict[str, Any]
    hash: str
    prev_hash: str


class CheckpointOut(BaseModel):
    seq: int
    entry_hash: str
    entry_ts: str
    signed_at: str
    key_id: str
    held: bool
    problems: list[str]


class AuditStateOut(BaseModel):
    head_seq: int
    head_hash: str
    checkpoint: CheckpointOut | None
    entries_since: int
