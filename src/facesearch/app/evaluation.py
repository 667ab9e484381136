"""Accuracy you can state, as the CLI's ``eval`` and ``calibrate`` run it: labelled photos
through the search pipeline, the figures at the data directory's operating point, and the
calibration of the bands. The interfaces call these; they import nothing of evaluate/ or the
engine themselves."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.engine.embed import second_model_spec
from facesearch.engine.pipeline import PipelineSettings
from facesearch.evaluate.calibrate import (
    CALIBRATION_FILE,
    Calibration,
    CalibrationError,
    calibrate_dataset,
    calibrated_manifest,
    write_calibration,
)
from facesearch.evaluate.runner import (
    Dataset,
    EvalReport,
    Thresholds,
    embed_images,
    iter_summary_rows,
    load_dataset,
    run_evaluation,
    write_plots,
    write_scores,
)
from facesearch.models.inference import InferenceSettings
from facesearch.models.manifest import load_manifest
from facesearch.search.scoring import Scoring
from facesearch.settings import Settings

__all__ = [
    "CalibrationRun",
    "Dataset",
    "EvalReport",
    "calibrate",
    "evaluate",
    "iter_summary_rows",
    "load_dataset",
    "write_outputs",
]

Progress = Callable[[int, int], None]
Note = Callable[[str], None]


def operating_thresholds(
    data_dir: Path, settings: PipelineSettings, *, fused: bool, note: Note
) -> Thresholds:
    """The operating thresholds, as search uses them: the data directory's calibrated bands
    (else the packaged ones; ``note`` says why), for fused scores the fused bands."""
    try:
        manifest = calibrated_manifest(data_dir, settings=settings)
    except CalibrationError as exc:  # e.g. a calibration of another embedding variant
        note(f"{exc}; using the packaged thresholds")
        manifest = load_manifest()
    scoring = Scoring.from_manifest(manifest, fusion=fused)
    # evaluation fuses SFace with dlib only: an N-recognizer fusion's bands never band its scores
    bands = scoring.bands_for(fused and scoring.fusion is not None)
    return Thresholds(bands.match, bands.strong)


def evaluate(
    dataset: Dataset,
    *,
    settings: Settings,
    flip: bool,
    fusion: bool,
    workers: int | None,
    seed: int,
    max_impostors: int | None,
    on_progress: Progress | None,
    note: Note,
) -> EvalReport:
    """1:1 and 1:N accuracy of ``dataset`` through the search pipeline, at the operating
    point of the settings' data directory, on the models' runtimes the settings choose."""
    chosen = PipelineSettings(
        flip_fusion=flip, second_model=fusion, inference=InferenceSettings.from_settings(settings)
    )
    report: EvalReport = run_evaluation(
        dataset,
        thresholds=operating_thresholds(settings.data_dir, chosen, fused=fusion, note=note),
        settings=chosen,
        workers=workers,
        seed=seed,
        max_impostors=max_impostors,
        on_progress=on_progress,
    )
    return report


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_outputs(
    report: EvalReport,
    dataset: Dataset,
    *,
    name: str,
    out: Path | None,
    json_file: Path | None,
) -> list[Path]:
    """The plots and pair scores (into ``out``) and the JSON report; the files written."""
    written: list[Path] = []
    if out is not None:
        written += write_plots(report, out, name=name)
        if dataset.pairs:
            written.append(write_scores(report, out / "scores.tsv"))
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(
            json.dumps(report.to_dict(), indent=2, default=_json_default) + "\n",
            encoding="utf-8",
        )
        written.append(json_file)
    return written


@dataclass(frozen=True)
class CalibrationRun:
    """A calibration, the thresholds it replaces, and where it was (or would be) written."""

    calibration: Calibration
    current: dict[str, Any]
    current_fused: dict[str, Any]
    root: Path
    target: Path


def calibrate(
    dataset: Dataset,
    *,
    settings: Settings,
    output: Path | None,
    fusion: bool,
    workers: int | None,
    include: Sequence[str],
    dry_run: bool,
    on_progress: Progress | None,
    note: Note,
) -> CalibrationRun:
    """Calibrate the match/strong thresholds (FAR 1e-3 / 1e-4) on ``dataset``; written to
    ``output`` (default: calibration.json in the settings' data directory) unless
    ``dry_run``; the models run on the runtimes the settings choose."""
    root = settings.data_dir
    target = output or root / CALIBRATION_FILE
    chosen = PipelineSettings(
        second_model=fusion, inference=InferenceSettings.from_settings(settings)
    )
    try:
        current_manifest = calibrated_manifest(root, settings=chosen)
    except CalibrationError as exc:  # a file for another model: replaced by this run
        note(str(exc))
        current_manifest = load_manifest()
    current = dict(current_manifest.recognizer.thresholds)
    second_spec = second_model_spec(current_manifest)
    current_fused = dict(second_spec.thresholds) if second_spec is not None else {}
    embeddings = embed_images(
        dataset.paths, settings=chosen, workers=workers, on_progress=on_progress
    )
    calibration = calibrate_dataset(dataset, embeddings, include=include)
    if not dry_run:
        write_calibration(calibration, target)
    return CalibrationRun(calibration, current, current_fused, root, target)


def summary_rows(report: EvalReport) -> Iterator[tuple[str, str]]:
    """The figures of a report as (name, value) rows."""
    yield from iter_summary_rows(report)
