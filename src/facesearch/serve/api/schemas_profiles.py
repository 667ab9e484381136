"""Request and response models of the jurisdiction profiles, training records and
collections' lawful basis."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from facesearch.serve.api.schemas import In, Out, PolicyCheckOut, UtcDateTime


class RequirementOut(Out):
    id: str
    rule: str = Field(description="the article or section it implements")
    does: str = Field(description="what facesearch does for it")
    kind: str = Field(description="gate, field, log, report, setting or agency")
    met: bool | None = Field(description="null: the agency's own job (not checked)")
    todo: str = Field(description="what to do when it is not met")


class ProfileRequirementsOut(Out):
    """A profile's requirements, checked against this installation."""

    profile: str
    title: str
    training_required: bool = Field(description="reviews and verifications need a training")
    basis_fields: list[str] = Field(description="what a collection's basis must hold")
    requirements: list[RequirementOut]
    unmet: int = Field(description="how many checked requirements are not met")


class PolicyValidateOut(PolicyCheckOut):
    """The check of a policy text and, when valid, what its profile requires."""

    profile: ProfileRequirementsOut | None = None


class TrainingIn(In):
    course: str = Field(min_length=1, max_length=200)
    completed_on: date
    expires_on: date | None = None


class TrainingOut(Out):
    id: int
    username: str
    course: str
    completed_on: date
    expires_on: date | None
    recorded_by: str
    recorded_at: UtcDateTime
    current: bool


class BasisIn(In):
    legal_basis: str = Field(min_length=1, max_length=4000)
    source_attestation: str = Field(default="", max_length=4000)
    dpia_reference: str = Field(default="", max_length=200)
    retention_rule: str = Field(default="", max_length=100)


class BasisOut(Out):
    collection: str
    recorded: bool
    legal_basis: str
    source_attestation: str
    dpia_reference: str
    retention_rule: str
    recorded_by: str | None
    recorded_at: UtcDateTime | None
    missing: list[str] = Field(description="fields the profile requires that are not recorded")
    searchable: bool
