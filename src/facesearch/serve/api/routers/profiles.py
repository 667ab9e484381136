"""The jurisdiction profile's requirements (what the policy's profile requires and what this
installation does not meet yet), users' training records, and collections' lawful basis."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from facesearch.app.types import NewBasis, Profile, RequirementStatus
from facesearch.serve.api.deps import CurrentPrincipal, ServiceDep
from facesearch.serve.api.schemas_profiles import (
    BasisIn,
    BasisOut,
    ProfileRequirementsOut,
    RequirementOut,
    TrainingIn,
    TrainingOut,
)

router = APIRouter(tags=["compliance"])
Username = Annotated[str, Path(min_length=1, max_length=100)]
CollectionName = Annotated[str, Path(min_length=1, max_length=200)]


def requirements_out(profile: Profile, found: list[RequirementStatus]) -> ProfileRequirementsOut:
    return ProfileRequirementsOut(
        profile=profile.name,
        title=profile.title,
        training_required=profile.training_required,
        basis_fields=list(profile.basis_fields),
        requirements=[RequirementOut.model_validate(r) for r in found],
        unmet=sum(1 for r in found if r.met is False),
    )


@router.get("/policy/requirements", response_model=ProfileRequirementsOut)
def requirements(who: CurrentPrincipal, service: ServiceDep) -> ProfileRequirementsOut:
    """What the profile of the policy in force requires, each requirement met or not here
    and what to do (administrators, supervisors, auditors)."""
    return requirements_out(*service.compliance.requirements(who))


@router.get("/trainings/expiring", response_model=list[TrainingOut])
def expiring(who: CurrentPrincipal, service: ServiceDep) -> list[TrainingOut]:
    """Trainings expired or expiring within 30 days and not renewed (administrators)."""
    return [TrainingOut.model_validate(t) for t in service.compliance.expiring_trainings(who)]


@router.get("/users/{username}/trainings", response_model=list[TrainingOut])
def trainings(username: Username, who: CurrentPrincipal, service: ServiceDep) -> list[TrainingOut]:
    """A user's trainings, newest first (the user; administrators, supervisors, auditors)."""
    return [TrainingOut.model_validate(t) for t in service.compliance.trainings(who, username)]


@router.post("/users/{username}/trainings", response_model=TrainingOut, status_code=201)
def record_training(
    username: Username, body: TrainingIn, who: CurrentPrincipal, service: ServiceDep
) -> TrainingOut:
    """Record a training a user completed (administrators; audited)."""
    found = service.compliance.record_training(
        who, username, body.course, body.completed_on, body.expires_on
    )
    return TrainingOut.model_validate(found)


@router.get("/collection-bases", response_model=list[BasisOut])
def bases(who: CurrentPrincipal, service: ServiceDep) -> list[BasisOut]:
    """Every collection with its lawful basis (recorded or not) and what the profile still
    requires before its faces are searched (administrators, supervisors, auditors)."""
    return [BasisOut.model_validate(b) for b in service.compliance.bases(who)]


@router.put("/collections/{name}/basis", response_model=BasisOut)
def record_basis(
    name: CollectionName, body: BasisIn, who: CurrentPrincipal, service: ServiceDep
) -> BasisOut:
    """Record a collection's legal basis, source attestation, DPIA/PIA reference and
    retention rule (administrators; audited; replaces what was recorded)."""
    new = NewBasis(
        body.legal_basis, body.source_attestation, body.dpia_reference, body.retention_rule
    )
    return BasisOut.model_validate(service.compliance.record_basis(who, name, new))
