"""Request (``...In``) and response (``...Out``) schemas of the API: separate, so a client can
never set a field the server owns (ids, times, audit numbers)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from facesearch.app.types import AuthMethod, as_utc, case_number_problem
from facesearch.serve.api.schemas_account import WellbeingOut

T = TypeVar("T")
# SQLite hands back naive datetimes (they are UTC): always send them with their offset
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
# ids are 32-bit integer columns in every catalog (PostgreSQL's integer)
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=0, le=MAX_ID)]

Username = Field(min_length=1, max_length=64)


class In(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response, read from the service's typed results by attribute (``model_validate``
    with ``from_attributes``): no field is copied by hand."""

    model_config = ConfigDict(from_attributes=True)


def _attributes(cls: type[BaseModel], obj: Any) -> dict[str, Any]:
    """The fields of ``cls`` that ``obj`` has, read by attribute (for the validators that add
    what the result object does not hold: links, boxes, the engine's probe faces)."""
    return {name: getattr(obj, name) for name in cls.model_fields if hasattr(obj, name)}


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# --- health and auth -------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str | None = Field(
        default=None, description="The server's version: only to a signed-in caller."
    )


class LoginIn(In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    auth: AuthMethod
    csrf_token: str | None = None
    session_expires_at: UtcDateTime | None = None
    wellbeing: WellbeingOut = Field(default_factory=WellbeingOut)  # schemas_account.py


class LoginOut(BaseModel):
    user: MeOut
    csrf_token: str
    expires_at: UtcDateTime


# --- users and tokens ------------------------------------------------------------------------


class UserIn(In):
    username: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(min_length=1, max_length=4)
    password: str | None = Field(default=None, max_length=1024)
    display_name: str = Field(default="", max_length=200)


class UserPatch(In):
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[str] | None = Field(default=None, min_length=1, max_length=4)
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)
    # your own password: the current one is needed (an administrator resetting another
    # user's password gives none, and that user must change it at next login)
    current_password: str | None = Field(default=None, max_length=1024)


class ChangeOut(Out):
    """A change waiting for (or decided by) a second administrator: the two-person rule."""

    id: int
    kind: Literal["user.add", "user.roles", "user.enable", "policy"]
    target: str
    summary: str
    status: Literal["pending", "approved", "rejected", "superseded"]
    requested_by: str
    requested_at: UtcDateTime
    decided_by: str | None
    decided_at: UtcDateTime | None
    note: str
    message: str = ""


class ChangeDecisionIn(In):
    note: str = Field(default="", max_length=2000)


class PasswordChangeIn(In):
    """Changing your own password: the current one proves who you are (no session needed: a
    user whose password an administrator reset cannot sign in until they change it)."""

    username: str = Username
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    active: bool
    created_at: UtcDateTime
    disabled_at: UtcDateTime | None
    must_change_password: bool = False
    # what waits for a second administrator after this request (granting administrator or
    # supervisor, re-enabling)
    pending_changes: list[ChangeOut] = []


class TokenIn(In):
    username: str | None = Field(default=None, max_length=64)
    name: str = Field(default="", max_length=200)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: int
    user: str
    name: str
    prefix: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    last_used_at: UtcDateTime | None


class TokenCreatedOut(BaseModel):
    id: int
    token: str


# --- gallery ---------------------------------------------------------------------------------


class CollectionOut(BaseModel):
    name: str
    images: int
    faces: int


class StatsOut(BaseModel):
    images: int
    faces: int
    searchable_faces: int
    flagged_faces: dict[str, int]
    provenance_records: int
    collections: int
    still_plain: int = Field(
        default=0,
        description="With an encryption key set: items still stored without it (sealed by "
        "'facesearch keys rotate --from-plain').",
    )
    still_plain_items: dict[str, int] = Field(
        default_factory=dict, description="``still_plain`` by kind of item."
    )
    seal_with: str | None = Field(
        default=None, description="The command that seals them, when there are any."
    )


# --- ingest ----------------------------------------------------------------------------------


class IngestPathIn(In):
    path: str = Field(min_length=1, max_length=4096)
    collection: str | None = Field(default=None, min_length=1, max_length=200)


class IngestJobOut(Out):
    id: int
    status: Literal["queued", "running", "completed", "cancelled", "failed", "interrupted"]
    sources: list[str]
    collection: str | None
    files_total: int
    files_done: int
    faces: int
    run_id: int | None
    counts: dict[str, Any] | None
    error: str | None
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    created_by: str
    resumes: int | None = Field(None, description="The interrupted job this one resumes.")
    resumed_by: int | None = Field(None, description="The job that resumed this one.")
    resumable: bool = Field(False, description="Interrupted and not yet resumed.")


