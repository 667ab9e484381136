"""What the application's resource services share, and the one place roles are checked.

:class:`AppContext` holds the typed settings, the gallery and its governance (both built here
from the one :class:`Settings`: :func:`open_gallery`, :func:`open_governance`), the engine's
readers-writer lock and the bounded search pool. The resource services (:mod:`.accounts`,
:mod:`.cases`, :mod:`.searches`, :mod:`.faces`, :mod:`.admin`, :mod:`.library`) each take it;
:class:`facesearch.app.service.Service` builds it once.

Other processes may change the same data directory (a CLI ingest while the server runs).
Searches read through :meth:`AppContext.reading`: when the catalog's generation moved, the
index held in memory is first brought up to date under the engine's write lock, so a search
sees every face committed before it started. Changes go through :meth:`AppContext.writing`:
the data directory's writer lock first (waiting for another process's write while searches
go on), then the engine's write lock; an ingest or a second-vector pass through
:meth:`AppContext.writing_in_batches`, taking the engine's write lock for each group of images
it commits, so searches go on during it.

Role checks made by the application layer (as opposed to the rules governance applies inside
its own transactions) all go through :meth:`AppContext.require`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

from sqlalchemy.orm import sessionmaker

from facesearch.app.concurrency import ReadersWriterLock, SearchPool
from facesearch.app.model_moves import StandingMove
from facesearch.app.principal import Principal
from facesearch.engine.pipeline import FacePipeline
from facesearch.govern import Governance, load_policy
from facesearch.govern import users as users_mod
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role
from facesearch.media.report import register as register_media_sections
from facesearch.search.backends import Backends
from facesearch.search.compare import Verifier
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings

# The policy file in the data directory (the packaged default policy where there is none).
POLICY_FILE = "policy.toml"

# What the operator of the machine that holds the data may read without naming a user (the
# CLI's stats, runs and policy commands always could): figures, runs and the policy text.
LOCAL_READS = frozenset(
    {"gallery.stats", "gallery.collections", "ingest.runs", "policy.show", "policy.validate"}
)


def open_gallery(settings: Settings, pipeline: FacePipeline | None = None) -> Gallery:
    """The gallery the settings name (data directory, catalog URL, and the vector store, blob
    store and executor URLs: ``facesearch.search.backends``). ``pipeline``: models already
    loaded, used instead of loading the manifest's (tests share one)."""
    return Gallery.open(
        settings.data_dir,
        settings=settings,
        database_url=settings.catalog_url,
        backends=Backends.from_settings(settings),
        pipeline=pipeline,
    )


def open_governance(settings: Settings, gallery: Gallery) -> Governance:
    """Governance over ``gallery``'s catalog, with the policy file ``data_dir/policy.toml`` (the
    packaged default where there is none), the settings' encryption and audit-signing keys,
    and victim identification's case-report sections. The policy *in force* is governance's
    rule (``GovernanceCore.policy``): the latest approved one in the catalog; a file that
    differs waits for two administrators.

    With SQLite, governance transactions are serialised in this process (one writer at a
    time keeps the audit chain's head consistent under concurrent requests)."""
    policy_path = settings.data_dir / POLICY_FILE
    policy = load_policy(policy_path if policy_path.exists() else None)
    governance = Governance(
        sessionmaker(gallery.catalog.engine, expire_on_commit=False),
        policy,
        cipher=gallery.cipher,
        signing_env=settings.audit_key_environ(),
    )
    if gallery.catalog.engine.dialect.name == "sqlite":
        governance.transaction_lock = threading.RLock()
    # victim identification's case-report sections (media, persons, alerts): wired here,
    # above both, so that governance imports no feature
    register_media_sections(governance.report_sections)
    return governance


