"""Calibrating and measuring a chosen recognizer, and comparing recognizers before a switch
(``facesearch calibrate --model``, ``facesearch eval --model`` and ``eval --compare``).

A model is named by its key: a model of the data directory's model store (an agency's own,
added with ``facesearch models add``) or a packaged one. Without a name, the recognizer the
gallery searches with (the catalog's ``recognizer_state``; the packaged default when there is
no catalog or no row). The packaged default recognizer runs exactly as plain ``eval`` and
``calibrate`` run it (:mod:`facesearch.app.evaluation`: fused with the second recognizer, the
data directory's calibration.json). Any other model runs alone
(``PipelineSettings(second_model=False)``: the shipped fusion was fitted for SFace), and its
bands are its own: a store model's calibration goes to ``<data dir>/models/<name>/
calibration.json`` (:meth:`ModelStore.write_calibration`), never to the gallery's file, and a
model without one has no operating point (its figures at the bands are left out, never
borrowed from another model's).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from facesearch.app.evaluation import CalibrationRun, _json_default
from facesearch.app.evaluation import calibrate as calibrate_default
from facesearch.app.evaluation import evaluate as evaluate_default
from facesearch.engine.pipeline import PipelineSettings
from facesearch.errors import ModelFileError
from facesearch.evaluate.calibrate import calibrate_dataset
from facesearch.evaluate.compare_models import (
    CANDIDATE,
    CI_METHOD,
    CURRENT,
    Comparison,
    comparison_curves,
    fusion_row,
    gallery_sizes,
    model_row,
)
from facesearch.evaluate.embedding import EmbeddingSet
from facesearch.evaluate.plots import plot_roc
from facesearch.evaluate.protocols import face_convention
from facesearch.evaluate.runner import Dataset, EvalReport, Thresholds, embed_images
from facesearch.evaluate.runner import evaluate as score_report
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import STORE, Manifest, load_manifest
from facesearch.models.store import CALIBRATION_FILE, ModelStore, StoredModel, with_store
from facesearch.search.calibration import gallery_manifest
from facesearch.settings import Settings
from facesearch.store.catalog import SqlCatalog

__all__ = [
    "CI_METHOD",
    "ModelChoice",
    "calibrate_model",
    "choose_model",
    "compare_models",
    "evaluate_model",
    "write_comparison",
]

Progress = Callable[[int, int], None]
Note = Callable[[str], None]
RECOGNIZER_KINDS = ("recognizer", "recognizer-secondary")
SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class ModelChoice:
    """A recognizer to measure: its key, the manifest that runs it, how, and its own bands."""

    name: str
    manifest: Manifest  # the packaged manifest with the store's models, ``name`` as recognizer
    pipeline: PipelineSettings
    thresholds: Thresholds | None  # its own bands; None: not calibrated (no operating point)
    stored: StoredModel | None  # set for a model of the data directory's model store
    packaged_default: bool  # the packaged default recognizer: plain eval / calibrate

    @property
    def model_key(self) -> str:
        return self.manifest.recognizer.model_key


def active_recognizer_name(settings: Settings) -> str:
    """The key of the recognizer the data directory's gallery searches with."""
    default = load_manifest().default_recognizer
    url = settings.catalog_url
    if url.startswith(SQLITE_PREFIX) and not Path(url[len(SQLITE_PREFIX) :]).is_file():
        return default  # no gallery yet: nothing was switched
    catalog = SqlCatalog(url, run_migrations=False)
    try:
        return gallery_manifest(settings.data_dir, catalog).default_recognizer
    except SQLAlchemyError:  # a catalog from before recognizer_state: never switched
        return default
    finally:
        catalog.close()


