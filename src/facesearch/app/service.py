"""The composition root of the application: every interface (HTTP API, web app, CLI) holds one
:class:`Service` and calls its resource services, with an authenticated :class:`Principal`,
bytes for probes and uploads, and gets the typed results of :mod:`facesearch.app.results`::

    service = Service.for_cli(Settings.load(data_dir=...))
    who = service.accounts.for_cli("ivy", password=password)  # or login, from_token
    view = service.searches.search(who, "CASE-1", probe, SearchRequest(k=5))

The resources: :attr:`~Service.accounts` (principals, users, tokens), :attr:`~Service.cases`,
:attr:`~Service.searches` (governed searches, written once in :mod:`facesearch.app.governed`,
their results and reviews), :attr:`~Service.faces` (crops and images),
:attr:`~Service.admin` (audit, retention, policy, removals) and :attr:`~Service.library`
(figures, ingest, re-indexing, set-up, the copy to server backends). Searches read the engine
under the read side of a readers-writer lock; ingest, removals and re-indexing take the write
side. Nothing is swapped in and out of the gallery per request.
"""

from __future__ import annotations

from facesearch.app.accounts import Accounts
from facesearch.app.admin import Admin
from facesearch.app.authorisations import Authorisations
from facesearch.app.cases import Cases
from facesearch.app.compare import Compare
from facesearch.app.compliance import Compliance
from facesearch.app.context import LOCAL_READS, AppContext
from facesearch.app.faces import Faces
from facesearch.app.incidents import Incidents
from facesearch.app.library import Library
from facesearch.app.media_jobs import MediaJobs
from facesearch.app.model_migration import ModelMigrations
from facesearch.app.models import Models
from facesearch.app.reports import Reports
from facesearch.app.searches import Searches, SearchRequest
from facesearch.app.standing import Standing
from facesearch.app.standing_moves import StandingMoves
from facesearch.app.web_state import WebState
from facesearch.engine.pipeline import FacePipeline
from facesearch.govern import Governance
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings

__all__ = ["LOCAL_READS", "SearchRequest", "Service"]


class Service:
    """Owns the settings, the gallery and its governance, the engine lock and the search pool
    (:class:`AppContext`, built from the one :class:`Settings`), and hands out the resource
    services. ``pipeline``: face models already loaded, used by the gallery instead of loading
    its manifest's (the seam through which tests inject one shared pipeline)."""

    def __init__(
        self,
        settings: Settings,
        *,
        pipeline: FacePipeline | None = None,
        share_pipeline: bool = True,
    ) -> None:
        self.ctx = AppContext(settings, pipeline=pipeline, share_pipeline=share_pipeline)
        self.accounts = Accounts(self.ctx)
        self.cases = Cases(self.ctx)
        self.searches = Searches(self.ctx)
        self.faces = Faces(self.ctx)
        self.compare = Compare(self.ctx)
        self.admin = Admin(self.ctx)
        self.models = Models(self.ctx)  # the recognizers an agency adds (app/models.py)
        self.incidents = Incidents(self.ctx)
        self.compliance = Compliance(self.ctx)
        self.standing = Standing(self.ctx)
        self.standing_moves = StandingMoves(self.ctx)
        self.reports = Reports(self.ctx)
        self.authorisations = Authorisations(self.ctx)
        self.library = Library(self.ctx)
        self.media_jobs = MediaJobs(self.ctx)  # media uploaded from the browser
        self.migrations = ModelMigrations(self.ctx)  # moving the gallery to another model
        try:  # ingest jobs are rows of the catalog; those a dead process left: interrupted
            self.library.jobs.bind(self.ctx)
            self.media_jobs.recover()
        except BaseException:
            self.ctx.close()
            raise
        self.web_state = WebState.of_catalog(self.ctx.gallery.catalog.engine)

    @classmethod
    def open(cls, settings: Settings, *, pipeline: FacePipeline | None = None) -> Service:
        """The service of a server process. With several search threads each OpenCV call runs
        on one thread (the threads already use the cores; nested pools oversubscribe them)."""
        if settings.search_workers > 1:
            import cv2

            cv2.setNumThreads(1)
        # searches run while ingest jobs use the gallery's pipeline: each search thread its own
        return cls(settings, pipeline=pipeline, share_pipeline=False)

    @classmethod
    def for_cli(cls, settings: Settings, *, pipeline: FacePipeline | None = None) -> Service:
        """The service of one CLI invocation, on the machine that holds the data."""
        return cls(settings, pipeline=pipeline)

    def close(self) -> None:
        self.library.jobs.shutdown()
        self.media_jobs.shutdown()
        self.ctx.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def governance(self) -> Governance:
        return self.ctx.governance

    @property
    def gallery(self) -> Gallery:
        return self.ctx.gallery
