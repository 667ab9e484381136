"""Live pick-up of a recognizer switch made by another process (or this one).

A switch (``app/model_switch.py``) rewrites ``faces`` to the target model's vectors, records
the active recognizer (``recognizer_state``) and raises the catalog's generation, in one
transaction. A process holding the gallery open notices the generation moved before its next
search (``Gallery.refresh_index``), reads the active recognizer's key (one primary-key read)
and, when it is not the one it searches with, changes everything that depends on the model
together: the manifest, the scoring (bands of the new model), the face pipeline and the
vector index (opened for the new model: the saved one if the switching process already wrote
it, else rebuilt from the catalog). The caller holds the engine's write lock, so no search
runs meanwhile: a search in flight finished on the old model, the next one runs on the new.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from facesearch.engine.pipeline import embedding_model_key
from facesearch.search.calibration import calibrated_manifest, gallery_manifest, index_directory
from facesearch.search.indexing import GalleryIndex
from facesearch.search.scoring import Scoring
from facesearch.store.recognizers import active_model_key

if TYPE_CHECKING:
    from facesearch.engine.pipeline import FacePipeline
    from facesearch.search.gallery import Gallery

log = logging.getLogger(__name__)


@dataclass
class Followed:
    """What a gallery object keeps across the switches it followed: the pipelines loaded
    (by model key: a switch back needs no load) and how many (search threads compare it to
    renew their own pipelines)."""

    pipelines: dict[str, FacePipeline] = field(default_factory=dict)
    epoch: int = 0


def recognizer_moved(gallery: Gallery) -> bool:
    """True when the catalog names a recognizer other than the one ``gallery`` searches with."""
    key = active_model_key(gallery.catalog.engine)
    return key is not None and key != gallery.manifest.recognizer.model_key


def reload_recognizer(gallery: Gallery) -> bool:
    """Move ``gallery`` onto the recognizer the catalog names (see the module doc); False
    when it already searches with it. The caller holds the engine's write lock."""
    manifest = calibrated_manifest(
        gallery.data_dir,
        gallery_manifest(gallery.data_dir, gallery.catalog, gallery.base_manifest),
        gallery.pipeline_settings,
    )
    old = gallery.manifest.recognizer.model_key
    new = manifest.recognizer.model_key
    if new == old:
        return False
    # everything of the new model first (any of it may refuse: nothing has changed then)
    scoring = Scoring.from_manifest(manifest, fusion=gallery.pipeline_settings.second_model)
    vectors = GalleryIndex(
        gallery.catalog,
        gallery.backends,
        embedding_model_key(manifest, gallery.pipeline_settings),
        int(manifest.recognizer.embedding_size or 0),
        index_directory(gallery.data_dir, manifest),  # each model its own saved index
        lock=gallery.writer,
    )
    vectors.store  # noqa: B018  (opened now: the saved index if of this model, else rebuilt)
    followed = gallery.followed
    before = gallery.loaded_pipeline
    if before is not None:  # kept: a switch back needs no load
        followed.pipelines[old] = before
    gallery.manifest, gallery.scoring = manifest, scoring
    gallery.pipeline = followed.pipelines.get(new)  # None: loaded on first use
    previous, gallery.vectors = gallery.vectors, vectors
    previous.discard()  # the old model's index is not saved over the new one
    followed.epoch += 1
    log.info("gallery switched from %s to %s", old, new)
    return True
