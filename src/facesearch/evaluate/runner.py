"""Evaluation runs: embed a labelled data set once through the face pipeline, then score it.

This is what ``facesearch eval`` runs. Every image goes through
:meth:`facesearch.engine.pipeline.FacePipeline.process_image`, the path ingest, search and
``compare`` use, and one face per image is scored: the one the protocol's face convention
picks (:func:`~facesearch.evaluate.protocols.face_convention`: the **central** face for LFW
``pairs.txt``, whose images are crops centred on the labelled person; the **largest**, as
``compare`` does by default, for everything else). The report says which rule ran, and
counts the photos whose two largest faces are of similar size (ambiguous) and those where
the face scored is not the largest. Each image is embedded once per run, whatever the number
of pairs it is in.

Inputs (see :func:`load_dataset`):

* ``cfp-ff`` / ``cfp-fp``: the CFP ``Protocol/Split`` format, 10 official folds.
* ``lfw``: an LFW ``pairs.txt`` (folds from the file), images under ``--images``.
* ``pairs``: a pair table (``img_a, img_b, same_person``; deepface's ``master.csv`` too).
* ``folders``: a folder of identity subfolders.
* ``manifest``: a CSV/TSV manifest (``path``, ``identity``, optional group columns).

Protocols used on identity-labelled sets (folders, manifests):

* Byte-identical copies of a photo under one identity are kept once (counted in the report);
  identities starting with ``MULTI:`` (several people, no per-face labels) are left out and
  counted.
* **1:1**: every pair of distinct images of one identity is a genuine pair; impostor pairs
  are all pairs of images of different identities, or a seeded uniform sample of
  ``max_impostors`` of them when there are more. ROC, TAR at FAR, EER and the figures at
  the operating thresholds use all of these. The 10-fold accuracy uses every genuine pair
  and as many impostor pairs (seeded sample), dealt into 10 folds at random (seeded); each
  fold's threshold is chosen on the other nine only.
* **1:N closed set**: leave-one-out: every image whose identity has another image is a probe
  against a gallery of all other images (rank-1, rank-5, pessimistic ties).
* **1:N open set**: :func:`~facesearch.evaluate.splits.make_identification_split`
  (seeded) leaves 20% of the identities out of the gallery; all their images are non-mated
  probes, one image of every other identity is a mated probe; FNIR at FPIR 0.01 and 0.003
  at rank 1 (NIST FRTE definitions).

A photo where no face is found (or that cannot be decoded) is a failure to enrol: it is
counted and listed, never dropped: its pairs are rejected at every threshold (a genuine pair
is a false non-match), as a probe it is a miss, as a gallery image it is never found.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facesearch.evaluate.metrics import roc_curve
from facesearch.evaluate.protocols import (
    ProtocolFormatError,
    face_convention,
)

if TYPE_CHECKING:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.evaluate.datasets import (
    PROTOCOLS,
    Dataset,
    detect_protocol,
    load_dataset,
)
from facesearch.evaluate.embedding import (
    NO_FACE,
    EmbeddingSet,
    ImageResult,
    ProgressFn,
    embed_images,
    embed_one,
)
from facesearch.evaluate.identification import (
    DEFAULT_MAX_IMPOSTORS,
    FPIR_TARGETS,
    PreparedRecords,
    evaluate_identities,
    genuine_pairs,
    identification_report,
    impostor_pairs,
    prepare_records,
)
from facesearch.evaluate.reports import (
    EvalReport,
    IdentificationReport,
    Thresholds,
    VerificationReport,
)
from facesearch.evaluate.verification import (
    DEFAULT_SEED,
    FAR_TARGETS,
    evaluate_pairs,
    pair_scores,
    verification_report,
)
from facesearch.models.manifest import load_manifest

# ------------------------------------------------------------------------- one call

#: ``facesearch eval`` in one module: the run, and the parts callers use (embedding, data
#: sets, reports, pairs), which live in the modules named above.
__all__ = [
    "NO_FACE",
    "Dataset",
    "EmbeddingSet",
    "EvalReport",
    "IdentificationReport",
    "ImageResult",
    "PreparedRecords",
    "ProgressFn",
    "Thresholds",
    "VerificationReport",
    "embed_images",
    "evaluate",
    "genuine_pairs",
    "impostor_pairs",
    "iter_summary_rows",
    "load_dataset",
    "manifest_thresholds",
    "pair_scores",
    "prepare_records",
    "run_evaluation",
    "thin_curve",
    "write_plots",
    "write_scores",
]


def evaluate(
    dataset: Dataset,
    embeddings: EmbeddingSet,
    thresholds: Thresholds,
    *,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
) -> EvalReport:
    if dataset.pairs:
        return evaluate_pairs(dataset, embeddings, thresholds, seed=seed)
    return evaluate_identities(
        dataset,
        embeddings,
        thresholds,
        seed=seed,
        max_impostors=max_impostors,
        identification=identification,
    )


def run_evaluation(
    dataset: Dataset,
    *,
    thresholds: Thresholds | None = None,
    face_rule: str | None = None,
    pipeline: FacePipeline | None = None,
    settings: PipelineSettings | None = None,
    workers: int | None = None,
    seed: int = DEFAULT_SEED,
    max_impostors: int | None = DEFAULT_MAX_IMPOSTORS,
    identification: bool = True,
    on_progress: ProgressFn | None = None,
    fusion: ScoreFusion | None = None,
) -> EvalReport:
    """Embed the data set's images once, then compute every figure it supports.

    ``thresholds`` default to the manifest's search bands (the operating point);
    ``face_rule`` to the protocol's face convention (:func:`face_convention`).
    """
    if face_rule is None:
        face_rule = face_convention(dataset.kind).rule
    if thresholds is None:
        thresholds = manifest_thresholds()
    embeddings = embed_images(
        dataset.paths,
        pipeline=pipeline,
        settings=settings,
        workers=workers,
        on_progress=on_progress,
        fusion=fusion,
        face_rule=face_rule,
    )
    return evaluate(
        dataset,
        embeddings,
        thresholds,
        seed=seed,
        max_impostors=max_impostors,
        identification=identification,
    )


def manifest_thresholds() -> Thresholds:

    spec = load_manifest().recognizer
    return Thresholds(float(spec.thresholds["match"]), float(spec.thresholds["strong"]))


# ---------------------------------------------------------------------------- outputs


def thin_curve(
    far: np.ndarray, tar: np.ndarray, points: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` ROC points, log-spaced in FAR, for plotting large curves."""
    if far.size <= points:
        return far, tar
    positive = far > 0
    if not positive.any():
        return far[:1], tar[:1]
    grid = np.geomspace(float(far[positive].min()), 1.0, points)
    idx = np.clip(np.searchsorted(far, grid, side="right") - 1, 0, far.size - 1)
    idx = np.unique(np.concatenate([idx, [far.size - 1]]))
    return far[idx], tar[idx]


