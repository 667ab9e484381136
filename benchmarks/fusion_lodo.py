"""Choose the score fusion by leave-one-dataset-out over every labelled set in ../shared/faces.

Step 1 (once, about 30-60 minutes on 2 shared cores): embed every photo of every set through
the real pipeline with both recognizers, and cache each scored face's SFace and dlib vectors
with its yaw, detector score, face size and quality::

    python benchmarks/fusion_lodo.py --cache          # writes benchmarks/out/fusion_cache.npz

Step 2 (seconds): score every candidate fusion on every set from the cache, choose by
leave-one-dataset-out (``facesearch.evaluate.fusion``), print the table and write the record
that goes into the manifest (``benchmarks/out/fusion_lodo.json``); ``--calibrate`` also makes
the fused bands (FAR 1e-3 / 1e-4 on all CFP frontal impostor pairs) with the chosen fusion::

    python benchmarks/fusion_lodo.py [--calibrate]

Flip averaging (test-time augmentation), chosen the same way: ``--cache --flips`` also caches
each recognizer's vector of the mirrored face (one more inference per recognizer and photo),
and ``--flip-study`` chooses, by leave-one-dataset-out, whether to average each recognizer's
vector with its mirror's together with the fusion, against every single option (SFace or dlib,
plain or flip-averaged; ``lodo.leave_one_out_variants``)::

    FACESEARCH_SECOND_RUNTIME=onnxruntime-fp32 python benchmarks/fusion_lodo.py --cache --flips
    python benchmarks/fusion_lodo.py --flip-study      # writes benchmarks/out/fusion_lodo_flip.json
    python benchmarks/fusion_lodo.py --flip-study --with-pose --calibrate  # + pose family, bands

``--variants plain,second+flip`` restricts the choice to variants that keep SFace's vectors
plain (the index's first pass); with ``--calibrate --write-manifest`` the choice on all sets
(it must be ``second+flip``) is written to the manifest as the second recognizer's record for
flip-averaged vectors (``vector_variant: "flip"``), the previous record kept as
``calibration.plain_vectors``. It is written whatever the LODO decision; the record carries it
(``lodo.decision``)::

    python benchmarks/fusion_lodo.py --flip-study --variants plain,second+flip --calibrate \
        --write-manifest
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "faces"
DEFAULT_CACHE = REPO / "benchmarks" / "out" / "fusion_cache.npz"
DEFAULT_JSON = REPO / "benchmarks" / "out" / "fusion_lodo.json"
SMALL_PAIR_LISTS = (
    "deepface_tests/test_verify_pairs.tsv",
    "face_recognition_ageitgey/test_pairs.tsv",
    "openface_examples/demo_pairs.tsv",
)
MANIFEST_SETS = {"face-api.js BBT": "face_api_js_bbt/", "CompreFace": "compreface/"}


def labelled_sets(data: Path) -> dict[str, Any]:
    """Every labelled set held in ``data`` (``../shared/faces``), as evaluation Datasets."""
    from facesearch.evaluate.protocols import LabelledImage
    from facesearch.evaluate.runner import Dataset, load_dataset

    cfp = data / "cfp"
    out: dict[str, Any] = {
        "CFP-FF": load_dataset(cfp, "cfp-ff"),
        "CFP-FP": load_dataset(cfp, "cfp-fp"),
        "ORL": load_dataset(data / "orl_att_faces", "folders"),
        "Yale": load_dataset(data / "yale_faces", "folders"),
        "deepface master.csv": load_dataset(data / "deepface_tests" / "master.csv", "pairs"),
    }
    pairs = tuple(p for rel in SMALL_PAIR_LISTS for p in load_dataset(data / rel, "pairs").pairs)
    out["small pair lists"] = Dataset("pairs", data, pairs=pairs)
    rows = [
        line.split("\t")
        for line in (data / "MANIFEST.tsv").read_text().splitlines()[1:]
        if line.strip()
    ]
    for name, prefix in MANIFEST_SETS.items():
        records = tuple(
            LabelledImage(data / rel, identity)
            for rel, identity, *_ in rows
            if rel.startswith(prefix)
        )
        if records:
            out[name] = Dataset("manifest", data / "MANIFEST.tsv", records=records)
    return out


def build(args: argparse.Namespace) -> None:
    from facesearch.engine.pipeline import PipelineSettings
    from facesearch.evaluate.featurecache import build_cache
    from facesearch.models.inference import InferenceSettings
    from facesearch.settings import Settings

    sets = labelled_sets(args.data)
    # the small sets first, then CFP fold by fold (its folds are identity-disjoint): an
    # interrupted run still covers every small set and whole CFP folds
    small = [p for name in sets if not name.startswith("CFP") for p in sets[name].paths]
    fold_of: dict[str, int] = {}
    for name in ("CFP-FF", "CFP-FP"):
        for pair in sets[name].pairs:
            for p in (pair.path_a, pair.path_b):
                fold_of[p.parent.parent.name] = int(pair.fold or 0)
    cfp = sorted(
        {p for name in ("CFP-FF", "CFP-FP") for p in sets[name].paths},
        key=lambda p: (fold_of[p.parent.parent.name], str(p)),
    )
    paths = list(dict.fromkeys([*small, *cfp]))
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] > 30:
            last[0] = now
            rate = done / max(now - t0, 1e-9)
            print(f"  {done}/{total} photos, {rate:.1f}/s", flush=True)

    print(f"embedding {len(paths)} photos of {len(sets)} sets with both recognizers", flush=True)
    # the plain vectors, on the runtimes of the settings (FACESEARCH_SECOND_RUNTIME, ...)
    settings = PipelineSettings(
        second_flip=False, inference=InferenceSettings.from_settings(Settings.load())
    )
    cache = build_cache(
        paths,
        args.data,
        args.cache,
        settings=settings,
        workers=args.workers,
        on_progress=progress,
        flips=args.flips,
    )
    target = args.cache
    print(
        f"wrote {target}: {len(cache.paths)} photos, {int((~cache.enrolled).sum())} without a "
        f"face, {time.perf_counter() - t0:.0f} s",
        flush=True,
    )


def scored_sets(
    sets: dict[str, Any], cache: Any, root: Path, seed: int
) -> tuple[list[Any], dict[str, Any]]:
    """Each labelled set's pairs scored from the cache (``lodo.ScoredSet``), and notes.

    Pair protocols: every pair, the protocol's folds (CFP) or 10 seeded random folds. Identity
    sets: as ``facesearch eval`` (``evaluate_identities``): byte-identical copies kept once,
    every genuine pair and as many sampled impostor pairs, 10 seeded random folds; every
    impostor pair for the fusion statistics. Sets sharing photos share a group. A set whose
    photos are not all cached yet keeps only its whole folds that are (noted).
    """
    from facesearch.engine.embed import pair_pose
    from facesearch.evaluate.lodo import ScoredSet
    from facesearch.evaluate.runner import genuine_pairs, impostor_pairs, prepare_records
    from facesearch.evaluate.verification import _dot_rows, _random_folds

    emb = cache.embedding_set(root)
    cached = set(emb.results)
    yaw = {p: r.yaw for p, r in emb.results.items()}
    out, notes = [], {}
    photos: dict[str, set[Path]] = {}
    for name, ds in sets.items():
        rng = np.random.default_rng(seed)
        if ds.pairs:
            pairs = list(ds.pairs)
            have = np.array([p.path_a in cached and p.path_b in cached for p in pairs])
            if all(p.fold is not None for p in pairs):
                folds = np.array([p.fold for p in pairs], np.int64)
            else:
                folds = _random_folds(len(pairs), 10, rng)
            complete = [f for f in np.unique(folds) if have[folds == f].all()]
            keep = np.isin(folds, complete)
            if len(complete) < 2:
                notes[name] = "not enough of its photos are cached yet: left out"
                continue
            if not keep.all():
                notes[name] = f"{len(complete)} of {np.unique(folds).size} folds cached: those only"
            pairs = [p for p, k in zip(pairs, keep, strict=True) if k]
            folds = folds[keep]
            paths = list(dict.fromkeys(q for p in pairs for q in (p.path_a, p.path_b)))
            index = {q: i for i, q in enumerate(paths)}
            a = np.array([index[p.path_a] for p in pairs], np.int64)
            b = np.array([index[p.path_b] for p in pairs], np.int64)
            m1, m2 = emb.matrix(paths), emb.matrix(paths, second=True)
            ya = np.array([yaw[p.path_a] for p in pairs])
            yb = np.array([yaw[p.path_b] for p in pairs])
            out.append(
                ScoredSet(
                    name,
                    _dot_rows(m1, a, b),
                    _dot_rows(m2, a, b),
                    np.array([p.same for p in pairs], bool),
                    folds,
                    pair_pose(ya, yb),
                )
            )
            photos[name] = set(paths)
            continue
        records = [r for r in ds.records if r.path in cached]
        if len(records) < len(ds.records):
            notes[name] = "not all of its photos are cached yet: left out"
            continue
        prepared = prepare_records(records, emb)
        ga, gb = genuine_pairs(prepared.labels)
        ia, ib = impostor_pairs(prepared.labels, 2_000_000, rng)
        n_fold = min(ga.size, ia.size)
        gi = rng.permutation(ga.size)[:n_fold]
        ii = rng.permutation(ia.size)[:n_fold]
        a = np.concatenate([ga[gi], ia[ii]])
        b = np.concatenate([gb[gi], ib[ii]])
        labels = np.concatenate([np.ones(n_fold, bool), np.zeros(n_fold, bool)])
        folds = _random_folds(2 * n_fold, 10, rng)
        m1 = prepared.matrix
        m2 = prepared.second
        assert m2 is not None
        yaws = np.array([yaw[r.path] for r in prepared.records])
        out.append(
            ScoredSet(
                name,
                _dot_rows(m1, a, b),
                _dot_rows(m2, a, b),
                labels,
                folds,
                pair_pose(yaws[a], yaws[b]),
                impostor_primary=_dot_rows(m1, ia, ib),
                impostor_secondary=_dot_rows(m2, ia, ib),
            )
        )
        photos[name] = {r.path for r in prepared.records}
    # groups: connected components of "shares a photo"
    names = [s.name for s in out]
    group = {n: n for n in names}
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            if photos[x] & photos[y]:
                gx, gy = group[x], group[y]
                for n in names:
                    if group[n] == gy:
                        group[n] = gx
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(group[n], []).append(n)
    final = []
    for s in out:
        together = members[group[s.name]]
        label = " + ".join(together) if len(together) > 1 else ""
        final.append(dataclasses.replace(s, group=label))
    return final, notes


CFP_FRONTAL = ["*/frontal/*"]
CHECK_SUBSET = ["0[0-3]?/frontal/*"]


def calibrate_fused(data: Path, cache: Any, fusion: Any) -> dict[str, Any]:
    """The fused bands of ``fusion`` (FAR 1e-3 / 1e-4 over all impostor pairs of CFP's
    frontal photos, as ``facesearch calibrate``), and those of the recognizer's check subset
    (tests/evaluate/test_calibration.py), from the cached vectors."""
    from facesearch.evaluate.calibrate import calibrate_dataset
    from facesearch.evaluate.runner import load_dataset

    emb = cache.embedding_set(data, fusion)
    out: dict[str, Any] = {}
    for key, include in (("full", CFP_FRONTAL), ("check_subset", CHECK_SUBSET)):
        ds = load_dataset(data / "cfp" / "Data" / "Images", "folders", include=include)
        records = tuple(r for r in ds.records if r.path in emb.results)
        missing = len(ds.records) - len(records)
        ds = dataclasses.replace(ds, records=records)
        cal = calibrate_dataset(ds, emb, include=include, check_halves=False)
        assert cal.fused is not None
        out[key] = {
            "n_images": cal.n_images,
            "n_not_cached": missing,
            "n_genuine": cal.n_genuine,
            "n_impostor": cal.n_impostor,
            "sface": {"match": cal.match, "strong": cal.strong},
            "fused": {
                "match": cal.fused["match"],
                "strong": cal.fused["strong"],
                **cal.fused["thresholds"],
            },
            "fused_tar": {
                k: v["tar"]
                for k, v in cal.fused["figures"].items()
                if isinstance(v, dict) and "tar" in v
            },
        }
    return out


GRID = tuple(float(w) for w in np.round(np.arange(0.05, 1.0, 0.05), 2))


def families() -> dict[str, list[Any]]:
    """The candidate families: one weight for every pair (z or unit normalisation), and a
    weight that moves from frontal to profile pairs with the pair's pose term."""
    from facesearch.evaluate.lodo import candidate_grid

    profile = tuple(float(w) for w in np.round(np.arange(0.1, 1.0, 0.1), 1))
    constant = candidate_grid(GRID)
    pose = [c for c in candidate_grid(GRID, ("z",), profile) if c.profile_weight is not None]
    return {"constant weight": constant, "pose-dependent weight": constant + pose}


