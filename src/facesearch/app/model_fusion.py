"""``facesearch calibrate --model NAME --fuse OTHER[,OTHER...]``: choose a fusion of a store
model with other recognizers on the agency's labelled photos, and record it in the model's own
calibration (``<data dir>/models/NAME/calibration.json``, under ``"fusion"``).

Every member embeds every photo (in this process: each member is its own pipeline, the same
detector, so the same face of each photo); the pairs are scored by each member
(:mod:`facesearch.evaluate.fusion_sets`); the weights are chosen by leave-one-dataset-out over
the labelled sets given, or k-fold within the one set given (said so in the record)
(:mod:`facesearch.evaluate.lodo_multi`); the fusion chosen on all of them is recorded with its
members, weights, impostor statistics, how it was chosen, the held-out figures and whether it
was accepted (no worse than the best single recognizer on every held-out set), and its fused
bands (FAR 1e-3 / 1e-4 on the fused scores of every pair). The model's own bands
(``"thresholds"``, from ``calibrate --model NAME``) are kept as they are: they band the pairs a
fusion cannot score (a face without a member's vector). The gallery's calibration.json is never
touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch import __version__
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.errors import ConfigError
from facesearch.evaluate.datasets import Dataset
from facesearch.evaluate.embedding import EmbeddingSet, embed_images
from facesearch.evaluate.fusion_sets import fused_bands, fusion_data, fusion_data_for
from facesearch.evaluate.lodo_multi import MAX_CANDIDATES, MultiLodo, choose
from facesearch.models.calibration import Calibration
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import Manifest, load_manifest
from facesearch.models.store import ModelStore, with_store
from facesearch.settings import Settings

Progress = Callable[[int, int], None]
Note = Callable[[str], None]
RECOGNIZER_KINDS = ("recognizer", "recognizer-secondary")


@dataclass(frozen=True)
class FusionRun:
    model: str  # the store model (the primary)
    names: tuple[str, ...]  # the members' manifest keys, primary first
    model_keys: tuple[str, ...]  # their vectors' model keys
    lodo: MultiLodo
    bands: Calibration
    record: dict[str, Any]  # what went (or would go) under "fusion"
    target: Path | None  # the calibration.json written; None on a dry run
    calibrated_alone: bool  # the model has its own bands (for pairs the fusion cannot score)


def _members(model: str, fuse: Sequence[str], manifest: Manifest, store: ModelStore) -> list[str]:
    if model not in store.names():
        known = ", ".join(store.names()) or "none"
        raise ConfigError(
            f"--model {model}: a fusion is recorded in a model of the data directory's model "
            f"store (added models: {known}; add one with `facesearch models add`)"
        )
    names = [model]
    for other in fuse:
        other = other.strip()
        if not other:
            continue
        spec = manifest.models.get(other)
        if spec is None or spec.kind not in RECOGNIZER_KINDS:
            recognizers = sorted(
                k for k, s in manifest.models.items() if s.kind in RECOGNIZER_KINDS
            )
            raise ConfigError(f"--fuse {other}: not a recognizer; one of {', '.join(recognizers)}")
        if other in names:
            raise ConfigError(f"--fuse {other}: listed twice (or it is the model itself)")
        names.append(other)
    if len(names) < 2:
        raise ConfigError("--fuse needs at least one other recognizer")
    return names


def _embed_all(
    paths: list[Path],
    names: Sequence[str],
    manifest: Manifest,
    settings: Settings,
    on_progress: Progress | None,
) -> list[EmbeddingSet]:
    """Each member's vectors of every photo, one member after the other, in this process (the
    evaluation's worker pool loads the packaged manifest, not the store's models)."""
    chosen = PipelineSettings(
        second_model=False, inference=InferenceSettings.from_settings(settings)
    )
    out = []
    for i, name in enumerate(names):
        pipe = FacePipeline(dataclasses.replace(manifest, default_recognizer=name), chosen)

        def progress(done: int, total: int, offset: int = i) -> None:
            if on_progress:
                on_progress(offset * total + done, len(names) * total)

        out.append(embed_images(paths, pipeline=pipe, workers=0, on_progress=progress))
    return out


def calibrate_fusion(
    datasets: dict[str, Dataset],
    *,
    model: str,
    fuse: Sequence[str],
    settings: Settings,
    dry_run: bool = False,
    seed: int = 2016,
    max_candidates: int = MAX_CANDIDATES,
    on_progress: Progress | None = None,
    note: Note | None = None,
) -> FusionRun:
    """Choose and record the fusion of store model ``model`` with ``fuse`` (see the module)."""
    if not datasets:
        raise ConfigError("no labelled sets given")
    store = ModelStore.of(settings.data_dir)
    packaged = load_manifest()
    manifest = with_store(packaged, store)
    names = _members(model, fuse, manifest, store)
    paths = list(dict.fromkeys(p for ds in datasets.values() for p in ds.paths))
    embeddings = _embed_all(paths, names, manifest, settings, on_progress)
    keys = tuple(e.model_key for e in embeddings)
    data = fusion_data(datasets, embeddings, seed=seed)
    lodo = choose(data.sets, keys, max_candidates=max_candidates)
    # a member the choice gave weight 0 is left out of the record: search would otherwise
    # need its vectors (and make the probe's) for nothing
    fusion = lodo.final.fusion.without_idle()
    kept = [i for i, k in enumerate(keys) if k in set(fusion.models)]
    if len(kept) < len(keys):
        data = fusion_data_for(data, kept)
    source = ", ".join(str(ds.source) for ds in datasets.values())
    bands = fused_bands(fusion, data, model_key=keys[0], dataset=source)
    record: dict[str, Any] = {
        **fusion.to_dict(),
        "names": [names[i] for i in kept],
        "left_out_with_weight_0": [n for i, n in enumerate(names) if i not in kept],
        "thresholds": {"match": bands.match, "strong": bands.strong},
        "bands": bands.to_dict(),
        "chosen_by": {
            **lodo.to_dict(),
            "sets": [
                {"name": s.name, "group": s.group, "pairs": int(s.labels.size)} for s in data.sets
            ],
            "accepted": lodo.decision.accepted,
        },
        "date": datetime.now(UTC).date().isoformat(),
        "facesearch_version": __version__,
    }
    stored = store.get(model, packaged)
    if not lodo.decision.accepted and note:
        note(
            "the fusion lost to a single recognizer on held-out set(s) "
            + ", ".join(lodo.decision.failures)
            + "; it is recorded with that decision"
        )
    if not stored.calibrated and note:
        note(
            f"{model} has no bands of its own yet (`facesearch calibrate --model {model}`): "
            "pairs the fusion cannot score need them"
        )
    target = None
    if not dry_run:
        calibration = dict(stored.calibration or {})
        calibration["fusion"] = record
        target = store.write_calibration(model, calibration)
    return FusionRun(model, tuple(names), keys, lodo, bands, record, target, stored.calibrated)