class IngestRunOut(BaseModel):
    id: int
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    status: str
    sources: list[str]
    collection: str | None
    counts: dict[str, Any] | None
    reason: str | None = Field(None, description="Why it was interrupted, when known.")


class FailureOut(BaseModel):
    path: str
    reason: str


# --- cases -----------------------------------------------------------------------------------


def _case_number(value: str) -> str:
    problem = case_number_problem(value.strip())
    if problem is not None:
        raise ValueError(problem)
    return value


class CaseIn(In):
    number: Annotated[str, AfterValidator(_case_number)] = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=200)
    legal_authority: str = Field(min_length=1, max_length=2000)
    justification: str = Field(min_length=1, max_length=10000)


class NoteIn(In):
    note: str = Field(default="", max_length=10000)


class AssignIn(In):
    username: str = Field(min_length=1, max_length=64)


class CaseOut(Out):
    number: str
    status: str
    purpose_key: str
    purpose_name: str
    legal_authority: str
    justification: str
    requested_by: str
    requested_at: UtcDateTime
    decided_by: str | None
    decided_at: UtcDateTime | None
    decision_note: str | None
    opened_at: UtcDateTime | None
    closed_by: str | None
    closed_at: UtcDateTime | None
    close_note: str | None
    assigned: list[str]
    searches: int


# --- searches and reviews --------------------------------------------------------------------


class ProbeFaceOut(Out):
    index: int
    bbox: tuple[float, float, float, float]
    quality: float
    flags: list[str]


class ReviewIn(In):
    face_id: Id
    decision: Literal["possible_match", "not_a_match", "insufficient_quality", "withdrawn"]
    note: str = Field(default="", max_length=10000)


class ReviewOut(Out):
    decision: str
    note: str
    reviewer: str
    at: UtcDateTime
    # the reviewer and note withheld: the caller may verify this candidate and has not yet
    hidden: bool = False


class VerificationIn(In):
    face_id: Id
    verdict: Literal["confirm", "reject", "inconclusive"]
    note: str = Field(default="", max_length=10000)
    basis: str = Field(
        default="", max_length=2000, description='e.g. "FISWG morphological comparison"'
    )


class VerificationOut(Out):
    verdict: str
    note: str
    basis: str
    verifier: str
    at: UtcDateTime
    status: str = Field(default="", description="the candidate's status after it (on POST)")


CandidateStatus = Literal["lead", "possible_match", "confirmed", "disputed"]


class ExaminationOut(Out):
    """A candidate's two-person confirmation, as the caller may see it."""

    status: CandidateStatus = "lead"
    verifications: list[VerificationOut] = Field(default_factory=list)
    can_verify: bool = False
    awaiting_verification: bool = False
    verifications_hidden: int = 0


class IdentificationOut(ExaminationOut):
    search_id: int
    searcher: str
    searched_at: UtcDateTime
    face_id: int
    rank: int
    score: float
    band: str
    reviews: list[ReviewOut]


class ProvenanceOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    collection: str | None = None
    path: str | None = None
    source_url: str | None = None
    page_url: str | None = None
    title: str | None = None
    captured_at: UtcDateTime | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        """Values other than text, numbers and booleans are sent as text."""
        if not isinstance(data, dict):
            return data
        return {
            k: (v if isinstance(v, str | int | float | bool) or v is None else str(v))
            for k, v in data.items()
        }


class CandidateOut(ExaminationOut):
    rank: int
    face_id: int
    score: float
    band: str
    image_sha256: str | None
    provenance: list[ProvenanceOut]
    crop_url: str
    image_url: str
    thumbnail_url: str
    bbox: tuple[float, float, float, float] | None
    decision: str | None
    reviews: list[ReviewOut]
    # multi-probe searches: the best single probe's score, which probe, each probe's score
    # and the probes that matched (own score at or above the match band); ``score`` is the
    # score against the mean of the probes
    best_score: float | None = None
    best_band: str | None = None
    best_probe: int | None = None
    probe_scores: list[float] | None = None
    matched_probes: list[int] | None = None

    @model_validator(mode="before")
    @classmethod
    def _links(cls, data: Any, info: ValidationInfo) -> Any:
        """A candidate of the service's outcome, with the links to its pictures (within the
        search ``info.context["search_id"]``) and its box (``info.context["boxes"]``)."""
        if isinstance(data, dict) or not info.context:
            return data
        out = _attributes(cls, data)
        media = f"/api/v1/faces/{data.face_id}"
        query = f"?search_id={info.context['search_id']}"
        out["crop_url"] = f"{media}/crop{query}"
        out["image_url"] = f"{media}/image{query}"
        out["thumbnail_url"] = f"{media}/thumbnail{query}"
        out["bbox"] = info.context["boxes"].get(data.face_id)
        return out