def lodo_report(cache: Any, data: Path, seed: int, shipped_family: str) -> dict[str, Any]:
    """Score every set from ``cache``, run LODO (and LODO by group) for each family, choose
    on all sets, and score the manifest's fusion (what ships) on each set."""
    from facesearch.engine.embed import manifest_fusion
    from facesearch.evaluate.lodo import (
        accept,
        fused_scores,
        leave_one_out,
        score_set,
        select,
        single_scores,
    )
    from facesearch.models.manifest import load_manifest

    sets, notes = scored_sets(labelled_sets(data), cache, data, seed)
    shipped = manifest_fusion(load_manifest())
    out: dict[str, Any] = {"sets": {}, "notes": notes, "families": {}}
    for s in sets:
        singles = single_scores(s)
        out["sets"][s.name] = {
            "pairs": len(s.labels),
            "folds": int(np.unique(s.folds).size),
            "group": s.group or s.name,
            "sface": vars(singles["sface"]),
            "second": vars(singles["second"]),
            "manifest_fusion": vars(score_set(fused_scores(shipped, s), s)) if shipped else None,
        }
    t0 = time.perf_counter()
    for family, candidates in families().items():
        record: dict[str, Any] = {"n_candidates": len(candidates)}
        memo: dict[tuple[str, ...], Any] = {}
        for mode, by_group in (("lodo", False), ("lodo_by_group", True)):
            results = leave_one_out(sets, candidates, by_group=by_group, memo=memo)
            record[mode] = [r.to_dict() for r in results]
            record[mode + "_decision"] = accept(results).to_dict()
        chosen = select(sets, candidates)
        record["chosen_on_all_sets"] = chosen.to_dict()
        record["seconds"] = time.perf_counter() - t0
        out["families"][family] = record
    out["shipped_family"] = shipped_family
    out["manifest_fusion"] = shipped.to_dict() if shipped else None
    return out


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def paired(r: dict[str, Any]) -> str:
    t = r.get("paired_test_against_better_single")
    if not t:
        return "-"
    return f"+{t['only_first_right']} / -{t['only_second_right']} (p {t['p_value']:.2g})"


