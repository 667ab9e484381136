"""The persons found in a case's media (its clusters of faces) and a person's review decisions
on them: name, hide or show a person, merge two persons, split faces off into a new person,
move faces into a person. Governed like ``facesearch media name|hide|show|merge|split|move``:
the case's assigned investigators and supervisors only, a decision needs the case open; every
decision is recorded (``media_cluster_decisions``), audited (``media.person.<action>``) and kept
by later re-clustering; every refusal is logged. Searching the gallery with a person's best
faces is a search (``POST /cases/{number}/media/clusters/{cluster}/searches``, routers/searches).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from facesearch.app.media import MediaService, media_service
from facesearch.app.service import Service
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.schemas import Id

router = APIRouter(prefix="/cases/{number}/media", tags=["persons"])


class _DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


Note = Annotated[str, Field(default="", max_length=10000, description="Why (kept with it).")]


class _PersonOut(BaseModel):
    """Read from the media acts' results: dataclasses (attributes) or dicts."""

    model_config = ConfigDict(from_attributes=True)


class ClusterFaceOut(_PersonOut):
    face_id: int
    file: str
    frame_ms: int | None


class ClusterOut(_PersonOut):
    cluster: int
    name: str | None
    hidden: bool
    reviewed: bool
    faces: list[ClusterFaceOut]
    best_face: int | None = Field(
        default=None, description="The face of the best quality: the person's picture."
    )


class NameIn(_DecisionBody):
    """Name (or label) the person; kept across re-clustering."""

    action: Literal["name"]
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    note: Note = ""


class HideIn(_DecisionBody):
    """Hide the person from the list (``hide``), or list it again (``show``)."""

    action: Literal["hide", "show"]
    note: Note = ""


class MergeIn(_DecisionBody):
    """Merge the person ``other`` into this one (refused if both hold a face of one photo)."""

    action: Literal["merge"]
    other: Id
    note: Note = ""


class FacesIn(_DecisionBody):
    """``split``: take these faces of the person out into a new person; ``move``: put these
    faces (of any person of the case) into this one."""

    action: Literal["split", "move"]
    faces: list[Id] = Field(min_length=1, max_length=10000)
    note: Note = ""


DecisionIn = Annotated[NameIn | HideIn | MergeIn | FacesIn, Field(discriminator="action")]


class DecisionOut(_PersonOut):
    """A recorded decision; read from what the decision answered (its ``details``), where
    ``previous`` is ``previous_name`` and ``from`` is ``from_clusters``."""

    decision_id: int
    action: str
    actor: str
    at: datetime | None = Field(description="When it was recorded (lists of decisions).")
    cluster: int = Field(description="The person decided on.")
    name: str | None = None
    previous_name: str | None = Field(
        default=None, validation_alias=AliasChoices("previous_name", "previous")
    )
    hidden: bool | None = None
    merged: int | None = Field(default=None, description="The person merged into `cluster`.")
    new_cluster: int | None = Field(default=None, description="The person a split made.")
    faces: list[int] = Field(default_factory=list)
    from_clusters: list[int] = Field(
        default_factory=list,
        validation_alias=AliasChoices("from_clusters", "from"),
        description="Where moved faces were.",
    )
    note: str = ""


def _media(service: Service) -> MediaService:
    """The media acts with the server's settings (the same media settings as the CLI's)."""
    return media_service(service)


def _decision_out(
    decision_id: int, action: str, actor: str, at: datetime | None, details: dict[str, Any]
) -> DecisionOut:
    return DecisionOut.model_validate(
        {**details, "decision_id": decision_id, "action": action, "actor": actor, "at": at}
    )


@router.get("/clusters", response_model=list[ClusterOut])
def clusters(
    number: str,
    who: CurrentPrincipal,
    service: ServiceDep,
    include_hidden: Annotated[bool, Query()] = False,
) -> list[ClusterOut]:
    """The persons found, largest first (hidden ones only with ``include_hidden``)."""
    views = _media(service).clusters(who.username, number, include_hidden=include_hidden)
    return [ClusterOut.model_validate(v) for v in views]


@router.post(
    "/clusters/{cluster}/decisions",
    response_model=DecisionOut,
    status_code=201,
    responses={403: {"description": "not the case's, case not open, or the decision refused"}},
)
def decide(
    number: str, cluster: PathId, body: DecisionIn, who: CurrentPrincipal, service: ServiceDep
) -> DecisionOut:
    """Record a review decision on the person ``cluster`` (audited as ``media.person.<action>``)."""
    kw: dict[str, Any] = {"cluster": cluster, "note": body.note}
    if isinstance(body, NameIn):
        kw["name"] = body.name
    elif isinstance(body, MergeIn):
        kw["other"] = body.other
    elif isinstance(body, FacesIn):
        kw["faces"] = list(body.faces)
    details = _media(service).decide(who.username, number, body.action, **kw)
    return _decision_out(details["decision_id"], body.action, who.username, None, details)


@router.get("/decisions", response_model=list[DecisionOut])
def decisions(number: str, who: CurrentPrincipal, service: ServiceDep) -> list[DecisionOut]:
    """Every review decision on the case's persons, oldest first (logged)."""
    views = _media(service).decisions(who.username, number)
    return [_decision_out(v.decision_id, v.action, v.actor, v.at, v.details) for v in views]
