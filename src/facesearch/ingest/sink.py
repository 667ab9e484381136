"""Where an ingest run writes: the :class:`IngestSink` port, and what a run is told to make.

An :class:`~facesearch.ingest.runner.IngestRun` never sees the gallery: it reads sources, hands
images to workers and writes their results through a sink (the gallery side implements it:
``facesearch.search.gallery.GallerySink``), so ingest can be tested or redirected on its own and the
gallery and the runner do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from facesearch.engine.embed import DlibEmbedder
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.ingest.second_vectors import SecondVectorsPlan
    from facesearch.ingest.worker import ChipGeometry, SecondRecognizer
    from facesearch.models.manifest import Manifest
    from facesearch.store.catalog import ImageRecord, ProvenanceRecord

#: True for the face (its primary embedding) of a person on the suppression list.
SuppressionPredicate = Callable[[np.ndarray], bool]


class IngestSink(Protocol):
    """What an ingest run writes to: catalog rows, blobs and the vector index."""

    def start_run(self, sources: list[str], collection: str | None) -> int: ...
    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None: ...
    def add_failure(self, run_id: int, path: str, reason: str) -> None: ...
    def image_id_by_sha(self, sha256: str) -> int | None: ...
    def add_provenance(self, image_id: int, prov: ProvenanceRecord, run_id: int | None) -> bool: ...
    def put_blob(self, data: bytes) -> str: ...
    def discard_unstored_blobs(self) -> int:
        """Delete the blobs written since the last ``add_images`` that no stored image refers
        to (after a failed write: on a full disk, their space lets the run be marked failed).
        Returns how many were deleted."""
        ...

    def add_images(self, records: Sequence[ImageRecord], run_id: int | None) -> list[list[int]]: ...
    def index_add(self, ids: Sequence[int], vectors: Sequence[np.ndarray]) -> None: ...
    def batch(self) -> AbstractContextManager[None]:
        """Held around each group's :meth:`add_images` and :meth:`index_add`: the group is
        committed and made searchable alone (searches wait for it, not for the run)."""
        ...

    def checkpoint(self) -> None:
        """Called after each group of stored images (e.g. save the index now and then)."""

    def finish(self) -> None:
        """Called once at the end of a run, interrupted or not (fit and save the index)."""


@dataclass(frozen=True)
class IngestPlan:
    """What the workers run and what the stored faces record.

    ``worker_settings``: the workers' pipeline (SFace; the second recognizer is run by the
    worker itself, below). ``chips``: the workers also align each face's chip for the second
    recognizer (None when it is off). ``second``: the workers describe those chips with the
    second recognizer and the vectors come with the faces (None: the chips are queued for the
    pass after ingest); ``second_vectors`` says which was chosen and why.
    ``pipeline`` and ``second_in_process``: the loaded models for in-process runs
    (``workers=0``). ``originals``: keep each photo in the blob store, up to that size."""

    worker_settings: PipelineSettings
    model: str
    second_model: str | None
    chips: ChipGeometry | None
    pipeline: Callable[[], FacePipeline]
    second: SecondRecognizer | None = None
    second_in_process: Callable[[], DlibEmbedder] | None = None
    second_vectors: SecondVectorsPlan | None = None
    nice: int = 0  # the workers' CPU priority below the ingesting process's
    #: the most bytes of a photo kept as its original in the blob store (None: originals are
    #: not kept, the full image is read from where it was ingested: ``keep_originals``)
    originals: int | None = None
    #: the gallery's manifest (with its own calibration and the model store's models): the
    #: workers run its recognizer, which may be an agency's own (None: the packaged manifest)
    manifest: Manifest | None = None
