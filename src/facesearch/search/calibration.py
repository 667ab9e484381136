"""A gallery's manifest with its calibration applied: the thresholds its bands use.

The calibration records are read by ``models/calibration.py``; this applies one to the
manifest of a pipeline (its second-recognizer vectors and fusion, its embedding variant).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from facesearch.engine.embed import manifest_fusion, second_vectors_manifest, variant_name
from facesearch.engine.pipeline import PipelineSettings
from facesearch.errors import ModelFileError
from facesearch.models.calibration import Calibration, CalibrationError, find_calibration
from facesearch.models.manifest import STORE, load_manifest
from facesearch.models.store import ModelStore, with_store
from facesearch.store.recognizers import active_recognizer

if TYPE_CHECKING:
    from facesearch.engine.pipeline import PipelineSettings
    from facesearch.models.manifest import Manifest
    from facesearch.store.catalog import SqlCatalog

log = logging.getLogger(__name__)


def embedding_variant(settings: PipelineSettings | None = None) -> str:
    """The embedding variant a pipeline with these settings produces."""

    return variant_name((settings or PipelineSettings()).flip_fusion)


def apply_calibration(
    manifest: Manifest, calibration: Calibration, *, variant: str | None = None
) -> Manifest:
    """A copy of ``manifest`` whose recognizer uses the calibration's thresholds.

    Raises :class:`CalibrationError` if the calibration was made with another model or
    another embedding variant (thresholds do not carry over between them).
    """
    spec = manifest.recognizer
    if calibration.model_key != spec.model_key:
        raise CalibrationError(
            f"the calibration was made for {calibration.model_key}, but this facesearch uses "
            f"{spec.model_key}: run 'facesearch calibrate' again or remove the file"
        )
    if variant is not None and calibration.embedding != variant:
        raise CalibrationError(
            f"the calibration was made with '{calibration.embedding}' embeddings, but this "
            f"pipeline makes '{variant}' embeddings: run 'facesearch calibrate' again"
        )
    thresholds = {
        **spec.thresholds,
        **calibration.thresholds,
        "match": calibration.match,
        "strong": calibration.strong,
        "source": f"calibration file ({calibration.dataset}, {calibration.date})",
    }
    new_spec = dataclasses.replace(spec, thresholds=thresholds, calibration=calibration.to_dict())
    models = {**manifest.models, spec.key: new_spec}
    second = manifest.models.get(calibration.fused["model"]) if calibration.fused else None
    if calibration.fused and second is not None:
        current = manifest_fusion(manifest)
        if current is None or current.to_dict() != calibration.fused.get("fusion"):
            # e.g. a file made before the second vectors were flip-averaged: its SFace bands
            # still hold, its fused ones do not (the packaged fused bands are kept)
            log.warning(
                "the calibration's fused thresholds were made with another score fusion than "
                "this facesearch's, so the packaged fused thresholds are used: run "
                "'facesearch calibrate' again"
            )
            return dataclasses.replace(manifest, models=models)
        fused_thresholds = {
            **second.thresholds,
            **calibration.fused.get("thresholds", {}),
            "match": float(calibration.fused["match"]),
            "strong": float(calibration.fused["strong"]),
            "source": f"calibration file ({calibration.dataset}, {calibration.date})",
        }
        models[second.key] = dataclasses.replace(second, thresholds=fused_thresholds)
    return dataclasses.replace(manifest, models=models)


def calibrated_manifest(
    data_dir: Path | str,
    manifest: Manifest | None = None,
    settings: PipelineSettings | None = None,
) -> Manifest:
    """The manifest with ``data_dir/calibration.json`` applied, if that file exists.

    This is what a gallery should use::

        manifest = calibrated_manifest(data_dir, load_manifest(), pipeline_settings)
        bands = Bands.from_spec(manifest.recognizer)
    """

    chosen = settings or PipelineSettings()
    base = manifest or load_manifest()
    if base.recognizer.source == STORE:  # an agency model: its bands are its own calibration's
        return base
    if chosen.second_model:  # the second recognizer's vectors as this pipeline makes them
        base = second_vectors_manifest(base, chosen.second_flip)
    calibration = find_calibration(data_dir)
    if calibration is None:
        return base
    return apply_calibration(base, calibration, variant=embedding_variant(settings))


def gallery_manifest(
    data_dir: Path, catalog: SqlCatalog, manifest: Manifest | None = None
) -> Manifest:
    """``manifest`` (default: the packaged one) with the data directory's model store added
    and the recognizer the catalog says the gallery searches with as its recognizer."""
    base = with_store(manifest or load_manifest(), ModelStore.of(data_dir))
    active = active_recognizer(catalog.engine)
    if active is None or active.key == base.default_recognizer:
        return base
    if active.key not in base.models:
        raise ModelFileError(
            f"the gallery searches with {active.key}, which is not in its model store "
            f"({data_dir / 'models'}); restore the model folder from a backup, or add the "
            f"model again with 'facesearch models add'"
        )
    spec = base.models[active.key]
    if spec.model_key != active.model_key:
        raise ModelFileError(
            f"the gallery's vectors were made by {active.model_key}, but the model store holds "
            f"{spec.model_key} under that name: the file changed; restore the original file"
        )
    return dataclasses.replace(base, default_recognizer=active.key)


def index_directory(data_dir: Path, manifest: Manifest) -> Path:
    """Where the saved vector index of the gallery's recognizer lives: ``index`` for the
    packaged default recognizer (as always), ``index-<name>`` for another one, so each model
    keeps its own index and a switch back finds it (reconciled with the catalog on open)."""
    if manifest.recognizer.source != STORE:
        return data_dir / "index"
    return data_dir / f"index-{manifest.recognizer.key}"