def print_lodo(report: dict[str, Any]) -> None:
    for name, note in report["notes"].items():
        print(f"note: {name}: {note}")
    for family, record in report["families"].items():
        print(f"\n## LODO, {family} ({record['n_candidates']} candidates)")
        print(
            "| held-out set | pairs | SFace alone | dlib alone | shipped fusion | LODO fusion "
            "| pairs won/lost vs better single (McNemar p) | LODO choice | LODO by group "
            "| by-group choice |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r1, r2 in zip(record["lodo"], record["lodo_by_group"], strict=True):
            name = r1["held_out"]
            info = report["sets"][name]
            shipped = info["manifest_fusion"]
            print(
                f"| {name} | {info['pairs']} | {pct(r1['sface']['accuracy'])} | "
                f"{pct(r1['second']['accuracy'])} | "
                f"{pct(shipped['accuracy']) if shipped else '-'} | "
                f"{pct(r1['fused']['accuracy'])} ± {pct(r1['fused']['std'])} | "
                f"{paired(r1)} | {r1['chosen']} | "
                f"{pct(r2['fused']['accuracy'])} | {r2['chosen']} |"
            )
        print("decision (LODO):", record["lodo_decision"])
        print("decision (LODO by group):", record["lodo_by_group_decision"])
        chosen = record["chosen_on_all_sets"]
        print("chosen on all sets:", chosen["candidate"], json.dumps(chosen["fusion"]))


MANIFEST = REPO / "src" / "facesearch" / "models" / "manifest.json"


def manifest_record(out: dict[str, Any], family: str, date: str) -> dict[str, Any]:
    """The second recognizer's calibration record for the manifest: the fusion chosen on all
    sets, how (LODO, per held-out set), and its fused bands."""
    rec = out["families"][family]
    chosen = rec["chosen_on_all_sets"]
    bands = out["bands"]

    def rows(mode: str) -> list[dict[str, Any]]:
        return [
            {
                "held_out": r["held_out"],
                "chosen": r["chosen"],
                "sface": round(r["sface"]["accuracy"], 6),
                "dlib": round(r["second"]["accuracy"], 6),
                "fused": round(r["fused"]["accuracy"], 6),
                "fused_std": round(r["fused"]["std"], 6),
                "no_worse_than_better_single": r["no_worse_than_better_single"],
                "paired_test_against_better_single": r["paired_test_against_better_single"],
            }
            for r in rec[mode]
        ]

    previous = json.loads(MANIFEST.read_text())["models"]["dlib-resnet-v1"]["calibration"]
    lodo_chosen = out.get("ship") == "lodo"
    return {
        "fusion": out["shipped_fusion"],
        "rule": "w = weight (for a pose-dependent fusion: moving linearly to profile_weight as "
        "the pair's larger |yaw| goes from pose_start to pose_full); z = (1 - w) * n1(sface) + "
        "w * n2(dlib), n = (s - mean) / std for normalisation 'z', (s - mean) / (1 - mean) for "
        "'unit'; fused = m1 + (1 - m1) * z / z(1, 1): SFace's impostor mean stays m1 and a "
        "perfect pair (a photo against itself) scores 1",
        "fit_on": "impostor statistics: every impostor pair of the labelled sets in "
        f"../shared/faces ({', '.join(chosen['trained_on'])}), each set counted once (mean of "
        "the sets' means; root of the mean of their second moments about it)"
        if lodo_chosen
        else previous.get("fit_on", ""),
        "weight_choice": "the leave-one-dataset-out choice on all sets"
        if lodo_chosen
        else "kept from the CFP fit (0.4; see lodo for why the LODO choice was not shipped): "
        + previous.get("weight_choice", "")
        + ". Since 2026-12 the output scale is 'unit' (a perfect pair scores 1; the order of "
        "scores and the FARs of the bands are those of the z-score rule)",
        "lodo": {
            "how": "python benchmarks/fusion_lodo.py --cache (once: both recognizers on every "
            "photo, cached), then python benchmarks/fusion_lodo.py --calibrate "
            "--write-manifest. Candidates: z or unit normalisation x weight 0.05..0.95 "
            f"({rec['n_candidates']} in the '{family}' family). For each held-out set, the "
            "statistics and the candidate are chosen on the other sets only: highest mean "
            "10-fold accuracy over them (each set once) among candidates at least as accurate "
            "as the better single recognizer on every one of them; ties to the lower mean EER, "
            "then the simpler candidate. by_group also leaves out sets sharing photos with the "
            "held-out one (CFP-FF with CFP-FP; deepface master.csv with the small pair lists).",
            "family": family,
            "held_out": rows("lodo"),
            "decision": rec["lodo_decision"],
            "held_out_by_group": rows("lodo_by_group"),
            "decision_by_group": rec["lodo_by_group_decision"],
            "chosen_on_all_sets": chosen["candidate"],
            "notes": out["notes"],
            "other_families": {
                name: {
                    "chosen_on_all_sets": r["chosen_on_all_sets"]["candidate"],
                    "decision": r["lodo_decision"],
                    "held_out": {
                        x["held_out"]: round(x["fused"]["accuracy"], 6) for x in r["lodo"]
                    },
                }
                for name, r in out["families"].items()
                if name != family
            },
            "date": date,
        },
        "fused_thresholds": bands["full"]["fused"],
        "fused_tar": bands["full"]["fused_tar"],
        "bands_fit_on": f"CFP frontal photos, all {bands['full']['n_impostor']:,} impostor and "
        f"{bands['full']['n_genuine']:,} genuine pairs of {bands['full']['n_images']:,} images "
        "(match = FAR 1e-3, strong = FAR 1e-4, rounded up to 4 decimals)",
        "status": "used by search (re-ranking of the index's best max(k, 20) candidates with "
        "the second vectors made by the pass after ingest), compare and eval",
        "check_subset": {
            "what": "fused thresholds that 'facesearch calibrate' gives on the recognizer's "
            "check_subset (tests/evaluate/test_calibration.py)",
            "match": bands["check_subset"]["fused"]["match"],
            "strong": bands["check_subset"]["fused"]["strong"],
        },
    }


def write_manifest(record: dict[str, Any]) -> None:
    manifest = json.loads(MANIFEST.read_text())
    spec = manifest["models"]["dlib-resnet-v1"]
    fused = record["fused_thresholds"]
    spec["thresholds"] = {
        "match": fused["match"],
        "strong": fused["strong"],
        "note": "thresholds for the FUSED score (SFace and this model, see calibration.rule), "
        "FAR 1e-3 and 1e-4 on CFP frontal photos",
    }
    spec["calibration"] = record
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {MANIFEST}")


def select_and_report(args: argparse.Namespace) -> None:
    from facesearch.engine.embed import ScoreFusion
    from facesearch.evaluate.featurecache import FeatureCache

    cache = FeatureCache.load(args.cache)
    out = lodo_report(cache, args.data, args.seed, args.family)
    print_lodo(out)
    if args.calibrate:
        chosen = out["families"][args.family]["chosen_on_all_sets"]
        if args.ship == "lodo":
            fusion = ScoreFusion.from_dict(chosen["fusion"])
        else:  # the manifest's statistics and weight, on the unit output scale
            from facesearch.engine.embed import manifest_fusion
            from facesearch.models.manifest import load_manifest

            current = manifest_fusion(load_manifest())
            assert current is not None
            fusion = dataclasses.replace(current, output="unit")
        out["shipped_fusion"] = fusion.to_dict()
        out["ship"] = args.ship
        out["bands"] = calibrate_fused(args.data, cache, fusion)
        print("fused bands:", json.dumps(out["bands"], indent=2))
        if args.write_manifest:
            import datetime

            today = datetime.datetime.now(datetime.UTC).date().isoformat()
            write_manifest(manifest_record(out, args.family, today))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.json}")


