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
from pydantic import BaseModel, ConfigDict, Field

from facesearch.app.service import Service
from facesearch.media.service import DecisionView, MediaService
from facesearch.serve.api.deps import CurrentPrincipal, PathId, ServiceDep
from facesearch.serve.api.schemas import Id

router = APIRouter(prefix="/cases/{number}/media", tags=["persons"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


Note = Annotated[str, Field(default="", max_length=10000, description="Why (kept with it).")]


class ClusterFaceOut(BaseModel):
    face_id: int
    file: str
    frame_ms: int | None


class ClusterOut(BaseModel):
    cluster: int
    name: str | None
    hidden: bool
    reviewed: bool
    faces: list[ClusterFaceOut]


class NameIn(_In):
    """Name (or label) the person; kept across re-clustering."""

    action: Literal["name"]
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    note: Note = ""


class HideIn(_In):
    """Hide the person from the list (``hide``), or list it again (``show``)."""

    action: Literal["hide", "show"]
    note: Note = ""


class MergeIn(_In):
    """Merge the person ``other`` into this one (refused if both hold a face of one photo)."""

    action: Literal["merge"]
    other: Id
    note: Note = ""


class FacesIn(_In):
    """``split``: take these faces of the person out into a new person; ``move``: put these
    faces (of any person of the case) into this one."""

    action: Literal["split", "move"]
    faces: list[Id] = Field(min_length=1, max_length=10000)
    note: Note = ""


DecisionIn = Annotated[NameIn | HideIn | MergeIn | FacesIn, Field(discriminator="action")]


class DecisionOut(BaseModel):
    decision_id: int
    action: str
    actor: str
    at: datetime | None = Field(description="When it was recorded (lists of decisions).")
    cluster: int = Field(description="The person decided on.")
    name: str | None = None
    previous_name: str | None = None
    hidden: bool | None = None
    merged: int | None = Field(default=None, description="The person merged into `cluster`.")
    new_cluster: int | None = Field(default=None, description="The person a split made.")
    faces: list[int] = Field(default_factory=list)
    from_clusters: list[int] = Field(default_factory=list, description="Where moved faces were.")
    note: str = ""


def _media(service: Service) -> MediaService:
    return MediaService(service.governance, service.gallery)


def _decision_out(
    decision_id: int, action: str, actor: str, at: datetime | None, d: dict[str, Any]
) -> DecisionOut:
    return DecisionOut(
        decision_id=decision_id,
        action=action,
        actor=actor,
        at=at,
        cluster=int(d["cluster"]),
        name=d.get("name"),
        previous_name=d.get("previous"),
        hidden=d.get("hidden"),
        merged=d.get("merged"),
        new_cluster=d.get("new_cluster"),
        faces=[int(f) for f in d.get("faces") or []],
        from_clusters=[int(f) for f in d.get("from") or []],
        note=str(d.get("note") or ""),
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
    return [
        ClusterOut(
            cluster=v.cluster,
            name=v.name,
            hidden=v.hidden,
            reviewed=v.reviewed,
            faces=[
                ClusterFaceOut(face_id=f.face_id, file=f.file, frame_ms=f.frame_ms) for f in v.faces
            ],
        )
        for v in views
    ]


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
    views: list[DecisionView] = _media(service).decisions(who.username, number)
    return [_decision_out(v.decision_id, v.action, v.actor, v.at, v.details) for v in views]
