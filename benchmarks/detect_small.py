"""Small faces in large photos: detection recall per face size and time per photo.

Real CFP frontal faces are pasted at 20, 24, 32, 40, 60 and 80 pixels (the width of the face
box) into photos of 2, 12 and 24 megapixels whose backgrounds are real photos without people
(``facesearch.evaluate.scenes``). Each detector runs on every scene and on the same scene
without the faces (every detection there is a false one), on one thread:

* ``today``: the detector as it was before the fine pass (``git show BASELINE:src/facesearch/
  detect.py``, by default the commit before it, f374059), loaded from git in this run;
* ``shipped``: the detector as it is now (``DetectorSettings()``);
* any ``--variant NAME:field=value,...`` (e.g. ``x1.5:fine_scale=1.5``), the same detector with
  other settings.

A pasted face counts as found when one detection's centre lies in its box and its width is
within a factor of 2 of the box's. Detections elsewhere on a scene are "other" detections.

    python benchmarks/detect_small.py [--data ../shared/faces/cfp] [--scenes 6,2,1]
        [--per-size 3,12,24] [--variant x1.5:fine_scale=1.5] [--baseline f374059] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CFP_DEFAULT = REPO.parent / "shared" / "faces" / "cfp"
SIZES = (20, 24, 32, 40, 60, 80)
PHOTOS = {2: (1632, 1224), 12: (4000, 3000), 24: (6000, 4000)}


def old_detector_module(commit: str) -> Any:
    """The detector module as it was at ``commit``, imported from a temporary file."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:src/facesearch/engine/detect.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="fs-detect-")) / "detect_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("detect_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["detect_baseline"] = module
    spec.loader.exec_module(module)
    return module


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, fields = text.partition(":")
    if not fields:
        raise SystemExit(f"--variant {text!r}: expected NAME:field=value[,field=value]")
    out: dict[str, Any] = {}
    for item in fields.split(","):
        key, _, value = item.partition("=")
        out[key.strip()] = json.loads(value)
    return name, out


def source_faces(cfp: Path, count: int) -> list[tuple[np.ndarray, tuple[float, ...]]]:
    """One frontal photo of each of ``count`` CFP people and its face box (the largest)."""
    from facesearch.engine.decode import decode_file
    from facesearch.engine.detect import YuNetDetector
    from facesearch.models.manifest import load_manifest

    detector = YuNetDetector(load_manifest().detector)
    detector.load()
    out = []
    for folder in sorted((cfp / "Data" / "Images").iterdir())[:count]:
        pixels = decode_file(folder / "frontal" / "01.jpg").pixels
        found = detector.predict(pixels)
        if found:
            out.append((pixels, found[0].bbox))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=CFP_DEFAULT, help="The CFP folder.")
    parser.add_argument("--megapixels", default="2,12,24", help="Photo sizes (2, 12, 24).")
    parser.add_argument("--scenes", default="6,2,1", help="Scenes per photo size.")
    parser.add_argument("--per-size", default="3,12,24", help="Faces of each size per scene.")
    parser.add_argument("--people", type=int, default=60, help="CFP people whose faces are pasted.")
    parser.add_argument("--baseline", default="f374059", help="Commit of today's detector.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip today's detector.")
    parser.add_argument("--variant", action="append", default=[], help="NAME:field=value,...")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no CFP folder at {args.data} (give --data)")

    from facesearch.engine.detect import DetectorSettings, YuNetDetector
    from facesearch.evaluate.scenes import (
        background_sources,
        centre_inside,
        paste_face,
        plan_scene,
        real_background,
    )
    from facesearch.models.manifest import load_manifest
    from facesearch.models.runtime import set_threads

    set_threads(1)
    spec = load_manifest().detector
    detectors: dict[str, Any] = {}
    if not args.no_baseline:
        detectors["today"] = old_detector_module(args.baseline).YuNetDetector(spec)
    detectors["shipped"] = YuNetDetector(spec, DetectorSettings())
    for text in args.variant:
        name, fields = parse_variant(text)
        detectors[name] = YuNetDetector(spec, dataclasses.replace(DetectorSettings(), **fields))
    for d in detectors.values():
        d.load()

    faces = source_faces(args.data, args.people)
    pool = background_sources()
    mps = [int(m) for m in args.megapixels.split(",")]
    scenes = dict(zip(mps, (int(s) for s in args.scenes.split(",")), strict=True))
    per_size = dict(zip(mps, (int(s) for s in args.per_size.split(",")), strict=True))
    print(f"{len(faces)} source faces; detectors: {', '.join(detectors)}; one thread", flush=True)

    found: dict[tuple[str, int, int], list[bool]] = defaultdict(list)
    seconds: dict[tuple[str, int], list[float]] = defaultdict(list)
    false_bg: dict[tuple[str, int], int] = defaultdict(int)
    other: dict[tuple[str, int], int] = defaultdict(int)
    for mp in mps:
        width, height = PHOTOS[mp]
        for s in range(scenes[mp]):
            seed = 1000 * mp + s
            background = real_background(width, height, seed=seed, sources=pool)
            canvas = background.copy()
            boxes = []
            for p in plan_scene(width, height, SIZES, per_size[mp], len(faces), seed):
                photo, box = faces[p.source]
                boxes.append((p.width, paste_face(canvas, photo, box, p.width, p.x, p.y)))
            for name, det in detectors.items():
                false_bg[name, mp] += len(det.predict(background))
                start = time.perf_counter()
                detections = det.predict(canvas)
                seconds[name, mp].append(time.perf_counter() - start)
                matched = set()
                for size, box in boxes:
                    hits = [
                        i
                        for i, d in enumerate(detections)
                        if centre_inside(d.bbox, box) and 0.5 < d.bbox[2] / box[2] < 2.0
                    ]
                    found[name, mp, size].append(bool(hits))
                    matched.update(hits)
                other[name, mp] += len(detections) - len(matched)
            print(f"  {mp} MP scene {s + 1}/{scenes[mp]} done", flush=True)

    rows: dict[str, Any] = {}
    header = " ".join(f"{s:>6}px" for s in SIZES)
    print(f"\nrecall by face width (faces found / pasted), per photo size\n{'':24} {header}")
    for name in detectors:
        for mp in mps:
            rec = [float(np.mean(found[name, mp, s])) for s in SIZES]
            n = len(found[name, mp, SIZES[0]])
            print(f"{name:>12} {mp:>3} MP (n={n:>3}) " + " ".join(f"{r:>8.1%}" for r in rec))
            rows.setdefault(name, {})[f"{mp}MP"] = {
                "recall": dict(zip(SIZES, rec, strict=True)),
                "faces_per_size": n,
                "seconds_per_photo": statistics.mean(seconds[name, mp]),
                "false_on_background": false_bg[name, mp],
                "other_detections": other[name, mp],
            }
        allrec = [float(np.mean([x for mp in mps for x in found[name, mp, s]])) for s in SIZES]
        print(f"{name:>12} all sizes      " + " ".join(f"{r:>8.1%}" for r in allrec))
        rows[name]["all"] = dict(zip(SIZES, allrec, strict=True))

    print("\ntime per photo (one thread), false detections on the backgrounds alone, other ones")
    for name in detectors:
        parts = []
        for mp in mps:
            r = rows[name][f"{mp}MP"]
            parts.append(
                f"{mp} MP {r['seconds_per_photo']:.2f} s, "
                f"{r['false_on_background']} false / {scenes[mp]} backgrounds, "
                f"{r['other_detections']} other"
            )
        print(f"{name:>12}  " + "; ".join(parts))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
