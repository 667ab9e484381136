"""The application service: every interface (HTTP API, web app, and the CLI after the merge)
calls this, with an authenticated :class:`Principal`, bytes for probes and uploads, and gets
the typed results of :mod:`facesearch.app.results` back.

Governed searches run in three steps (see ``Governance.search``): a check in one transaction
(role, case, assignment, quota), the engine search on the bounded :class:`SearchPool` holding
no transaction, and the record (audit, probe, candidates) in a second transaction. Searches
read the engine under the read side of a :class:`ReadersWriterLock`; ingest, removals and
re-indexing take the write side. Nothing is swapped in and out of the gallery per request.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from facesearch.app.concurrency import ReadersWriterLock, SearchPool
from facesearch.app.ingest_jobs import IngestJobs
from facesearch.app.principal import AuthMethod, Principal
from facesearch.app.results import IngestJob, Media, SearchView
from facesearch.app.transfer import MigrateProgress, MigrationReport
from facesearch.app.workspace import Workspace
from facesearch.errors import ConfigError
from facesearch.govern import Governance
from facesearch.govern import cases as cases_mod
from facesearch.govern import checkpoint as ckpt
from facesearch.govern import users as users_mod
from facesearch.govern.audit import VerifyResult
from facesearch.govern.cases import CaseSummary
from facesearch.govern.errors import AuthenticationError, RefusedError
from facesearch.govern.multisearch import MultiSearchOutcome, ProbeScores, ProbeView
from facesearch.govern.oversight import OversightReport
from facesearch.govern.policy import Policy, parse_policy
from facesearch.govern.retention import PurgeResult
from facesearch.govern.schema import Candidate, Case, RemovalRequest, Search
from facesearch.govern.searches import ReviewView, SearchOutcome
from facesearch.govern.suppression import PreviewMatch, index_finder
from facesearch.govern.users import Role
from facesearch.ingest.runner import IngestProgress, IngestReport, ProgressCallback
from facesearch.ingest.second_pass import SecondPassCallback, SecondPassReport
from facesearch.ingest.second_vectors import SecondVectors
from facesearch.search.backends import Backends
from facesearch.search.gallery import Gallery
from facesearch.search.scoring import SearchResult
from facesearch.settings import Settings
from facesearch.store.catalog import SearchFilters

IMAGE_TYPES = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"RIFF": "image/webp",
    b"BM": "image/bmp",
    b"II*\x00": "image/tiff",
    b"MM\x00*": "image/tiff",
}


# What the operator of the machine that holds the data may read without naming a user (the
# CLI's stats, runs and policy commands always could): figures, runs and the policy text.
LOCAL_READS = frozenset(
    {"gallery.stats", "gallery.collections", "ingest.runs", "policy.show", "policy.validate"}
)


@dataclass
class GovernanceOnly:
    """A catalog's governance without the engine: the standalone governance CLI
    (``python -m facesearch.cli.govern``), which has no gallery to search, embed or index.
    ``remove_faces`` deletes faces for an applied removal request when one is wired in."""

    governance: Governance
    remove_faces: Callable[[list[int]], Any] | None = None

    def close(self) -> None:
        """Nothing to release: the caller owns the governance's database."""


def sniff_image_type(data: bytes) -> str | None:
    """The image media type from the file's first bytes, or None when it is not an image
    type facesearch decodes."""
    for magic, media_type in IMAGE_TYPES.items():
        if data.startswith(magic):
            if media_type == "image/webp" and data[8:12] != b"WEBP":
                return None
            return media_type
    return None


@dataclass(frozen=True)
class SearchRequest:
    """What a client asks of a search besides the probe."""

    k: int | None = None
    face: int | None = None
    filters: SearchFilters | None = None
    include_flagged: bool = False


class _PoolBackend:
    """The gallery as the governance search backend, run on the search pool under the
    engine's read lock, with a face pipeline per search thread."""

    def __init__(self, service: Service, request: SearchRequest) -> None:
        self.service = service
        self.request = request
        self.last: SearchResult | None = None

    def search(
        self, probe: bytes, k: int = 20, *, face: int | None = None, collection: str | None = None
    ) -> SearchResult:
        self.last = self.service.pool.run(
            lambda: self.service.engine_search(probe, k, self.request)
        )
        return self.last


