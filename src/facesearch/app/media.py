"""Victim identification in the application layer: how the CLI (``facesearch media``) and the
HTTP API (``/cases/{number}/media``) reach the media toolkit, and how it is plugged into
governance.

* :func:`register_media` - by the composition root (``app.context.open_governance``) when it builds
  a governance: adds media's sections to that governance's case report (the media sets,
  persons, decisions and cross-case alerts; governance does not import media). Idempotent.
* :func:`media_service` - the governed media acts (:class:`MediaService`) on the composition
  root's governance and gallery, with the media settings of its one :class:`Settings` (the CLI
  may override three of them for one command); the environment is read in settings.py only.

The types and helpers the interfaces print are re-exported here, so that they import ``app``
only.
"""

from __future__ import annotations

from typing import Protocol

from facesearch.govern import Governance
from facesearch.media.acts import MediaService
from facesearch.media.alerts import AlertView, CrossCheck
from facesearch.media.config import MediaSettings
from facesearch.media.hashset_library import HashSetSummary
from facesearch.media.hashsets import dumps as dump_vics
from facesearch.media.importer import MediaImportReport, MediaProgress
from facesearch.media.persons import ClusterFace, ClusterRun, ClusterView, DecisionView
from facesearch.media.report import register as register_media
from facesearch.media.tracks import TrackView
from facesearch.media.tracks import clock as media_clock
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings

__all__ = [
    "AlertView",
    "ClusterFace",
    "ClusterRun",
    "ClusterView",
    "CrossCheck",
    "DecisionView",
    "HashSetSummary",
    "MediaHost",
    "MediaImportReport",
    "MediaProgress",
    "MediaService",
    "MediaSettings",
    "TrackView",
    "dump_vics",
    "media_clock",
    "media_service",
    "media_settings",
    "register_media",
]


class MediaHost(Protocol):
    """What the media acts need of the composition root: its settings, governance, gallery."""

    @property
    def settings(self) -> Settings: ...

    @property
    def governance(self) -> Governance: ...

    @property
    def gallery(self) -> Gallery: ...


def media_settings(
    settings: Settings,
    *,
    pdq_threshold: int | None = None,
    cluster_threshold: float | None = None,
    video_fps: float | None = None,
) -> MediaSettings:
    """The media settings of ``settings``, with the given (non-None) overrides validated like
    the settings themselves (e.g. a PDQ threshold above 256 is refused)."""
    given = {
        k: v
        for k, v in {
            "media_pdq_threshold": pdq_threshold,
            "media_cluster_threshold": cluster_threshold,
            "media_video_fps": video_fps,
        }.items()
        if v is not None
    }
    if given:  # validated, without reading the environment again
        settings = type(settings).model_validate({**settings.model_dump(), **given})
    return MediaSettings.from_settings(settings)


def media_service(
    host: MediaHost,
    *,
    pdq_threshold: int | None = None,
    cluster_threshold: float | None = None,
    video_fps: float | None = None,
) -> MediaService:
    """The governed media acts on ``host``'s governance and gallery, with its settings."""
    settings = media_settings(
        host.settings,
        pdq_threshold=pdq_threshold,
        cluster_threshold=cluster_threshold,
        video_fps=video_fps,
    )
    return MediaService(host.governance, host.gallery, settings)