def choose_model(settings: Settings, name: str | None, *, fusion: bool = True) -> ModelChoice:
    """The model ``name`` (None: the gallery's active recognizer), ready to run; ``fusion``
    applies to the packaged default recognizer only (as ``eval --sface-only``)."""
    store = ModelStore.of(settings.data_dir)
    packaged = load_manifest()
    base = with_store(packaged, store)
    key = name or active_recognizer_name(settings)
    spec = base.models.get(key)
    if spec is None or spec.kind not in RECOGNIZER_KINDS:
        known = [k for k, s in base.models.items() if s.kind in RECOGNIZER_KINDS]
        raise ModelFileError(
            f"no recognizer {key!r} in the packaged manifest or the model store "
            f"({store.root}); known: {', '.join(sorted(known))}"
        )
    inference = InferenceSettings.from_settings(settings)
    manifest = dataclasses.replace(base, default_recognizer=key)
    if key == packaged.default_recognizer:
        return ModelChoice(
            key,
            manifest,
            PipelineSettings(second_model=fusion, inference=inference),
            None,  # the data directory's bands, as plain eval reads them
            None,
            True,
        )
    stored = store.get(key, packaged) if spec.source == STORE else None
    bands = spec.thresholds
    thresholds = (
        Thresholds(float(bands["match"]), float(bands["strong"]))
        if "match" in bands and "strong" in bands
        else None
    )
    return ModelChoice(
        key,
        manifest,
        PipelineSettings(second_model=False, inference=inference),
        thresholds,
        stored,
        False,
    )


def embed_model(
    dataset: Dataset,
    choice: ModelChoice,
    *,
    workers: int | None,
    on_progress: Progress | None,
) -> EmbeddingSet:
    """The data set's photos through ``choice``'s pipeline (the protocol's face rule)."""
    return embed_images(
        dataset.paths,
        settings=choice.pipeline,
        manifest=choice.manifest,
        workers=workers,
        on_progress=on_progress,
        face_rule=face_convention(dataset.kind).rule,
    )


def score_model(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    thresholds: Thresholds | None,
    *,
    seed: int,
    max_impostors: int | None,
    why: str = "",
) -> EvalReport:
    """The report of an embedding pass; without bands, no figures at the operating point
    (``why`` says so in the report's notes; default: the model is not calibrated)."""
    if thresholds is not None:
        return score_report(dataset, embeddings, thresholds, seed=seed, max_impostors=max_impostors)
    report = score_report(
        dataset, embeddings, Thresholds(math.nan, math.nan), seed=seed, max_impostors=max_impostors
    )
    if report.verification is not None:
        report.verification.at_thresholds = {}
        report.verification.quality_bins = []
        report.verification.groups = {}
    report.notes.append(
        why
        or f"{embeddings.model_key} has no calibration of its own: no figures at the operating "
        "point (bands are never borrowed from another model; calibrate it with "
        "'facesearch calibrate --model')"
    )
    return report


def evaluate_model(
    dataset: Dataset,
    *,
    settings: Settings,
    name: str | None,
    fusion: bool,
    flip: bool,
    workers: int | None,
    seed: int,
    max_impostors: int | None,
    on_progress: Progress | None,
    note: Note,
) -> EvalReport:
    """``facesearch eval --model NAME``: the packaged default as plain ``eval``; any other
    model alone, at its own bands."""
    choice = choose_model(settings, name, fusion=fusion)
    if choice.packaged_default:
        return evaluate_default(
            dataset,
            settings=settings,
            flip=flip,
            fusion=fusion,
            workers=workers,
            seed=seed,
            max_impostors=max_impostors,
            on_progress=on_progress,
            note=note,
        )
    if flip:
        note("--flip applies to SFace; another model's flip averaging is part of its card")
    embeddings = embed_model(dataset, choice, workers=workers, on_progress=on_progress)
    return score_model(
        dataset, embeddings, choice.thresholds, seed=seed, max_impostors=max_impostors
    )


def store_record(calibration: dict[str, Any]) -> dict[str, Any]:
    """A calibration as the model store keeps it: the bands as ``thresholds`` {match,
    strong}, the thresholds at every recorded FAR as ``far_thresholds``."""
    record = dict(calibration)
    record["far_thresholds"] = record.pop("thresholds", {})
    record["thresholds"] = {"match": calibration["match"], "strong": calibration["strong"]}
    return record


