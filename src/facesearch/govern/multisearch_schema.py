"""Tables of governed multi-probe searches (issue 12, item 5; see govern/multisearch.py).

* ``gov_search_probes``: every probe of a multi-probe search, by position: its SHA-256, its
  stored copy (``gov_probes``, under the case's retention like any probe), quality, the face
  searched, and for a media-set cluster the media face it came from. The search's own row
  (``gov_searches``) names the first probe.
* ``gov_multiprobe_scores``: per candidate shown, the score against the mean of the probes'
  normalised embeddings (the rank score, also ``gov_candidates.score``), the best single
  probe's score and which probe gave it, each probe's score, and which probes matched (score at
  or above the match band). Deleted with the candidates when the results are purged.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facesearch.store.schema import Base, FaceId

__all__ = ["MultiProbeScore", "SearchProbe"]


class SearchProbe(Base):
    __tablename__ = "gov_search_probes"
    __table_args__ = (UniqueConstraint("search_id", "position", name="uq_gov_search_probe"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, ... as given
    probe_id: Mapped[int | None] = mapped_column(ForeignKey("gov_probes.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    quality: Mapped[float | None] = mapped_column(Float)
    face: Mapped[int | None] = mapped_column(Integer)  # face of the photo searched
    media_face_id: Mapped[int | None] = mapped_column(FaceId)  # a cluster's face
    cluster_id: Mapped[int | None] = mapped_column(Integer)  # the cluster searched, if any
    label: Mapped[str] = mapped_column(String(300), default="")  # file name or media path


class MultiProbeScore(Base):
    __tablename__ = "gov_multiprobe_scores"
    __table_args__ = (UniqueConstraint("search_id", "face_id", name="uq_gov_multiprobe_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("gov_searches.id"), index=True)
    face_id: Mapped[int] = mapped_column(FaceId)
    mean_score: Mapped[float] = mapped_column(Float)
    best_score: Mapped[float] = mapped_column(Float)
    best_probe: Mapped[int] = mapped_column(Integer)  # position
    best_band: Mapped[str] = mapped_column(String(20))
    scores: Mapped[list[float]] = mapped_column(JSON, default=list)  # by position
    matched: Mapped[list[int]] = mapped_column(JSON, default=list)  # positions
