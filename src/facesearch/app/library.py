"""The gallery as its administrators keep it: figures, ingest (now or as background jobs), the
second-vector pass, re-indexing, set-up and the copy to server backends.

Acts that change the gallery hold the data directory's writer lock (a second writer, in this
process or another, waits for the first) and then the engine's write lock, so searches wait for
their end rather than read a half-changed index (``AppContext.writing``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from facesearch.app.accounts import LOCAL_OPERATOR, local_origin
from facesearch.app.context import POLICY_FILE, AppContext
from facesearch.app.ingest_jobs import IngestJobs
from facesearch.app.keys import SEAL_COMMAND, plain_warning, still_plain
from facesearch.app.keys import STATE_FILE as ROTATION_STATE
from facesearch.app.principal import Principal
from facesearch.app.results import IngestJob
from facesearch.app.standing import Standing
from facesearch.app.transfer import MigrateProgress, MigrationReport, migrate_gallery
from facesearch.engine.quality import BLURRED, LOW_CONFIDENCE, PROFILE, TOO_SMALL
from facesearch.errors import ConfigError, EncryptionError, FacesearchError
from facesearch.govern import users as users_mod
from facesearch.govern.actor import Actor
from facesearch.govern.bootstrap import FirstAdministrator, bootstrap_administrators
from facesearch.govern.errors import AuthenticationError
from facesearch.govern.users import Role
from facesearch.ingest.archives import ArchiveLimits
from facesearch.ingest.runner import IngestProgress, IngestReport, ProgressCallback
from facesearch.ingest.second_pass import SecondPassCallback, SecondPassReport
from facesearch.ingest.second_vectors import SecondVectors
from facesearch.search.backends import Backends
from facesearch.store import browse
from facesearch.store.private import loose_permissions, make_private, private_dir, sqlite_file

log = logging.getLogger(__name__)
#: Why a face is kept out of search, in words (``engine/quality.py``'s flags).
FLAG_WORDS = {
    TOO_SMALL: "too small: the face box is under the minimum size in pixels",
    BLURRED: "blurred: too little detail to compare reliably",
    PROFILE: "profile: the head is turned too far from the camera",
    LOW_CONFIDENCE: "low confidence: the detector is not sure this is a face",
}


class Library:
    """Gallery figures and the administrative acts that change the gallery."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.jobs = IngestJobs(self._run_job)

    # --- figures ------------------------------------------------------------------------------

    def stats(self, who: Principal) -> dict[str, Any]:
        """Images, faces, flags, second vectors, the index and its model, whether the data is
        encrypted at rest and, with a key, how many items are still stored without it
        (``still_plain``, by kind in ``still_plain_items``); ``warnings`` lists a data
        directory or SQLite catalog file open to other local accounts, items still plain under
        a key (with the command that seals them), and an unfinished key rotation."""
        self.ctx.require(who, "gallery.stats")
        gallery = self.ctx.gallery
        unfinished = (gallery.data_dir / ROTATION_STATE).exists()
        rotate_again = "a key rotation is unfinished: run 'facesearch keys rotate' again"
        with self.ctx.reading():
            try:
                info: dict[str, Any] = gallery.stats()
            except EncryptionError as exc:
                if unfinished:
                    raise EncryptionError(f"{exc} ({rotate_again})") from None
                raise
        cipher = gallery.cipher
        info["encryption"] = f"AES-256-GCM, key id {cipher.key_id.hex()}" if cipher else "off"
        info["warnings"] = loose_permissions(gallery.data_dir, sqlite_file(gallery.catalog.url))
        plain = still_plain(self.ctx)
        info["still_plain"] = sum(plain.values())
        info["still_plain_items"] = plain
        info["seal_with"] = SEAL_COMMAND if plain else None
        if plain:
            info["warnings"].append(plain_warning(plain))
        if unfinished:
            info["warnings"].append(rotate_again)
        return info

    def collections(self, who: Principal) -> list[dict[str, Any]]:
        """Each collection with its images and faces and, to an administrator, how many of
        its faces are flagged (kept out of search for a quality reason)."""
        self.ctx.require(who, "gallery.collections")
        found: list[dict[str, Any]] = self.ctx.gallery.catalog.collections()
        if who.has(Role.ADMINISTRATOR):
            with self.ctx.gallery.catalog.session() as s:
                flagged = browse.flagged_by_collection(s)
            for c in found:
                c["flagged"] = flagged.get(c["name"], 0)
        return found

    # --- the gallery browser (administrators) ---------------------------------------------------

    def browse(
        self, who: Principal, collection: str, *, flagged: bool, limit: int, offset: int
    ) -> dict[str, Any]:
        """One page of a collection's images (``Page`` shape: items, total, limit, offset),
        each with its provenance there and its faces (only the flagged ones when
        ``flagged``), every flag with its reason in words (administrators)."""
        ctx = self.ctx
        asked = {"collection": collection, "flagged": flagged}
        ctx.require(who, "gallery.browse", Role.ADMINISTRATOR)
        with ctx.gallery.catalog.session() as s:
            coll = browse.collection_id(s, collection)
            if coll is None:
                ctx.refuse(who, "gallery.browse", f"no collection {collection!r}", asked)
            total = browse.count_images(s, coll, flagged)
            items = browse.images_page(s, coll, flagged=flagged, limit=limit, offset=offset)
        for image in items:
            for face in image["faces"]:
                face["reasons"] = [
                    {"flag": f, "reason": FLAG_WORDS.get(f, f.replace("_", " "))}
                    for f in face["flags"]
                ]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    def known_face(self, who: Principal, face_id: int, action: str) -> None:
        """Refuse (and log) ``action`` on a face the gallery does not hold (administrators:
        anyone else is refused for their role first)."""
        asked = {"face_id": face_id}
        self.ctx.governance.require_role(who.username, action, Role.ADMINISTRATOR, asked)
        if not self.ctx.gallery.catalog.faces([face_id]):
            self.ctx.refuse(who, action, f"no face {face_id}", asked)

    def remove_image(self, who: Principal, image_id: int, reason: str) -> int:
        """Delete an image with all its faces and provenance, from the catalog and the
        index at once (administrators; logged as ``images.delete`` with the reason and the
        image's SHA-256). Returns how many faces went with it."""
        ctx = self.ctx
        asked: dict[str, Any] = {"image": image_id, "reason": reason}
        ctx.governance.require_role(who.username, "images.delete", Role.ADMINISTRATOR, asked)
        gallery = ctx.gallery
        with ctx.writing("removal"):
            with gallery.catalog.session() as s:
                found = browse.image_row(s, image_id)
            if found is None:
                ctx.refuse(who, "images.delete", f"no image {image_id}", asked)
            sha, face_ids = found
            removed = gallery.remove_faces(face_ids) if face_ids else 0
            if not face_ids:  # an image without a face goes alone
                with gallery.catalog.session() as s:
                    keys = browse.remove_faceless_image(s, image_id)
                for key in keys:
                    gallery.blobs.delete(key)
        ctx.governance.record(
            who.username,
            "images.delete",
            {**asked, "image_sha256": sha, "faces": face_ids, "removed": removed},
        )
        return removed

    def runs(self, who: Principal, limit: int = 1000) -> list[dict[str, Any]]:
        self.ctx.require(who, "ingest.runs", Role.ADMINISTRATOR, Role.AUDITOR)
        found: list[dict[str, Any]] = self.ctx.gallery.catalog.runs(limit)
        return found

    def run_failures(self, who: Principal, run_id: int) -> list[tuple[str, str]]:
        self.ctx.require(who, "ingest.runs", Role.ADMINISTRATOR, Role.AUDITOR)
        found: list[tuple[str, str]] = self.ctx.gallery.catalog.failures(run_id)
        return found

    # --- set-up and ingest ----------------------------------------------------------------------

    def initialise(
        self,
        admins: str | Sequence[tuple[str, str | None]],
        password: str | None = None,
        display_name: str = "",
    ) -> Path:
        """Set up the data directory: write the default policy (if none is there) and create
        the first administrators, ``admins`` as ``(name, password)`` pairs (or one name, with
        ``password`` and ``display_name``), in one transaction refused once there are users
        (:mod:`facesearch.govern.bootstrap`). The audit log records them as made by the
        operator at this machine (``(local)``, with the OS account and host). Returns the
        policy file's path."""
        if isinstance(admins, str):
            first = [FirstAdministrator(admins, password, display_name)]
        else:
            first = [FirstAdministrator(name, secret) for name, secret in admins]
        policy_path = self.ctx.settings.data_dir / POLICY_FILE
        if not policy_path.exists():
            default = resources.files("facesearch.govern") / "default_policy.toml"
            policy_path.write_text(default.read_text(encoding="utf-8"), encoding="utf-8")
            make_private(policy_path)
        operator = Actor(LOCAL_OPERATOR, method="local", origin=local_origin())
        bootstrap_administrators(self.ctx.governance, operator, first)
        return policy_path

    def ingest(
        self,
        who: Principal,
        sources: Sequence[Path | str],
        *,
        collection: str | None = None,
        manifest: Path | str | None = None,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
        second_pass: bool = True,
        on_second_progress: SecondPassCallback | None = None,
        second_vectors: SecondVectors | None = None,
        roots: Sequence[Path] | None = None,
        commit_every: int = 64,
        names: Mapping[str, str] | None = None,
    ) -> IngestReport:
        """Ingest now, in this thread (administrators; logged; suppressed people left out).
        Resumable. ``second_vectors``: where second vectors are made (default: the setting;
        ``ingest/second_vectors.py``). ``roots``: the folders a manifest's rows must name files
        under (a server job passes the settings' ingest roots; ``None``: no such rule).
        ``names``: what a source is shown as (an upload: its file name, not where it was
        saved). Every
        archive keeps to the settings' archive limits (``max_archive_*``) or is one failure.
        Searches go on meanwhile: each group of ``commit_every`` images (or fewer, after a few
        seconds) is committed and made searchable alone (``search/gallery_sink.py``).

        Then, unless ingest was interrupted or ``second_pass`` is False, the second-vector pass
        runs on the faces still queued, if any (its report is ``report.second_pass``; Ctrl-C
        stops it cleanly, and :meth:`second_pass` or the next ingest resumes it)."""
        ctx = self.ctx
        gov, gallery = ctx.governance, ctx.gallery
        shown = dict(names or {})
        asked = {
            "sources": [shown.get(str(p), str(p)) for p in sources]
            + ([str(manifest)] if manifest else []),
            "collection": collection,
        }
        gov.require_role(who.username, "ingest", Role.ADMINISTRATOR, asked)
        with ctx.writing_in_batches("ingest"):  # searches go on between its groups
            matcher = gov.suppression_matcher()
            model = gallery.model_key
            report = gallery.ingest(
                sources,
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=on_progress,
                suppressed=(lambda emb: bool(matcher.is_suppressed(emb, model)))
                if len(matcher)
                else None,
                second_vectors=second_vectors or ctx.settings.second_vectors,
                roots=roots,
                archives=ArchiveLimits.of(ctx.settings),
                commit_every=commit_every,
                names=shown,
            )
            if second_pass and not report.interrupted:
                report.second_pass = gallery.second_pass(
                    workers=workers, on_progress=on_second_progress
                )
        if report.faces_indexed and not report.interrupted:
            report.followups = self._standing_queries(who)
        gov.record(
            who.username,
            "ingest.run",
            {
                **asked,
                "run_id": report.run_id,
                **report.counts(),
                "interrupted": report.interrupted,
                **(report.second_pass.counts() if report.second_pass else {}),
            },
        )
        return report

    def _standing_queries(self, who: Principal) -> dict[str, int]:
        """The open standing queries compared with the faces this ingest added (alerts raised
        for their cases). A failure here leaves the ingest done: the queries' marks did not
        move, so the next ingest (or ``facesearch standing run``) compares those faces."""
        try:
            return Standing(self.ctx).run(who).counts()
        except FacesearchError as exc:
            log.error("standing queries not run after the ingest: %s", exc)
            return {"standing_failed": 1}

    def second_pass(
        self,
        who: Principal,
        *,
        workers: int | None = None,
        on_progress: SecondPassCallback | None = None,
    ) -> SecondPassReport:
        """Run (or resume) the second-vector pass alone (administrators; logged)."""
        gov = self.ctx.governance
        gov.require_role(who.username, "ingest.second_pass", Role.ADMINISTRATOR, {})
        with self.ctx.writing_in_batches("second-vector pass"):  # catalog rows only
            report = self.ctx.gallery.second_pass(workers=workers, on_progress=on_progress)
        gov.record(
            who.username,
            "ingest.second_pass",
            {**report.counts(), "interrupted": report.interrupted},
        )
        return report

    def reindex(self, who: Principal) -> int:
        """Rebuild the vector index from the catalog (administrators; logged)."""
        gov = self.ctx.governance
        gov.require_role(who.username, "index.rebuild", Role.ADMINISTRATOR, {})
        with self.ctx.writing("re-index"):
            n = self.ctx.gallery.reindex()
        gov.record(who.username, "index.rebuild", {"faces": n})
        return n

    # --- background ingest jobs (the HTTP API) ------------------------------------------------

    def allowed_ingest_path(self, who: Principal, path: str) -> Path:
        """``path`` resolved, if it lies under one of the settings' ingest roots; else refused."""
        ctx = self.ctx
        ctx.require(who, "ingest", Role.ADMINISTRATOR)
        target = Path(path).expanduser().resolve()
        for root in ctx.settings.ingest_roots:
            if target.is_relative_to(Path(root).expanduser().resolve()):
                if not target.exists():
                    ctx.refuse(who, "ingest", f"{path} does not exist", {"path": path})
                return target
        ctx.refuse(
            who,
            "ingest",
            f"{path} is not under a folder the server allows for ingest (FACESEARCH_INGEST_ROOTS)",
            {"path": path},
        )

    def ingest_roots(self, who: Principal) -> list[str]:
        """The folders a server-side ingest may read from (the settings' ingest roots;
        administrators)."""
        self.ctx.require(who, "ingest.roots", Role.ADMINISTRATOR)
        return [str(Path(r).expanduser().resolve()) for r in self.ctx.settings.ingest_roots]

    def may_upload(self, who: Principal) -> None:
        """Refuse (and log) an upload of photos to ingest unless ``who`` administers."""
        self.ctx.require(who, "ingest.upload", Role.ADMINISTRATOR)

    def upload_dir(self) -> Path:
        """A new folder for the files of one upload, under the data directory."""
        root = self.ctx.settings.data_dir / "uploads"
        private_dir(root)
        return Path(tempfile.mkdtemp(prefix="ingest-", dir=root))

    def start_job(
        self,
        who: Principal,
        sources: list[str],
        collection: str | None,
        cleanup: list[str] | None = None,
        names: dict[str, str] | None = None,
    ) -> IngestJob:
        """Queue an ingest job; ``names``: what a source is shown as (an upload's name)."""
        self.ctx.require(who, "ingest", Role.ADMINISTRATOR)
        job = self.jobs.submit(sources, collection, who.username, cleanup or [], names=names)
        self.ctx.governance.record(
            who.username,
            "ingest.queue",
            {"job": job.id, "sources": job.shown_sources, "collection": collection},
        )
        return job

    def list_jobs(self, who: Principal) -> list[IngestJob]:
        self.ctx.require(who, "ingest.jobs", Role.ADMINISTRATOR)
        return self.jobs.all()

    def job(self, who: Principal, job_id: int) -> IngestJob:
        self.ctx.require(who, "ingest.jobs", Role.ADMINISTRATOR)
        job = self.jobs.get(job_id)
        if job is None:
            self.ctx.refuse(who, "ingest.jobs", f"no ingest job {job_id}")
        return job

    def cancel_job(self, who: Principal, job_id: int) -> IngestJob:
        job = self.job(who, job_id)
        cancelled = self.jobs.cancel(job_id)
        self.ctx.governance.record(who.username, "ingest.cancel", {"job": job_id})
        return cancelled or job

    def _run_job(
        self, job: IngestJob, on_progress: Callable[[IngestProgress], None]
    ) -> IngestReport:
        with self.ctx.governance.session() as s:
            user = users_mod.find_user(s, job.created_by)
            if user is None or not user.active:
                raise AuthenticationError(f"user {job.created_by!r} is unknown or disabled")
            who = Principal(
                user.username,
                frozenset(Role(r) for r in user.role_set),
                user.display_name or "",
                "session",
            )
        return self.ingest(
            who,
            job.sources,
            collection=job.collection,
            workers=self.ctx.settings.ingest_workers,
            on_progress=on_progress,
            second_vectors=self.ctx.settings.second_vectors,
            roots=self.ctx.settings.ingest_roots,
            names=job.names,
        )

    # --- the copy to server backends ----------------------------------------------------------

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

        ctx = self.ctx
        ctx.require(who, "gallery.migrate", Role.ADMINISTRATOR)
        gallery = ctx.gallery
        if not gallery.backends.embedded:
            raise ConfigError(
                "migrate copies an embedded data directory (SQLite, FAISS, files); this one "
                f"already uses {gallery.backends.describe()}"
            )
        if target.database_url is None or target.database_url.startswith("sqlite"):
            raise ConfigError("--to-database must name a server database (e.g. PostgreSQL)")
        if target.vector_store.kind == "faiss":
            raise ConfigError("--to-vector-store must name a server (milvus://HOST:19530)")
        ctx.governance.record(who.username, "gallery.migrate", {"to": target.describe()})
        with ctx.writing("migration"):
            store = target.open_vector_store(gallery.model_key, gallery.pipeline_dim)
            blobs = None
            if target.blobs.kind != "file":
                blobs = target.open_blobs(gallery.data_dir, gallery.cipher)
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