class Service:
    """The governed operations. ``workspace`` is the gallery and its governance (a server, the
    CLI), or :class:`GovernanceOnly` (the standalone governance CLI: every operation that
    needs the engine says so with a :class:`ConfigError`)."""

    def __init__(self, settings: Settings, workspace: Workspace | GovernanceOnly) -> None:
        self.settings = settings
        self.workspace = workspace
        self.engine_lock = ReadersWriterLock()
        self.pool = SearchPool(settings.search_workers, settings.search_queue_size)
        self.jobs = IngestJobs(self._run_ingest_job)
        self._pipeline_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> Service:
        """The service of a server process. With several search threads each OpenCV call runs
        on one thread (the threads already use the cores; nested pools oversubscribe them)."""
        if settings.search_workers > 1:
            import cv2

            cv2.setNumThreads(1)
        return cls(settings, Workspace.from_settings(settings))

    def close(self) -> None:
        self.jobs.shutdown()
        self.pool.shutdown()
        self.workspace.close()

    @classmethod
    def for_cli(cls, settings: Settings) -> Service:
        """The service of one CLI invocation, on the machine that holds the data."""
        return cls(settings, Workspace.from_settings(settings))

    @property
    def governance(self) -> Governance:
        return self.workspace.governance

    @property
    def engine(self) -> Workspace:
        """The gallery with its governance; ConfigError where there is no gallery."""
        if not isinstance(self.workspace, Workspace):
            raise ConfigError(
                "this installation has no gallery (governance commands only): searching, "
                "embedding photos and ingest need 'facesearch' on the data directory"
            )
        return self.workspace

    @property
    def gallery(self) -> Gallery:
        return self.engine.gallery

    @property
    def policy(self) -> Policy:
        policy: Policy = self.workspace.governance.policy
        return policy

    # --- who is acting ----------------------------------------------------------------------

    def principal(self, username: str, via: AuthMethod) -> Principal:
        """The principal of an active user (after their credentials were checked)."""
        with self.governance.session() as s:
            user = users_mod.find_user(s, username)
            if user is None or not user.active:
                raise AuthenticationError(f"user {username!r} is unknown or disabled")
            roles = frozenset(Role(r) for r in user.role_set)
            return Principal(user.username, roles, user.display_name or "", via)

    def login(self, username: str, password: str) -> Principal:
        """Check a password (argon2id); failures are logged and raise AuthenticationError."""
        name = self.governance.authenticate_password(username, password)
        principal = self.principal(name, "password")
        self.governance.record(name, "login", {"method": "password"})
        return principal

    def logout(self, principal: Principal) -> None:
        self.governance.record(principal.username, "logout", {"method": principal.via})

    def principal_from_token(self, token: str) -> Principal:
        """The owner of a valid API token (checked and read in one transaction)."""
        user = self.governance.token_owner(token)
        roles = frozenset(Role(r) for r in user.roles)
        return Principal(user.username, roles, user.display_name, "token")

    def principal_for_cli(self, username: str | None, token: str | None) -> Principal:
        """The CLI's acting user, from --token (checked) or --as (a user of the data
        directory, on the machine that holds it). A name that is not an active user yet (the
        first administrator being added, a disabled or unknown user) gets no role here: every
        operation checks the catalog itself and refuses, with the reason logged, as before."""
        name = self.governance.resolve_actor(username, token)
        via: AuthMethod = "token" if token else "cli"
        try:
            return self.principal(name, via)
        except AuthenticationError:
            return Principal(name, frozenset(), "", via)

    @staticmethod
    def local_operator() -> Principal:
        """The operator at the data's machine, for the reads in :data:`LOCAL_READS`."""
        return Principal("(local)", frozenset(), "", "local")

    def log_refusal(
        self, actor: str, action: str, reason: str, asked: dict[str, Any] | None = None
    ) -> None:
        self.governance.log_refusal(actor, action, reason, asked)

    def require(self, who: Principal, action: str, *roles: Role) -> None:
        """Refuse (and log) unless ``who`` holds one of ``roles`` (checked in the catalog)."""
        if who.via == "local" and action in LOCAL_READS:
            return
        with self.governance.session() as s:
            try:
                users_mod.require_user(s, who.username, action, set(roles) or None)
                return
            except RefusedError as exc:
                reason = exc.reason
        self.governance.refuse(who.username, action, reason)

    # --- users and tokens -------------------------------------------------------------------

    def list_users(self, who: Principal) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.governance.list_users(who.username)
        return users

    def add_user(
        self,
        who: Principal,
        username: str,
        roles: Sequence[str],
        password: str | None,
        display_name: str = "",
    ) -> dict[str, Any]:
        self.governance.add_user(who.username, username, roles, password, display_name)
        return self._user(who, username)

    def update_user(
        self,
        who: Principal,
        username: str,
        *,
        roles: Sequence[str] | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        gov = self.governance
        if roles is not None:
            gov.set_roles(who.username, username, roles)
        if active is True:
            gov.enable_user(who.username, username)
        elif active is False:
            gov.disable_user(who.username, username)
        if password is not None:
            gov.set_password(who.username, username, password)
        if roles is None and active is None and password is None:
            self.require(who, "user.update", Role.ADMINISTRATOR)
        return self._user(who, username)

    def _user(self, who: Principal, username: str) -> dict[str, Any]:
        with self.governance.session() as s:
            u = users_mod.find_user(s, username)
            if u is None:
                raise RefusedError("user.view", f"unknown user {username!r}")
            return {
                "username": u.username,
                "display_name": u.display_name,
                "roles": sorted(u.role_set),
                "active": u.active,
                "created_at": u.created_at,
                "disabled_at": u.disabled_at,
            }

    def list_tokens(self, who: Principal, username: str | None = None) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self.governance.list_tokens(who.username, username)
        return tokens

    def create_token(
        self, who: Principal, username: str | None, name: str, expires_days: int | None
    ) -> tuple[str, int]:
        token: tuple[str, int] = self.governance.create_token(
            who.username, username or who.username, name, expires_days
        )
        return token

    def revoke_token(self, who: Principal, token_id: int) -> None:
        self.governance.revoke_token(who.username, token_id)

    # --- gallery information ---------------------------------------------------------------

    def stats(self, who: Principal) -> dict[str, Any]:
        """Images, faces, flags, second vectors, the index and its model."""
        self.require(who, "gallery.stats")
        with self.engine_lock.read():
            info: dict[str, Any] = self.gallery.stats()
        return info

    def collections(self, who: Principal) -> list[dict[str, Any]]:
        self.require(who, "gallery.collections")
        found: list[dict[str, Any]] = self.gallery.catalog.collections()
        return found

    def runs(self, who: Principal, limit: int = 1000) -> list[dict[str, Any]]:
        self.require(who, "ingest.runs", Role.ADMINISTRATOR, Role.AUDITOR)
        found: list[dict[str, Any]] = self.gallery.catalog.runs(limit)
        return found

    def run_failures(self, who: Principal, run_id: int) -> list[tuple[str, str]]:
        self.require(who, "ingest.runs", Role.ADMINISTRATOR, Role.AUDITOR)
        found: list[tuple[str, str]] = self.gallery.catalog.failures(run_id)
        return found

    # --- cases -------------------------------------------------------------------------------

    def list_cases(self, who: Principal, status: str | None = None) -> list[CaseSummary]:
        found: list[CaseSummary] = self.governance.list_cases(who.username, status)
        return found

    def open_case(
        self, who: Principal, number: str, purpose: str, legal_authority: str, justification: str
    ) -> CaseSummary:
        self.require(who, "case.open", Role.INVESTIGATOR)
        case: CaseSummary = self.governance.open_case(
            who.username, number, purpose, legal_authority, justification
        )
        return case

    def show_case(self, who: Principal, number: str) -> tuple[CaseSummary, list[SearchOutcome]]:
        found: tuple[CaseSummary, list[SearchOutcome]] = self.governance.show_case(
            who.username, number
        )
        return found

    def decide_case(self, who: Principal, number: str, action: str, arg: str) -> CaseSummary:
        """approve / reject / assign / unassign / close a case (``arg``: note or user name)."""
        gov = self.governance
        calls: dict[str, Callable[[str, str, str], CaseSummary]] = {
            "approve": gov.approve_case,
            "reject": gov.reject_case,
            "assign": gov.assign,
            "unassign": gov.unassign,
            "close": gov.close_case,
        }
        return calls[action](who.username, number, arg)

    def case_report(self, who: Principal, number: str, fmt: str) -> Media:
        data: bytes = self.governance.case_report(who.username, number, fmt)
        return Media(data, "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8")

    # --- searches ----------------------------------------------------------------------------

    def search(
        self, who: Principal, case: str | None, probe: bytes, request: SearchRequest
    ) -> SearchView:
        """A governed search: refused (and logged) without a case, outside an open, approved
        case, without an assignment, or over the quota; BusyError when the queue is full."""
        asked = {"probe_sha256": hashlib.sha256(probe).hexdigest(), "k": request.k}
        if not case:
            self.governance.refuse(
                who.username,
                "search",
                "a search needs a case: an open, approved case (the CLI's --case CASE)",
                asked,
            )
        backend = _PoolBackend(self, request)
        filters = request.filters
        outcome: SearchOutcome = self.governance.search(
            who.username,
            case,
            probe,
            k=request.k,
            face=request.face,
            collection=filters.collection if filters else None,
            backend=backend,
        )
        engine = backend.last
        boxes = {c.face_id: c.bbox for c in engine.candidates} if engine else {}
        return SearchView(
            outcome=outcome,
            face=engine.face if engine else None,
            probe_faces=tuple(engine.probe_faces) if engine else (),
            gallery_size=engine.gallery_size if engine else None,
            seconds=engine.seconds if engine else None,
            boxes=boxes,
            probe_ambiguous=bool(engine.probe_ambiguous) if engine else False,
        )

    def multi_search(
        self,
        who: Principal,
        case: str | None,
        photos: Sequence[bytes],
        request: SearchRequest,
        *,
        names: Sequence[str] | None = None,
    ) -> MultiSearchOutcome:
        """Several photos of one person as one governed query (see app/multisearch.py)."""
        from facesearch.app.multisearch import search_photos

        return search_photos(self, who, case, photos, request, names=names)

    def cluster_search(
        self,
        who: Principal,
        case: str | None,
        cluster: int,
        request: SearchRequest,
        max_probes: int = 5,
    ) -> MultiSearchOutcome:
        """The best faces of one of the case's media-set clusters as one governed query."""
        from facesearch.app.multisearch import search_cluster

        return search_cluster(self, who, case, cluster, request, max_probes=max_probes)

    def multi_probe_details(
        self, search_ids: Sequence[int]
    ) -> dict[int, tuple[tuple[ProbeView, ...], dict[int, ProbeScores], int | None]]:
        """The probes and per-candidate scores of those searches that were multi-probe (for
        searches the caller has just been allowed to see: no check, no audit entry)."""
        from facesearch.govern.multisearch import multi_details

        with self.governance.session() as s:
            return multi_details(s, search_ids)

    def search_grid(self, view: SearchView, probe: bytes) -> bytes:
        """A PNG of the probe face and each candidate's crop with rank, score, band, source."""
        from facesearch.search.grid import result_grid

        pixels = self.gallery.decode(probe).pixels[:, :, ::-1]
        return result_grid(view.to_dict(), pixels, self.gallery.blobs)

    def crop_file(self, key: str) -> str:
        """Where a face crop's blob is stored (for the CLI on the data's machine)."""
        return str(self.gallery.blobs.path(key))

    def engine_search(self, probe: bytes, k: int, request: SearchRequest) -> SearchResult:
        """The engine's search, on the calling (search pool) thread's own face pipeline,
        under the engine's read lock. Also what the load benchmark compares against."""
        verifier = self._thread_verifier()
        filters = request.filters
        with self.engine_lock.read():
            return self.gallery.search(
                probe,
                k,
                face=request.face,
                collection=filters.collection if filters else None,
                filters=filters,
                include_flagged=request.include_flagged,
                verifier=verifier,
            )

    def _thread_verifier(self) -> Any:
        """This thread's verifier: its own face pipeline (the models' per-call state is not
        safe to share between threads); the first search thread reuses the gallery's."""
        from facesearch.engine.pipeline import FacePipeline
        from facesearch.search.compare import Verifier

        local = self.pool.local
        verifier = getattr(local, "verifier", None)
        if verifier is None:
            gallery = self.gallery
            with self._pipeline_lock:
                if not getattr(self, "_gallery_pipeline_taken", False):
                    pipeline = gallery.pipeline
                    self._gallery_pipeline_taken = True
                else:
                    pipeline = FacePipeline(gallery.manifest, gallery.pipeline_settings)
                    pipeline.load_models()
            verifier = Verifier(pipeline, gallery.scoring)
            local.verifier = verifier
        return verifier

    def _embed(self, image: bytes) -> list[Any]:
        """Every face of ``image`` on this search thread's pipeline (under the read lock)."""
        verifier = self._thread_verifier()
        with self.engine_lock.read():
            faces: list[Any] = verifier.pipeline.process_image(self.gallery.decode(image)).faces
            return faces

    def list_searches(self, who: Principal, number: str) -> list[SearchOutcome]:
        return self.show_case(who, number)[1]

    def view_search(self, who: Principal, search_id: int) -> SearchOutcome:
        found: SearchOutcome = self.governance.view_search(who.username, search_id)
        return found

    def probe_image(self, who: Principal, search_id: int) -> Media:
        data: bytes = self.governance.probe_image(who.username, search_id)
        return Media(data, sniff_image_type(data) or "application/octet-stream")

    def review(
        self, who: Principal, search_id: int, face_id: int, decision: str, note: str
    ) -> ReviewView:
        found: ReviewView = self.governance.review(who.username, search_id, face_id, decision, note)
        return found

    def face_boxes(self, face_ids: Sequence[int]) -> dict[int, tuple[float, float, float, float]]:
        stored = self.gallery.catalog.faces(list(face_ids))
        return {i: f.bbox for i, f in stored.items()}

    # --- faces, crops and images --------------------------------------------------------------

    def face_media(
        self, who: Principal, face_id: int, kind: str, search_id: int | None = None
    ) -> Media:
        """A face's crop, thumbnail or full image, for an administrator or a reader of a case
        whose search returned that face; every fetch is logged; refusals too (as 'not found'
        to the client, so face ids of other cases cannot be probed)."""
        action = f"face.{kind}"
        asked = {"face_id": face_id, "search_id": search_id}
        case_number = self._authorise_face(who, face_id, search_id, action, asked)
        stored = self.gallery.catalog.faces([face_id]).get(face_id)
        if stored is None:
            self.governance.refuse(who.username, action, f"no face {face_id}", asked)
        blobs = self.gallery.blobs
        data: bytes | None = None
        if kind == "crop" and stored.crop and blobs.exists(stored.crop):
            data = blobs.get(stored.crop)
        elif kind == "thumbnail" and stored.thumbnail and blobs.exists(stored.thumbnail):
            data = blobs.get(stored.thumbnail)
        elif kind == "image":
            data = self._original_image(stored)
        if data is None:
            self.governance.refuse(
                who.username, action, f"the {kind} of face {face_id} is not stored", asked
            )
        self.governance.record(
            who.username,
            action,
            {**asked, "image_sha256": stored.image_sha256},
            case=case_number,
        )
        return Media(data, sniff_image_type(data) or "application/octet-stream")

    def _authorise_face(
        self,
        who: Principal,
        face_id: int,
        search_id: int | None,
        action: str,
        asked: dict[str, Any],
    ) -> str | None:
        with self.governance.session() as s:
            try:
                user = users_mod.require_user(s, who.username, action)
            except RefusedError as exc:
                reason = exc.reason
            else:
                if users_mod.has_role(user, Role.ADMINISTRATOR) and search_id is None:
                    return None
                q = (
                    select(Case)
                    .join(Search, Search.case_id == Case.id)
                    .join(Candidate, Candidate.search_id == Search.id)
                    .where(Candidate.face_id == face_id)
                )
                if search_id is not None:
                    q = q.where(Search.id == search_id)
                for case in s.execute(q).scalars():
                    if cases_mod.can_read_case(user, case) or users_mod.has_role(
                        user, Role.ADMINISTRATOR
                    ):
                        return case.number
                reason = (
                    f"face {face_id} was not returned by a search in a case "
                    f"{who.username!r} may read"
                )
        self.governance.refuse(who.username, action, reason, asked)

    def _original_image(self, stored: Any) -> bytes | None:
        """The original photo: its file if it is still where it was ingested from."""
        import zipfile

        path = str(stored.image_path)
        if "!" in path:
            archive, member = path.split("!", 1)
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    data = z.read(member)
            else:
                import tarfile

                with tarfile.open(archive) as t:
                    f = t.extractfile(member)
                    data = f.read() if f else b""
        else:
            p = Path(path)
            if not p.is_file():
                return None
            data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != stored.image_sha256:
            return None  # changed on disk since ingest: not the photo the search found
        return data

    def reveal(self, who: Principal, search_id: int, face_id: int, reason: str = "") -> int:
        """Log that ``who`` un-blurred the full image of a candidate; returns the audit seq."""
        action = "face.reveal"
        asked = {"face_id": face_id, "search_id": search_id}
        case_number = self._authorise_face(who, face_id, search_id, action, asked)
        entry = self.governance.record(
            who.username, action, {**asked, "reason": reason.strip()}, case=case_number
        )
        return int(entry.seq)

    # --- audit -------------------------------------------------------------------------------

    def verify_audit(
        self,
        who: Principal,
        anchors: Mapping[int, str] | None = None,
        checkpoints: Sequence[Path] = (),
        trusted_key: ckpt.Ed25519PublicKey | None = None,
    ) -> VerifyResult:
        """Verify the hash chain, against heads kept elsewhere (``anchors``) and signed
        checkpoint files (their signature checked under ``trusted_key``)."""
        result: VerifyResult = self.governance.verify_audit(
            who.username, anchors, checkpoints=checkpoints, trusted_key=trusted_key
        )
        return result

    def checkpoint(
        self, who: Principal, out: Path, key_path: Path | None = None
    ) -> tuple[ckpt.Checkpoint, Path]:
        """Sign the audit log's head with the key at ``key_path`` (or the environment's) and
        write the checkpoint to ``out``; refused if the key lies in the data directory."""
        gov = self.governance
        found: tuple[ckpt.Checkpoint, Path] = gov.checkpoint(
            who.username, out, gov.signing_key(key_path)
        )
        return found

    def purge(self, who: Principal, now: datetime | None = None) -> PurgeResult:
        """Delete the probes and results whose retention period has ended (as of ``now``)."""
        result: PurgeResult = self.governance.purge(who.username, now)
        return result

    def oversight_report(
        self, who: Principal, start: datetime | None, end: datetime | None, period: str
    ) -> OversightReport:
        rep: OversightReport = self.governance.oversight_report(who.username, start, end, period)
        return rep

    # --- removal and suppression --------------------------------------------------------------

    def preview_removal(
        self,
        who: Principal,
        photos: Sequence[bytes],
        requester: str,
        reason: str,
        *,
        names: Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> tuple[int, list[PreviewMatch]]:
        """A removal request from photos of the person (the largest face of each; a photo
        without a face is refused, named by ``names[i]`` or its position)."""
        self.require(who, "removal.preview", Role.ADMINISTRATOR)
        vectors = []
        for i, photo in enumerate(photos):
            faces = self.pool.run(lambda data=photo: self._embed(data))  # type: ignore[misc]
            if not faces:
                where = names[i] if names else f"photo {i + 1}"
                self.governance.refuse(who.username, "removal.preview", f"no face found in {where}")
            vectors.append(faces[0].embedding)
        return self.preview_removal_embeddings(
            who, np.stack(vectors), self.gallery.model_key, requester, reason, threshold=threshold
        )

    def preview_removal_embeddings(
        self,
        who: Principal,
        embeddings: np.ndarray,
        model: str,
        requester: str,
        reason: str,
        *,
        threshold: float | None = None,
    ) -> tuple[int, list[PreviewMatch]]:
        """A removal request from the person's embeddings (``(n, d)``, of ``model``): the
        gallery faces matching them, through the vector index (the catalog's embeddings are
        scanned where there is no gallery)."""
        if not isinstance(self.workspace, Workspace):
            found: tuple[int, list[PreviewMatch]] = self.governance.preview_removal(
                who.username, embeddings, model, requester, reason, threshold=threshold
            )
            return found
        with self.engine_lock.read():
            return self.governance.preview_removal(
                who.username,
                embeddings,
                model,
                requester,
                reason,
                finder=index_finder(self.gallery.index.search, k=1000),
                threshold=threshold,
            )

    def apply_removal(
        self, who: Principal, request_id: int, face_ids: Sequence[int] | None
    ) -> list[int]:
        def remove(ids: list[int]) -> Any:
            if isinstance(self.workspace, GovernanceOnly):
                if self.workspace.remove_faces is None:
                    raise ConfigError("this installation has no face remover wired in")
                return self.workspace.remove_faces(ids)
            with self.engine_lock.write():
                return self.gallery.remove_faces(ids)

        chosen: list[int] = self.governance.apply_removal(
            who.username, request_id, remove, face_ids
        )
        return chosen

    def cancel_removal(self, who: Principal, request_id: int, note: str) -> None:
        self.governance.cancel_removal(who.username, request_id, note)

    def list_removals(self, who: Principal) -> list[dict[str, Any]]:
        self.require(who, "removal.list", Role.ADMINISTRATOR)
        with self.governance.session() as s:
            rows = s.execute(select(RemovalRequest).order_by(RemovalRequest.id.desc())).scalars()
            return [
                {
                    "id": r.id,
                    "requester": r.requester,
                    "status": r.status,
                    "created_by": r.created_by,
                    "created_at": r.created_at,
                    "removed": list(r.removed or []),
                }
                for r in rows
            ]

    # --- policy --------------------------------------------------------------------------------

    def validate_policy(self, who: Principal, text: str, source: str = "<uploaded>") -> Policy:
        """Parse a policy text (raises PolicyError with every problem, naming ``source``);
        nothing is changed."""
        self.require(who, "policy.validate", Role.ADMINISTRATOR, Role.SUPERVISOR, Role.AUDITOR)
        return parse_policy(text, source=source)

    def show_policy(self, who: Principal) -> Policy:
        self.require(who, "policy.show")
        return self.policy

    # --- ingest --------------------------------------------------------------------------------

    def allowed_ingest_path(self, who: Principal, path: str) -> Path:
        """``path`` resolved, if it lies under one of the settings' ingest roots; else refused."""
        self.require(who, "ingest", Role.ADMINISTRATOR)
        target = Path(path).expanduser().resolve()
        for root in self.settings.ingest_roots:
            if target.is_relative_to(Path(root).expanduser().resolve()):
                if not target.exists():
                    self.governance.refuse(
                        who.username, "ingest", f"{path} does not exist", {"path": path}
                    )
                return target
        self.governance.refuse(
            who.username,
            "ingest",
            f"{path} is not under a folder the server allows for ingest (FACESEARCH_INGEST_ROOTS)",
            {"path": path},
        )

    def upload_dir(self) -> Path:
        root = self.settings.data_dir / "uploads"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="ingest-", dir=root))

    def start_ingest(
        self,
        who: Principal,
        sources: list[str],
        collection: str | None,
        cleanup: list[str] | None = None,
    ) -> IngestJob:
        self.require(who, "ingest", Role.ADMINISTRATOR)
        job = self.jobs.submit(sources, collection, who.username, cleanup or [])
        self.governance.record(
            who.username,
            "ingest.queue",
            {"job": job.id, "sources": sources, "collection": collection},
        )
        return job

    def _run_ingest_job(
        self, job: IngestJob, on_progress: Callable[[IngestProgress], None]
    ) -> IngestReport:
        return self.ingest(
            self.principal(job.created_by, "session"),
            job.sources,
            collection=job.collection,
            workers=self.settings.ingest_workers,
            on_progress=on_progress,
            second_vectors=self.settings.second_vectors,
        )

    def ingest(
        self,
        who: Principal,
        sources: Sequence[Path | str],
        *,
        collection: str | None = None,
        manifest: Path | str | None = None,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
        on_second_progress: SecondPassCallback | None = None,
        second_vectors: SecondVectors | None = None,
    ) -> IngestReport:
        """Ingest now, in this thread (administrators; logged; suppressed people left out),
        then the second-vector pass on faces still queued; the engine's write lock is held
        throughout, so searches wait for the end rather than read a half-changed index.
        Resumable. ``second_vectors``: where second vectors are made (default: the setting
        ``second_vectors``; ``ingest/second_vectors.py``)."""
        with self.engine_lock.write():
            report: IngestReport = self.engine.ingest(
                who.username,
                sources,
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=on_progress,
                on_second_progress=on_second_progress,
                second_vectors=second_vectors or self.settings.second_vectors,
            )
            return report

    def second_pass(
        self,
        who: Principal,
        *,
        workers: int | None = None,
        on_progress: SecondPassCallback | None = None,
    ) -> SecondPassReport:
        """Run (or resume) the second-vector pass alone (administrators; logged)."""
        with self.engine_lock.write():
            report: SecondPassReport = self.engine.second_pass(
                who.username, workers=workers, on_progress=on_progress
            )
            return report

    def migrate(
        self,
        who: Principal,
        target: Backends,
        *,
        sample: int = 50,
        k: int = 10,
        on_progress: MigrateProgress | None = None,
    ) -> MigrationReport:
        """Copy this embedded gallery to the target backends and verify it (administrators;
        logged before the copy, so the target's audit chain holds the entry too)."""
        from facesearch.app.transfer import migrate_gallery

        self.require(who, "gallery.migrate", Role.ADMINISTRATOR)
        gallery = self.gallery
        if not gallery.backends.embedded:
            raise ConfigError(
                "migrate copies an embedded data directory (SQLite, FAISS, files); this one "
                f"already uses {gallery.backends.describe()}"
            )
        if target.database_url is None or target.database_url.startswith("sqlite"):
            raise ConfigError("--to-database must name a server database (e.g. PostgreSQL)")
        if target.vector_store.kind == "faiss":
            raise ConfigError("--to-vector-store must name a server (milvus://HOST:19530)")
        self.governance.record(who.username, "gallery.migrate", {"to": target.describe()})
        with self.engine_lock.write():
            store = target.open_vector_store(gallery.model_key, gallery.pipeline_dim)
            blobs = None
            if target.blobs.kind != "file":
                from facesearch.store.crypto import Cipher

                blobs = target.open_blobs(gallery.data_dir, Cipher.from_settings(gallery.settings))
            try:
                return migrate_gallery(
                    gallery,
                    target.database_url,
                    store,
                    blobs,
                    sample=sample,
                    k=k,
                    on_progress=on_progress,
                )
            finally:
                store.close()

    def reindex(self, who: Principal) -> int:
        """Rebuild the vector index from the catalog (administrators; logged)."""
        with self.engine_lock.write():
            return self.engine.reindex(who.username)

    def initialise(self, admin: str, password: str | None = None) -> Path:
        """Set up the data directory: the default policy and the first administrator (refused
        once there are users). Returns the policy file's path."""
        return self.engine.init(admin, password)

    def ingest_jobs(self, who: Principal) -> list[IngestJob]:
        self.require(who, "ingest.jobs", Role.ADMINISTRATOR)
        return self.jobs.all()

    def ingest_job(self, who: Principal, job_id: int) -> IngestJob:
        self.require(who, "ingest.jobs", Role.ADMINISTRATOR)
        job = self.jobs.get(job_id)
        if job is None:
            self.governance.refuse(who.username, "ingest.jobs", f"no ingest job {job_id}")
        return job

    def cancel_ingest(self, who: Principal, job_id: int) -> IngestJob:
        job = self.ingest_job(who, job_id)
        self.jobs.cancel(job_id)
        self.governance.record(who.username, "ingest.cancel", {"job": job_id})
        return job
