"""Accuracy benchmark: every figure of docs/accuracy.md, for each embedding variant, in one run.

Each variant embeds every image once through the real pipeline (``embed_images``, the code
``facesearch eval`` runs), then scores CFP-FF and CFP-FP (official 10 folds), CFP frontal
closed-set identification, ORL and Yale (identity folders) and the small pair sets from
that one embedding pass. The per-face cost of each variant's recognizer pass is measured side
by side on the same aligned crops, interleaved, and reported as medians.

    python benchmarks/accuracy.py [--data ../shared/faces] [--variants single,flip-fusion]
        [--workers 2] [--json benchmarks/out/accuracy.json] [--quick]

``--quick`` uses CFP identities 001-049 only (a smoke run, not the published figures).

The ``sface+dlib`` variant scores with the z-score fusion recorded in the manifest. That record
is made by ``--fit-fusion`` (CFP frontal photos, all impostor pairs; weight 0.3)::

    python benchmarks/accuracy.py --fit-fusion [--weight 0.3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {"single": False, "flip-fusion": True, "sface+dlib": False}
FUSION_WEIGHT = 0.3
PAIR_SETS = {
    "deepface master.csv": "deepface_tests/master.csv",
    "deepface test_verify_pairs": "deepface_tests/test_verify_pairs.tsv",
    "face_recognition test_pairs": "face_recognition_ageitgey/test_pairs.tsv",
    "openface demo_pairs": "openface_examples/demo_pairs.tsv",
}


def datasets(data: Path, quick: bool) -> dict[str, Any]:
    from facesearch.evaluate.runner import load_dataset

    cfp = data / "cfp"
    out: dict[str, Any] = {}
    if quick:
        ids = "0[0-4]?/*"
        out["CFP frontal (closed set)"] = load_dataset(
            cfp / "Data" / "Images", "folders", include=[ids.replace("*", "frontal/*")]
        )
    else:
        out["CFP-FF"] = load_dataset(cfp, "cfp-ff")
        out["CFP-FP"] = load_dataset(cfp, "cfp-fp")
        out["CFP frontal (closed set)"] = load_dataset(
            cfp / "Data" / "Images", "folders", include=["*/frontal/*"]
        )
    out["ORL"] = load_dataset(data / "orl_att_faces", "folders")
    out["Yale"] = load_dataset(data / "yale_faces", "folders")
    for name, rel in PAIR_SETS.items():
        out[name] = load_dataset(data / rel, "pairs")
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


def embed_cost(data: Path, n: int = 200, repeats: int = 5) -> dict[str, float]:
    """Median ms per face of each recognizer pass, on the same faces, interleaved, 1 thread.

    ``single``: one SFace pass; ``flip-fusion``: SFace on the crop and its mirror; ``dlib``:
    dlib's shape predictor, chip and ResNet (what ``sface+dlib`` adds to ``single``).
    """
    from facesearch.decode import decode_file
    from facesearch.embed import load_second_model
    from facesearch.models.runtime import set_threads
    from facesearch.pipeline import FacePipeline, PipelineSettings

    set_threads(1)
    single = FacePipeline.load(PipelineSettings(flip_fusion=False))
    flip = FacePipeline.load(PipelineSettings(flip_fusion=True))
    dlib_model = load_second_model(single.manifest)
    files = sorted((data / "cfp" / "Data" / "Images").glob("*/*/01.jpg"))[:n]
    crops, images, boxes = [], [], []
    for f in files:
        decoded = decode_file(f)
        faces = single.process_image(decoded).faces
        if faces:
            crops.append(faces[0].aligned)
            images.append(decoded.pixels)
            boxes.append(faces[0].bbox)
    batch = np.stack(crops)

    def run_dlib() -> None:
        for pixels, box in zip(images, boxes, strict=True):
            dlib_model.predict((pixels, [box]))

    runs = {
        "single": lambda: single.embed_aligned(batch),
        "flip-fusion": lambda: flip.embed_aligned(batch),
        "dlib": run_dlib,
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    single.embed_aligned(batch[:8])  # warm-up
    flip.embed_aligned(batch[:8])
    dlib_model.predict((images[0], [boxes[0]]))
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t0) * 1000 / len(batch))
    return {name: statistics.median(v) for name, v in times.items()}


def fit_fusion(args: argparse.Namespace) -> None:
    """Impostor statistics of SFace and dlib on CFP frontal photos, and the fused thresholds."""
    from facesearch.embed import ScoreFusion
    from facesearch.evaluate.calibrate import calibrate_dataset, fit_fusion
    from facesearch.evaluate.runner import embed_images, load_dataset

    ds = load_dataset(args.data / "cfp" / "Data" / "Images", "folders", include=["*/frontal/*"])
    placeholder = ScoreFusion(0.0, 0.0, 1.0, 0.0, 1.0)  # only to run the second model
    emb = embed_images(ds.paths, workers=args.workers, fusion=placeholder)
    fusion = fit_fusion(ds, emb, args.weight)
    emb.fusion = fusion
    calibration = calibrate_dataset(ds, emb, include=["*/frontal/*"], check_halves=False)
    out = {
        "fusion": fusion.to_dict(),
        "fit_on": "CFP frontal photos (../shared/faces/cfp/Data/Images, '*/frontal/*'), "
        "all impostor pairs of distinct images",
        "fused_thresholds": {
            "match": calibration.match,
            "strong": calibration.strong,
            **calibration.thresholds,
        },
        "fused_figures": calibration.figures,
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
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "accuracy.json")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-cost", action="store_true", help="Skip the ms-per-face timing.")
    parser.add_argument("--fit-fusion", action="store_true", help="Fit the score fusion.")
    parser.add_argument("--weight", type=float, default=FUSION_WEIGHT)
    args = parser.parse_args()
    if not (args.data / "README.md").exists():
        sys.exit(f"shared face data not found at {args.data}")
    if args.fit_fusion:
        fit_fusion(args)
        return
    from facesearch.evaluate.runner import embed_images, evaluate, manifest_thresholds
    from facesearch.pipeline import PipelineSettings

    sets = datasets(args.data, args.quick)
    paths = list(dict.fromkeys(p for ds in sets.values() for p in ds.paths))
    thresholds = manifest_thresholds()
    results: dict[str, Any] = {"thresholds": vars(thresholds), "variants": {}}
    for variant in args.variants.split(","):
        settings = PipelineSettings(flip_fusion=VARIANTS[variant])
        fusion = None
        if variant == "sface+dlib":
            from facesearch.embed import manifest_fusion
            from facesearch.models.manifest import load_manifest

            fusion = manifest_fusion(load_manifest())
            if fusion is None:
                sys.exit("no fusion recorded in the manifest: run with --fit-fusion first")
        t0 = time.perf_counter()
        emb = embed_images(paths, settings=settings, workers=args.workers, fusion=fusion)
        print(
            f"[{variant}] embedded {len(paths)} images in {time.perf_counter() - t0:.0f} s "
            f"({len(emb.failures())} without a face: {[str(r.path) for r in emb.failures()]})",
            flush=True,
        )
        bands = thresholds
        if fusion is not None:  # fused scores have their own thresholds
            from facesearch.embed import DLIB_RECOGNIZER_KEY
            from facesearch.evaluate.runner import Thresholds

            fused = load_manifest().models[DLIB_RECOGNIZER_KEY].calibration or {}
            t = fused["fused_thresholds"]
            bands = Thresholds(float(t["match"]), float(t["strong"]))
        rows = {}
        for name, ds in sets.items():
            report = evaluate(ds, emb, bands, seed=args.seed)
            rows[name] = summary(report)
        results["variants"][variant] = {
            "model": emb.model_key,
            "embedding": emb.variant,
            "seconds": emb.seconds,
            "images_per_second": len(paths) / emb.seconds,
            "datasets": rows,
        }
    if not args.no_cost:
        results["ms_per_face"] = embed_cost(args.data)
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
    if "ms_per_face" in results:
        print("recognizer ms per face (median, 1 thread):", results["ms_per_face"])
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
