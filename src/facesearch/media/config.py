"""The typed settings of victim identification, built from the one :class:`Settings`.

The environment is read in :mod:`facesearch.settings` only; the composition root passes the
settings down (``MediaSettings.from_settings(settings)``), so the CLI and the HTTP API run the
media toolkit with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facesearch.media.cluster import ClusterSettings
from facesearch.media.elimination import EliminationSettings
from facesearch.media.video import VideoSettings
from facesearch.settings import Settings


@dataclass(frozen=True)
class MediaSettings:
    elimination: EliminationSettings = field(default_factory=EliminationSettings)
    clustering: ClusterSettings = field(default_factory=ClusterSettings)
    video: VideoSettings = field(default_factory=VideoSettings)

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaSettings:
        """The media settings of ``settings`` (its ``media_*`` fields)."""
        return cls(
            elimination=EliminationSettings(
                settings.media_pdq_threshold, settings.media_min_pdq_quality
            ),
            clustering=ClusterSettings(threshold=settings.media_cluster_threshold),
            video=VideoSettings(
                fps=settings.media_video_fps,
                faces_per_track=settings.media_video_faces_per_track,
                max_bytes=settings.media_video_max_bytes,
            ),
        )