VARIANTS = ("plain", "sface+flip", "second+flip", "both+flip")


def flip_report(
    cache: Any,
    data: Path,
    seed: int,
    families_wanted: list[str],
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    """Flip averaging chosen by leave-one-dataset-out: every set scored in each embedding
    variant (either recognizer's vector averaged with its mirror's, or not), the variant and
    the fusion chosen on the training sets, the held-out set scored against every single
    option of those variants (``lodo.leave_one_out_variants``). ``variants`` restricts the
    candidates (e.g. ``plain,second+flip``: SFace's vectors as the index holds them); the
    table of single recognizers always shows all four, and each held-out result records
    whether it is also no worse than every one of them (``no_worse_than_all_four``)."""
    from facesearch.evaluate.lodo import (
        accept_variants,
        leave_one_out_variants,
        select_variant,
        single_options,
    )
    from facesearch.evaluate.lodo import score_set as score

    if not cache.has_flips:
        raise SystemExit("the cache has no mirrored vectors: rebuild it with --cache --flips")
    all_variants: dict[str, list[Any]] = {}
    notes: dict[str, Any] = {}
    for variant in VARIANTS:
        from facesearch.evaluate.lodo import variant_flips

        f1, f2 = variant_flips(variant)
        sets, notes = scored_sets(
            labelled_sets(data), cache.with_flip_averaging(f1, f2), data, seed
        )
        all_variants[variant] = sets
    unknown = set(variants) - set(VARIANTS)
    if unknown or "plain" not in variants:
        raise SystemExit(f"--variants: a subset of {', '.join(VARIANTS)} including plain")
    sets_by_variant = {v: all_variants[v] for v in VARIANTS if v in variants}
    every = single_options(all_variants)
    first = {s.name: s for s in sets_by_variant["plain"]}
    out: dict[str, Any] = {
        "notes": notes,
        "variants": list(sets_by_variant),
        "singles": {},
        "families": {},
    }
    for name, opts in every.items():
        out["singles"][name] = {k: vars(score(v, first[name])) for k, v in opts.items()}
        out["singles"][name]["pairs"] = len(first[name].labels)
    options = single_options(sets_by_variant)
    for family, candidates in families().items():
        if family not in families_wanted:
            continue
        t0 = time.perf_counter()
        record: dict[str, Any] = {"n_candidates": len(candidates)}
        groups = {s.key for s in sets_by_variant["plain"]}
        memo: dict[tuple[str, ...], Any] = {}
        for mode, by_group in (("lodo", False), ("lodo_by_group", True)):
            if by_group and len(groups) < 2:
                record[mode], record[mode + "_decision"] = [], {"note": "one group only"}
                continue
            results = leave_one_out_variants(
                sets_by_variant, candidates, by_group=by_group, memo=memo
            )
            rows = [r.to_dict() for r in results]
            for row in rows:  # also against the options left out of the candidates
                best_all = max(
                    v["accuracy"]
                    for k, v in out["singles"][row["held_out"]].items()
                    if k != "pairs"
                )
                row["no_worse_than_all_four"] = row["fused"]["accuracy"] >= best_all - 1e-9
            record[mode] = rows
            record[mode + "_decision"] = accept_variants(results).to_dict()
        singles = {
            n: {k: score(v, first[n]) for k, v in opts.items()} for n, opts in options.items()
        }
        variant, chosen = select_variant(sets_by_variant, list(first), candidates, singles)
        record["chosen_on_all_sets"] = {"variant": variant, **chosen.to_dict()}
        record["seconds"] = time.perf_counter() - t0
        out["families"][family] = record
    return out


def print_flip(report: dict[str, Any]) -> None:
    for name, note in report["notes"].items():
        print(f"note: {name}: {note}")
    print("\n## Single recognizers, plain and flip-averaged (10-fold accuracy %, EER %)")
    print("| set | pairs | SFace | SFace+flip | dlib | dlib+flip |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, s in report["singles"].items():
        cells = [
            f"{pct(s[k]['accuracy'])} ({pct(s[k]['eer'])})"
            for k in ("sface", "sface+flip", "second", "second+flip")
        ]
        print(f"| {name} | {s['pairs']} | " + " | ".join(cells) + " |")
    for family, record in report["families"].items():
        print(f"\n## LODO with the flip choice, {family} ({record['n_candidates']} candidates)")
        print(
            "| held-out set | best single option | LODO variant + fusion | LODO fused "
            "| won/lost vs best single (p) | by group: variant + fusion | by group fused |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        by_group = record["lodo_by_group"] or [None] * len(record["lodo"])
        for r1, r2 in zip(record["lodo"], by_group, strict=True):
            best = r1["best_single"]
            r2 = r2 or {"variant": "-", "chosen": "-", "fused": {"accuracy": float("nan")}}
            print(
                f"| {r1['held_out']} | {best} {pct(r1['singles'][best]['accuracy'])} | "
                f"{r1['variant']}, {r1['chosen']} | "
                f"{pct(r1['fused']['accuracy'])} ± {pct(r1['fused']['std'])} | {paired(r1)} | "
                f"{r2['variant']}, {r2['chosen']} | {pct(r2['fused']['accuracy'])} |"
            )
        print("decision (LODO):", record["lodo_decision"])
        print("decision (LODO by group):", record["lodo_by_group_decision"])
        chosen = record["chosen_on_all_sets"]
        print("chosen on all sets:", chosen["variant"], chosen["candidate"])
        print(f"({record['seconds']:.0f} s)")


def flip_manifest_record(out: dict[str, Any], family: str, date: str) -> dict[str, Any]:
    """The second recognizer's calibration record for flip-averaged dlib vectors (SFace's
    plain): the fusion chosen on all sets, how (LODO, per held-out set), its fused bands, and
    the previous record for plain dlib vectors (``plain_vectors``, used with
    ``PipelineSettings(second_flip=False)``)."""
    from facesearch.evaluate.lodo import variant_flips

    rec = out["families"][family]
    chosen = rec["chosen_on_all_sets"]
    if variant_flips(chosen["variant"]) != (False, True):
        raise SystemExit(
            f"the choice on all sets is {chosen['variant']!r}: only 'second+flip' (dlib "
            "flip-averaged, SFace plain) can be written to the manifest by this script"
        )
    bands = out["bands"]
    manifest = json.loads(MANIFEST.read_text())
    spec = manifest["models"]["dlib-resnet-v1"]
    previous = spec["calibration"]
    if spec.get("vector_variant") == "flip":
        plain = previous["plain_vectors"]
    else:
        plain = {**previous, "thresholds": {k: spec["thresholds"][k] for k in ("match", "strong")}}

    def rows(mode: str) -> list[dict[str, Any]]:
        return [
            {
                "held_out": r["held_out"],
                "variant": r["variant"],
                "chosen": r["chosen"],
                "singles": {k: round(v["accuracy"], 6) for k, v in r["singles"].items()},
                "fused": round(r["fused"]["accuracy"], 6),
                "fused_std": round(r["fused"]["std"], 6),
                "best_single": r["best_single"],
                "no_worse_than_best_single": r["no_worse_than_better_single"],
                "no_worse_than_all_four": r["no_worse_than_all_four"],
                "paired_test_against_best_single": r["paired_test_against_better_single"],
            }
            for r in rec[mode]
        ]

    return {
        "vector_variant": "flip",
        "vectors": "this model's vector of a face is normalise(v + v_mirror): dlib's ResNet on "
        "the aligned chip and on the same chip mirrored left to right (one batch), each "
        "L2-normalised; SFace's vectors (the index's first pass) stay plain",
        "fusion": chosen["fusion"],
        "rule": "w = weight (for a pose-dependent fusion: moving linearly to profile_weight as "
        "the pair's larger |yaw| goes from pose_start to pose_full); z = (1 - w) * n1(sface) + "
        "w * n2(dlib), n = (s - mean) / std for normalisation 'z', (s - mean) / (1 - mean) for "
        "'unit'; fused = m1 + (1 - m1) * z / z(1, 1): SFace's impostor mean stays m1 and a "
        "perfect pair (a photo against itself) scores 1",
        "fit_on": "impostor statistics: every impostor pair of the labelled sets in "
        f"../shared/faces ({', '.join(chosen['trained_on'])}), each set counted once (mean of "
        "the sets' means; root of the mean of their second moments about it), with "
        "flip-averaged dlib vectors",
        "weight_choice": "the leave-one-dataset-out choice on all sets, among SFace-plain "
        f"variants ({', '.join(out['variants'])}); family '{family}'",
        "lodo": {
            "how": "FACESEARCH_SECOND_RUNTIME=onnxruntime-fp32 python benchmarks/fusion_lodo.py "
            "--cache --flips (once: both recognizers on every photo and its mirror, cached), "
            "then python benchmarks/fusion_lodo.py --flip-study --with-pose --variants "
            f"{','.join(out['variants'])} --calibrate --write-manifest. For each held-out set, "
            "the variant, statistics and candidate are chosen on the other sets only (no worse "
            "than the best single option on the most of them, then the highest mean 10-fold "
            "accuracy, then the lower mean EER, then the simpler candidate); held out, the "
            "fusion must be no worse than every single option of those variants. by_group also "
            "leaves out sets sharing photos with the held-out one.",
            "why_sface_plain": "cost, decided before the study: flipping SFace would change "
            "its model key, every vector index and SFace's bands and add about 20 ms per face; "
            "flipping dlib only changes the second vectors (one more chip per face in the same "
            "batch)",
            "family": family,
            "variants": out["variants"],
            "held_out": rows("lodo"),
            "decision": rec["lodo_decision"],
            "held_out_by_group": rows("lodo_by_group"),
            "decision_by_group": rec["lodo_by_group_decision"],
            "chosen_on_all_sets": f"{chosen['variant']}, {chosen['candidate']}",
            "notes": out["notes"],
            "date": date,
        },
        "fused_thresholds": bands["full"]["fused"],
        "fused_tar": bands["full"]["fused_tar"],
        "bands_fit_on": f"CFP frontal photos, all {bands['full']['n_impostor']:,} impostor and "
        f"{bands['full']['n_genuine']:,} genuine pairs of {bands['full']['n_images']:,} images "
        "(match = FAR 1e-3, strong = FAR 1e-4, rounded up to 4 decimals), flip-averaged dlib "
        "vectors",
        "status": "used by search (re-ranking of the index's best max(k, 20) candidates with "
        "the stored second vectors), compare and eval",
        "check_subset": {
            "what": "fused thresholds that 'facesearch calibrate' gives on the recognizer's "
            "check_subset (tests/evaluate/test_calibration.py)",
            "match": bands["check_subset"]["fused"]["match"],
            "strong": bands["check_subset"]["fused"]["strong"],
        },
        "plain_vectors": plain,
        "date": date,
    }


def write_flip_manifest(record: dict[str, Any]) -> None:
    manifest = json.loads(MANIFEST.read_text())
    spec = manifest["models"]["dlib-resnet-v1"]
    fused = record["fused_thresholds"]
    spec["vector_variant"] = "flip"
    spec["thresholds"] = {
        "match": fused["match"],
        "strong": fused["strong"],
        "note": "thresholds for the FUSED score (SFace and this model's flip-averaged vectors, "
        "see calibration.rule), FAR 1e-3 and 1e-4 on CFP frontal photos; for plain dlib "
        "vectors see calibration.plain_vectors",
    }
    spec["calibration"] = record
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {MANIFEST}")


def flip_study(args: argparse.Namespace) -> None:
    from facesearch.evaluate.featurecache import FeatureCache

    cache = FeatureCache.load(args.cache)
    wanted = ["constant weight"] + (["pose-dependent weight"] if args.with_pose else [])
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    out = flip_report(cache, args.data, args.seed, wanted, variants)
    print_flip(out)
    if args.calibrate:  # the bands the choice on all sets would ship with (nothing is written)
        from facesearch.engine.embed import ScoreFusion
        from facesearch.evaluate.lodo import variant_flips

        family = wanted[-1]
        chosen = out["families"][family]["chosen_on_all_sets"]
        flips = cache.with_flip_averaging(*variant_flips(chosen["variant"]))
        out["bands"] = {
            "family": family,
            "variant": chosen["variant"],
            "fusion": chosen["fusion"],
            **calibrate_fused(args.data, flips, ScoreFusion.from_dict(chosen["fusion"])),
        }
        print("bands of the choice on all sets:", json.dumps(out["bands"], indent=2))
        if args.write_manifest:
            import datetime

            today = datetime.datetime.now(datetime.UTC).date().isoformat()
            write_flip_manifest(flip_manifest_record(out, family, today))
    target = args.json.with_name(
        "fusion_lodo_flip.json" if variants == VARIANTS else "fusion_lodo_flip_restricted.json"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache-file", dest="cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--cache", dest="build", action="store_true", help="Build the cache.")
    parser.add_argument(
        "--flips",
        action="store_true",
        help="With --cache: also cache each recognizer's vector of the mirrored face.",
    )
    parser.add_argument(
        "--flip-study",
        action="store_true",
        help="Choose flip averaging (per recognizer) and the fusion by LODO (needs --flips cache).",
    )
    parser.add_argument(
        "--with-pose", action="store_true", help="With --flip-study: also the pose family."
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="With --flip-study: the embedding variants to choose among (comma list of "
        f"{', '.join(VARIANTS)}; default all). plain,second+flip keeps SFace's vectors plain.",
    )
    parser.add_argument("--calibrate", action="store_true", help="Also make the fused bands.")
    parser.add_argument(
        "--ship",
        choices=("manifest", "lodo"),
        default="manifest",
        help="Fusion to calibrate and record: the manifest's weight and statistics (on the unit "
        "scale), or the LODO choice on all sets (only if accepted).",
    )
    parser.add_argument(
        "--write-manifest", action="store_true", help="With --calibrate: update the manifest."
    )
    parser.add_argument(
        "--family",
        default="constant weight",
        help="Family whose choice ships: constant weight, pose-dependent weight.",
    )
    args = parser.parse_args()
    if not (args.data / "README.md").exists():
        sys.exit(f"shared face data not found at {args.data}")
    if args.build:
        build(args)
        return
    if not args.cache.exists():
        sys.exit(f"no feature cache at {args.cache}: run with --cache first")
    if args.flip_study:
        flip_study(args)
        return
    select_and_report(args)


if __name__ == "__main__":
    np.seterr(invalid="ignore")
    main()