class ClusterSearchIn(In):
    k: int | None = Field(default=None, ge=1, le=1000)
    probes: int = Field(default=5, ge=1, le=20, description="the cluster's N best faces")


class SearchProbeOut(Out):
    position: int
    sha256: str
    quality: float | None
    face: int | None
    media_face_id: int | None
    label: str


class SearchOut(Out):
    search_id: int
    case: str
    purpose: str
    user: str
    at: UtcDateTime
    probe_sha256: str
    probe_quality: float | None
    model: str
    model_sha256: str
    threshold: float | None
    thresholds: dict[str, float]
    k_requested: int
    k_used: int
    min_band_shown: str
    hidden_below_band: int
    hidden_suppressed: int
    audit_seq: int | None
    results_purged_at: UtcDateTime | None
    statement: str
    face: int | None
    probe_faces: list[ProbeFaceOut]
    gallery_size: int | None
    seconds: float | None
    candidates: list[CandidateOut]
    multi_probe: bool = False
    probes: list[SearchProbeOut] = Field(default_factory=list)
    cluster: int | None = None  # the media-set cluster whose faces were the probes
    quality_override: dict[str, Any] | None = None  # the supervised override it ran under

    @model_validator(mode="before")
    @classmethod
    def _with_engine(cls, data: Any, info: ValidationInfo) -> Any:
        """A recorded outcome, with what the engine said of the probe when it has just run
        (``info.context["view"]``, a ``SearchView``; absent when a search is read back)."""
        if isinstance(data, dict):
            return data
        out = _attributes(cls, data)
        view = (info.context or {}).get("view")
        out["face"] = view.face if view else None
        out["probe_faces"] = list(view.probe_faces) if view else []
        out["gallery_size"] = view.gallery_size if view else None
        out["seconds"] = view.seconds if view else None
        return out


class RevealIn(In):
    reason: str = Field(default="", max_length=2000)


class RevealOut(BaseModel):
    search_id: int
    face_id: int
    audit_seq: int


# --- audit -----------------------------------------------------------------------------------


class VerifyOut(Out):
    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


# --- removals --------------------------------------------------------------------------------


class RemovalMatchOut(Out):
    face_id: int
    score: float
    image_sha256: str | None


class RemovalPreviewOut(BaseModel):
    request_id: int
    matches: list[RemovalMatchOut]


class RemovalApplyIn(In):
    face_ids: list[Id] | None = Field(default=None, max_length=100000)


class RemovalAppliedOut(BaseModel):
    request_id: int
    removed: list[int]


class RemovalOut(BaseModel):
    id: int
    requester: str
    status: str
    created_by: str
    created_at: UtcDateTime
    removed: list[int]


# --- policy ----------------------------------------------------------------------------------


class PurposeOut(Out):
    key: str
    name: str
    requires_approval: bool


class PendingPolicyOut(Out):
    """A changed policy waiting for two administrators (``POST /changes/{change_id}/approve``;
    the first approval endorses it, the second puts it in force)."""

    change_id: Id
    sha256: str
    source: str
    text: str
    recorded_by: str
    recorded_at: UtcDateTime
    first_used_by: str | None = Field(
        default=None, description="Whose act the process that recorded it was doing."
    )
    approvals: list[str]
    approvals_needed: int


class PolicyOut(BaseModel):
    sha256: str
    source: str
    text: str
    purposes: list[PurposeOut]
    search: dict[str, Any]
    retention: dict[str, Any]
    session: dict[str, int]
    quota: dict[str, int]
    pending: PendingPolicyOut | None = Field(
        default=None, description="A changed policy recorded as pending, if there is one."
    )
    review: dict[str, int] = Field(default_factory=dict)  # {verifications_required}


class PolicyTextIn(In):
    text: str = Field(max_length=1_000_000)


class PolicyProblemOut(BaseModel):
    field: str
    message: str


class PolicyCheckOut(BaseModel):
    valid: bool
    sha256: str | None
    problems: list[PolicyProblemOut]