def calibrate_model(
    dataset: Dataset,
    *,
    settings: Settings,
    name: str | None,
    output: Path | None,
    fusion: bool,
    workers: int | None,
    include: Sequence[str],
    dry_run: bool,
    on_progress: Progress | None,
    note: Note,
) -> CalibrationRun:
    """``facesearch calibrate --model NAME``: the packaged default as plain ``calibrate``
    (the gallery's calibration.json); a store model's bands into its own calibration.json."""
    choice = choose_model(settings, name, fusion=fusion)
    if choice.packaged_default:
        return calibrate_default(
            dataset,
            settings=settings,
            output=output,
            fusion=fusion,
            workers=workers,
            include=include,
            dry_run=dry_run,
            on_progress=on_progress,
            note=note,
        )
    if output is not None:
        raise ValueError(
            f"--output is the gallery's calibration file; {choice.name}'s bands go with it in "
            "the model store (leave --output out)"
        )
    if choice.stored is None and not dry_run:
        raise ValueError(
            f"{choice.name} is a packaged model without a folder of its own: its bands can be "
            "measured (--dry-run) but not written"
        )
    current = dataclasses.asdict(choice.thresholds) if choice.thresholds else {}
    embeddings = embed_model(dataset, choice, workers=workers, on_progress=on_progress)
    calibration = calibrate_dataset(dataset, embeddings, include=include)
    folder = choice.stored.folder if choice.stored else settings.data_dir
    target = folder / CALIBRATION_FILE
    if not dry_run and choice.stored is not None:
        store = ModelStore.of(settings.data_dir)
        target = store.write_calibration(choice.name, store_record(calibration.to_dict()))
    return CalibrationRun(calibration, current, {}, folder, target)


def compare_models(
    dataset: Dataset,
    names: Sequence[str],
    *,
    settings: Settings,
    fusion: bool,
    workers: int | None,
    seed: int,
    max_impostors: int | None,
    on_progress: Progress | None,
    note: Note,
) -> Comparison:
    """The current model, each named model, and the current model's primary recognizer fused
    with each, on ``dataset`` (:mod:`facesearch.evaluate.compare_models`)."""
    current = choose_model(settings, None, fusion=fusion)
    sampled, size_names = gallery_sizes(dataset)
    current_report = evaluate_model(
        dataset,
        settings=settings,
        name=current.name,
        fusion=fusion,
        flip=False,
        workers=workers,
        seed=seed,
        max_impostors=max_impostors,
        on_progress=on_progress,
        note=note,
    )
    rows = [model_row(current.name, CURRENT, current_report, seed=seed, sizes=sampled)]
    notes: list[str] = []

    def unbanded(embeddings: EmbeddingSet) -> EvalReport:
        why = "a fusion measured here has no bands of its own: no figures at the operating point"
        return score_model(
            dataset, embeddings, None, seed=seed, max_impostors=max_impostors, why=why
        )

    for name in dict.fromkeys(names):
        if name == current.name:
            notes.append(f"{name} is the current model: shown once")
            continue
        report = evaluate_model(
            dataset,
            settings=settings,
            name=name,
            fusion=fusion,
            flip=False,
            workers=workers,
            seed=seed,
            max_impostors=max_impostors,
            on_progress=on_progress,
            note=note,
        )
        embeddings = report.embeddings
        rows.append(model_row(name, CANDIDATE, report, seed=seed, sizes=sampled))
        rows.append(
            fusion_row(
                f"{current.name} + {name}",
                dataset,
                current_report.embeddings,
                embeddings,
                unbanded,
                seed=seed,
                sizes=sampled,
            )
        )
    if current_report.embeddings.fusion is not None:
        notes.append(
            f"{current.name} is scored as search scores it (fused with the second recognizer); "
            "its fusion with another model uses its own vectors alone"
        )
    return Comparison(dataset, rows, size_names, notes)


def strict_json(value: Any) -> Any:
    """``value`` with NaN and infinities as None (figures that do not exist), so that any
    JSON reader takes the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    if hasattr(value, "tolist"):
        return strict_json(value.tolist())
    return value


def write_comparison(
    comparison: Comparison, *, name: str, out: Path | None, json_file: Path | None
) -> list[Path]:
    """The ROC plot (one curve per model, into ``out``) and every figure as JSON."""
    written: list[Path] = []
    if out is not None:
        curves = comparison_curves(comparison.rows)
        if curves:
            written.append(plot_roc(curves, out / "roc.png", title=f"ROC: {name}"))
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(
            json.dumps(
                strict_json(comparison.to_dict()), indent=2, default=_json_default, allow_nan=False
            )
            + "\n",
            encoding="utf-8",
        )
        written.append(json_file)
    return written
