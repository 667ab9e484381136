"""Two-person confirmation of an identification: an examiner's independent verification of a
possible match, and a case's possible matches with their reviews, verifications and status
(the caller's view: other examiners' names, notes and verdicts withheld until they record
their own), and, for supervisors, those of every open case (the disputes to resolve)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.schemas import (
    CandidateStatus,
    IdentificationOut,
    VerificationIn,
    VerificationOut,
)
from facesearch.serve.api.schemas_cases import CaseIdentificationOut

router = APIRouter(tags=["identifications"])


@router.post("/searches/{search_id}/verifications", response_model=VerificationOut, status_code=201)
def verify(
    search_id: PathId, body: VerificationIn, who: CurrentPrincipal, service: ServiceDep
) -> VerificationOut:
    """Record your independent verdict on a candidate reviewed as a possible match: refused
    for the searcher, the possible-match reviewer, auditors, administrators and people not
    assigned to the case (supervisors may verify)."""
    v = service.searches.verify(who, search_id, body.face_id, body.verdict, body.note, body.basis)
    return VerificationOut.model_validate(v)


@router.get("/cases/{number}/identifications", response_model=list[IdentificationOut])
def identifications(
    number: str,
    who: CurrentPrincipal,
    service: ServiceDep,
    status: Annotated[CandidateStatus | None, Query()] = None,
) -> list[IdentificationOut]:
    """The case's possible matches (``status=disputed``: the supervisor's list of disputes)."""
    return [
        IdentificationOut.model_validate(i)
        for i in service.searches.identifications(who, number, status)
    ]


@router.get("/identifications", response_model=list[CaseIdentificationOut])
def identifications_across(
    who: CurrentPrincipal,
    service: ServiceDep,
    status: Annotated[CandidateStatus | None, Query()] = None,
) -> list[CaseIdentificationOut]:
    """Supervisors: the possible matches of every open case (``status=disputed``: the
    disputes to resolve; ``status=possible_match``: those awaiting verification)."""
    return [
        CaseIdentificationOut.model_validate(i) for i in service.cases.identifications(who, status)
    ]