def write_plots(report: EvalReport, out_dir: Path | str, *, name: str | None = None) -> list[Path]:
    """ROC and genuine/impostor histograms as PNG files in ``out_dir``."""
    from facesearch.evaluate.plots import plot_roc, plot_score_histograms

    v = report.verification
    if v is None:
        return []
    out = Path(out_dir)
    label = name or report.dataset.kind
    curve = roc_curve(v.genuine_scores, v.impostor_scores)
    far, tar = thin_curve(curve.far, curve.tar)
    t = report.thresholds
    model = f"{report.embeddings.model_key} ({report.embeddings.variant})"
    roc = plot_roc({model: (far, tar)}, out / "roc.png", title=f"ROC: {label}")
    hist = plot_score_histograms(
        v.genuine_scores,
        v.impostor_scores,
        {f"match {t.match:.3f}": t.match, f"strong {t.strong:.3f}": t.strong},
        out / "scores.png",
        title=f"Genuine vs impostor scores: {label}",
    )
    return [roc, hist]


def write_scores(report: EvalReport, path: Path | str) -> Path:
    """The scored pairs of a pair protocol as a TSV that ``facesearch compare --pairs`` reads.

    Columns ``img_a, img_b, same_person, score, face_a, face_b``: ``compare --pairs`` scores
    the two images on the faces named (the ones this run scored), so its output reproduces
    the ``score`` column.
    """
    if not report.dataset.pairs:
        raise ValueError("per-pair scores are written for pair protocols only")
    scores = pair_scores(report.embeddings, list(report.dataset.pairs))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("img_a\timg_b\tsame_person\tscore\tface_a\tface_b\n")
        for pair, score in zip(report.dataset.pairs, scores, strict=True):
            shown = "" if math.isnan(score) else f"{score:.4f}"
            a, b = pair.path_a.resolve(), pair.path_b.resolve()
            faces = [report.embeddings[p].face for p in (pair.path_a, pair.path_b)]
            face_a, face_b = ("" if f is None else str(f) for f in faces)
            fh.write(f"{a}\t{b}\t{int(pair.same)}\t{shown}\t{face_a}\t{face_b}\n")
    return out


