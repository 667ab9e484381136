"""Request and response models of the reports that leave the system and of case outcomes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from facesearch.serve.api.schemas import In, Out, UtcDateTime

OutcomeKind = Literal[
    "victim_identified",
    "victim_safeguarded",
    "suspect_identified",
    "arrest",
    "charge",
    "conviction",
    "none",
]


class OutcomeIn(In):
    kind: OutcomeKind
    note: str = Field(default="", max_length=2000)


class OutcomeOut(Out):
    id: int
    case: str
    kind: str
    label: str
    at: UtcDateTime
    recorded_by: str
    note: str


class AnnualOut(Out):
    """The annual report: counts only (no names, no images); the offence category is the
    case's purpose."""

    start: str
    end: str
    generated_at: str
    category: str
    audit_log: dict[str, Any]
    totals: dict[str, int]
    by_category: dict[str, dict[str, int]]
    outcomes: dict[str, int]
    outcomes_by_category: dict[str, dict[str, int]]


class AccountabilityOut(Out):
    """What runs, how well it was measured to work, its limits, its data sources, the policy
    in force, and the incidents and suspensions recorded."""

    service: str
    version: str
    generated_at: str
    models: list[dict[str, Any]]
    limits: list[str]
    data_sources: list[dict[str, Any]]
    policy: dict[str, str]
    oversight: dict[str, int]