class AppContext:
    """Settings, gallery, governance, engine lock and search pool, shared by the resource
    services. Built once, from the one :class:`Settings`, by the composition root."""

    def __init__(
        self,
        settings: Settings,
        *,
        pipeline: FacePipeline | None = None,
        share_pipeline: bool = True,
    ) -> None:
        self.settings = settings
        #: the first search thread may use the gallery's own face pipeline (one process doing
        #: one thing at a time: the CLI); a server's search threads each load their own, as
        #: an ingest run in it may use the gallery's in its thread meanwhile
        self.share_pipeline = share_pipeline
        self.gallery = open_gallery(settings, pipeline)
        try:
            self.governance = open_governance(settings, self.gallery)
        except BaseException:
            self.gallery.close()
            raise
        self.engine_lock: ReadersWriterLock = self.gallery.engine_lock
        self.pool = SearchPool(settings.search_workers, settings.search_queue_size)
        self._pipeline_lock = threading.Lock()
        self._gallery_pipeline_taken = False
        #: standing data that moves with the gallery to another recognizer
        #: (app/model_moves.py; app/model_switch.py runs them)
        self.moves: list[StandingMove] = []

    # --- who may act --------------------------------------------------------------------------

    def require(self, who: Principal, action: str, *roles: Role) -> None:
        """Refuse (and log) unless ``who`` is an active user holding one of ``roles`` (any
        role when none is named), checked in the catalog; the local operator may do the reads
        in :data:`LOCAL_READS`."""
        if who.via == "local" and action in LOCAL_READS:
            return
        with self.governance.session() as s:
            try:
                users_mod.require_user(s, who.username, action, set(roles) or None)
                return
            except RefusedError as exc:
                reason = exc.reason
        self.refuse(who, action, reason)

    def refuse(
        self, who: Principal, action: str, reason: str, asked: Mapping[str, Any] | None = None
    ) -> NoReturn:
        """Log a refusal the application decided, then raise it."""
        self.governance.refuse(who.username, action, reason, asked)

    # --- the engine's locks, and the other processes -----------------------------------------

    def catch_up(self) -> None:
        """When another process added or removed faces since the index held in memory was
        last brought up to date (one read of the catalog's generation), bring it up to date,
        under the engine's write lock."""
        gallery = self.gallery
        if gallery.index_stale():
            with self.engine_lock.write():
                gallery.refresh_index()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """The engine's read lock, over an index holding every face committed before it was
        taken (:meth:`catch_up` first)."""
        self.catch_up()
        with self.engine_lock.read():
            yield

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Hold the data directory's writer lock for ``what`` (waiting for another process's
        write, or refused after the settings' ``writer_wait``), then the engine's write lock:
        searches go on while a write waits for another process."""
        gallery = self.gallery
        with gallery.writer.hold(what), self.engine_lock.write(), gallery.writing(what):
            yield

    @contextmanager
    def writing_in_batches(self, what: str) -> Iterator[None]:
        """Hold the data directory's writer lock for ``what`` (an ingest, a second-vector
        pass) without the engine's write lock: the work takes it for each group it commits
        (``Gallery.changing``), and searches run between groups."""
        with self.gallery.writing(what):
            yield

    # --- the engine, per search thread ------------------------------------------------------

    def verifier(self) -> Verifier:
        """This search thread's verifier: its own face pipeline (the models' per-call state is
        not safe to share between threads); the first search thread reuses the gallery's.
        Renewed when the gallery switched recognizer since (``Gallery.followed``):
        take it under :meth:`reading`, so the probe's vector and the index are of one model."""
        local = self.pool.local
        gallery = self.gallery
        verifier: Verifier | None = getattr(local, "verifier", None)
        if verifier is not None and getattr(local, "epoch", None) == gallery.followed.epoch:
            return verifier
        with self._pipeline_lock:
            shares = getattr(local, "shares_gallery_pipeline", False)
            if shares or (self.share_pipeline and not self._gallery_pipeline_taken):
                pipeline = gallery.pipeline
                self._gallery_pipeline_taken = local.shares_gallery_pipeline = True
            else:
                pipeline = FacePipeline(gallery.manifest, gallery.pipeline_settings)
                pipeline.load_models()
        verifier = Verifier(pipeline, gallery.scoring)
        local.verifier, local.epoch = verifier, gallery.followed.epoch
        return verifier

    def embed(self, image: bytes) -> list[Any]:
        """Every face of ``image`` on this search thread's pipeline (under the read lock)."""
        with self.reading():
            verifier = self.verifier()
            faces: list[Any] = verifier.pipeline.process_image(self.gallery.decode(image)).faces
            return faces

    def close(self) -> None:
        self.pool.shutdown()
        self.gallery.close()