def iter_summary_rows(report: EvalReport) -> Iterator[tuple[str, str]]:
    """(figure, value) rows for the terminal table."""

    def pct(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"

    d = report.to_dict()
    enrol = d["enrolment"]
    yield "images", f"{enrol['n_images']} ({report.n_duplicates_removed} duplicates left out)"
    yield "face scored", f"{d['dataset']['face_rule']}: {d['dataset']['face_rule_reason']}"
    yield (
        "photos with several faces",
        f"{enrol['n_several_faces']} ({enrol['n_ambiguous']} ambiguous: two largest of similar "
        f"size; scored face not the largest in {enrol['n_scored_face_not_largest']})",
    )
    yield "no face found (counted as errors)", str(enrol["n_no_face"])
    if enrol["n_unreadable"]:
        yield "unreadable (counted as errors)", str(enrol["n_unreadable"])
    v = report.verification
    if v is not None:
        yield "pairs (genuine / impostor)", f"{v.n_genuine} / {v.n_impostor}"
        if v.kfold:
            k = v.kfold
            yield (
                f"{k['folds']}-fold accuracy",
                f"{100 * k['mean']:.2f}% ± {100 * k['std']:.2f}",
            )
        for p in v.tar_at_far:
            value = (
                f"{pct(p['tar'])} (threshold {p['threshold']:.4f})"
                if p["supported"]
                else "n/a: " + p["reason"]
            )
            yield f"TAR @ FAR {p['far']:.0e}", value
        yield "EER", f"{pct(v.eer['eer'])} (threshold {v.eer['threshold']:.4f})"
        for band, r in v.at_thresholds.items():
            yield (
                f"at {band} threshold {r['threshold']:.4f}",
                f"FMR {pct(r['fmr'])}, FNMR {pct(r['fnmr'])}, accuracy {pct(r['accuracy'])}",
            )
        for column, g in v.groups.items():
            parts = ", ".join(
                f"{k}: FMR {pct(x['fmr'])} FNMR {pct(x['fnmr'])}" for k, x in g["groups"].items()
            )
            yield f"by {column} (at match)", parts
    ident = report.identification
    if ident is not None and ident.closed_set:
        c = ident.closed_set
        yield (
            "closed-set rank-1 / rank-5",
            f"{pct(c['rank_1'])} / {pct(c['rank_5'])} ({c['n_probes']} probes)",
        )
    if ident is not None and ident.open_set:
        o = ident.open_set
        for p in o["points"]:
            value = (
                f"{pct(p['fnir'])} (threshold {p['threshold']:.4f})"
                if p["supported"]
                else "n/a: " + p["reason"]
            )
            yield f"FNIR @ FPIR {p['fpir']}", value


__all__ = [
    "FAR_TARGETS",
    "FPIR_TARGETS",
    "PROTOCOLS",
    "Dataset",
    "EmbeddingSet",
    "EvalReport",
    "IdentificationReport",
    "ImageResult",
    "ProtocolFormatError",
    "Thresholds",
    "VerificationReport",
    "detect_protocol",
    "embed_images",
    "embed_one",
    "evaluate",
    "evaluate_identities",
    "evaluate_pairs",
    "genuine_pairs",
    "identification_report",
    "impostor_pairs",
    "load_dataset",
    "manifest_thresholds",
    "pair_scores",
    "prepare_records",
    "run_evaluation",
    "verification_report",
    "write_plots",
    "write_scores",
]
