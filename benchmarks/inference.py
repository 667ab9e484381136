"""Inference at the hardware's limit: FLOPs per call, this core's float32 and int8 matmul
peaks, and the time per call of every runtime x precision of every model, one thread, medians
of interleaved repeats, in one table.

    OMP_NUM_THREADS=1 python benchmarks/inference.py [--repeats 9] [--batch 4,8] [--cache DIR]
        [--cosine 200] [--data ../shared/faces]

* peaks: 1024^3 matrix multiplies, one thread, timed inside each model's interleaved loop (so
  that load on the machine hits them and the models alike): float32 (the faster of ONNX
  Runtime's MatMul and numpy's BLAS), bf16 (OpenVINO's MatMul at bf16 inference precision) and
  u8 x s8 -> s32 MatMulInteger in ONNX Runtime (its MLAS kernels use AVX512-VNNI where the CPU
  has it);
* per model and runtime: median ms per call at batch 1 (YuNet: a 640x480 photo, pre- and
  post-processing included, as the detector runs it; the recognizers: one aligned chip) and,
  for the recognizers, ms per face at each batch size of ``--batch`` (comma-separated);
  fraction of peak = graph FLOPs / the best of these times /
  peak (the int8 peak for int8 runtimes, the float32 peak otherwise);
* ``--cosine N``: each recognizer runtime's embeddings against the reference runtime's (SFace:
  OpenCV on the shipped file; dlib: dlib itself) on N real CFP faces (min and median cosine),
  and each detector runtime's landmarks against OpenCV's (median and max pixel distance).

Derived files are built on first use in the model cache (``--cache`` or
``FACESEARCH_MODEL_CACHE_DIR``). The int8 files' activation ranges are made by

    python benchmarks/inference.py --calibrate [--data ../shared/faces]

(the 95 CFP photos that are in no CFP-FF or CFP-FP pair, and their mirror images; written to
src/facesearch/models/calibration/), and ``--record-hashes`` rebuilds every derived file from
scratch in a temporary directory and writes its SHA-256 into the manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
INPUTS = {"detector": (1, 3, 480, 640), "recognizer": (1, 3, 112, 112),
          "recognizer-secondary": (1, 3, 150, 150)}  # fmt: skip
REFERENCE = {"detector": "opencv", "recognizer": "opencv", "recognizer-secondary": "dlib"}


def graph_flops(path: Path, shape: tuple[int, ...]) -> float:
    """2 x multiply-adds of every Conv, Gemm and MatMul, shapes inferred for ``shape``
    (of a float32 graph: Q/DQ pairs of an int8 graph are not followed)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = onnx.load(str(path))
    for d, v in zip(m.graph.input[0].type.tensor_type.shape.dim, shape, strict=True):
        d.ClearField("dim_param")
        d.dim_value = v
    m = shape_inference.infer_shapes(m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in [*m.graph.value_info, *m.graph.input, *m.graph.output]}  # fmt: skip
    inits = {t.name: numpy_helper.to_array(t).shape for t in m.graph.initializer}
    total = 0.0
    for n in m.graph.node:
        if n.op_type == "Conv":
            total += 2 * np.prod(shapes[n.output[0]]) * np.prod(inits[n.input[1]][1:])
        elif n.op_type in ("Gemm", "MatMul"):
            w = inits[n.input[1]]
            total += 2 * np.prod(shapes[n.input[0]][:-1]) * w[0] * w[1]
    return float(total)


def matmul_peaks(size: int = 1024) -> dict[str, Callable[[], Any]]:
    """Matrix-multiply micro-benchmarks, one thread, as calls timed like the models' (so that
    they are interleaved with them): ``size``^3 float32 MatMul and u8 x s8 -> s32
    MatMulInteger in ONNX Runtime (MLAS picks its AVX512-VNNI kernel on this CPU), and a
    float32 matmul in numpy's BLAS. Values: (call, operations per call)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1

    def graph_bytes(op: str, a_type: int, b: np.ndarray, y_type: int) -> bytes:
        graph = helper.make_graph(
            [helper.make_node(op, ["a", "b"], ["y"])],
            "peak",
            [helper.make_tensor_value_info("a", a_type, [size, size])],
            [helper.make_tensor_value_info("y", y_type, [size, size])],
            [numpy_helper.from_array(b, "b")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        return bytes(model.SerializeToString())

    def session(model: bytes) -> Any:
        return ort.InferenceSession(model, options, ["CPUExecutionProvider"])

    b8 = rng.integers(-128, 128, (size, size), dtype=np.int8)
    a8 = rng.integers(0, 256, (size, size), dtype=np.uint8)
    b32 = rng.standard_normal((size, size), dtype=np.float32)
    a32 = rng.standard_normal((size, size), dtype=np.float32)
    s8 = session(graph_bytes("MatMulInteger", TensorProto.UINT8, b8, TensorProto.INT32))
    fp32_graph = graph_bytes("MatMul", TensorProto.FLOAT, b32, TensorProto.FLOAT)
    s32 = session(fp32_graph)
    sbf16 = _openvino_bf16(fp32_graph)
    return {
        "bf16 MatMul (OpenVINO)": lambda: sbf16.run(a32),
        "int8 MatMulInteger (ORT)": lambda: s8.run(None, {"a": a8}),
        "fp32 MatMul (ORT)": lambda: s32.run(None, {"a": a32}),
        "fp32 matmul (numpy)": lambda: a32 @ b32,
    }


def _openvino_bf16(model: bytes) -> Any:
    """OpenVINO's bf16 session on the float32 graph ``model``."""
    from facesearch.models.runtime import OPENVINO_BF16, open_session

    with tempfile.TemporaryDirectory(prefix="facesearch-peak-") as tmp:
        path = Path(tmp) / "matmul.onnx"
        path.write_bytes(model)
        return open_session(OPENVINO_BF16, path, threads=1)


# --------------------------------------------------------------------- calibration


def calibration_photos(data: Path) -> list[Path]:
    """CFP photos in no pair of CFP-FF or CFP-FP (the accuracy gate never scores them)."""
    cfp = data / "cfp" / "Protocol"
    lists = {
        key: dict(line.split() for line in (cfp / f"Pair_list_{key}.txt").read_text().splitlines())
        for key in ("F", "P")
    }
    used: dict[str, set[str]] = {"F": set(), "P": set()}
    for proto in ("FF", "FP"):
        for split in sorted((cfp / "Split" / proto).glob("*/*.txt")):
            for line in split.read_text().split():
                a, b = line.split(",")
                used["F"].add(a)
                used["F" if proto == "FF" else "P"].add(b)
    return sorted(
        (cfp / rel).resolve()
        for key, entries in lists.items()
        for n, rel in entries.items()
        if n not in used[key]
    )


def chips_of(pipe: Any, pixels: np.ndarray) -> dict[str, np.ndarray] | None:
    """The first face's SFace (112 px) and dlib (150 px) chips, BGR uint8, or None."""
    from facesearch.engine.align import align_face
    from facesearch.engine.decode import decode_array

    faces = pipe.detect(decode_array(pixels, rgb=False))
    if not faces:
        return None
    second = pipe.manifest.models["dlib-resnet-v1"]
    landmarks = faces[0].landmarks
    return {
        "recognizer": align_face(pixels, landmarks, pipe.template, pipe.input_size),
        "recognizer-secondary": align_face(
            pixels, landmarks, np.array(second.alignment_template, np.float32), second.input_size
        ),
    }


def chip_tensor(chips: np.ndarray) -> np.ndarray:
    """BGR uint8 NHWC chips -> the RGB float32 NCHW tensor both recognizer graphs take."""
    return np.ascontiguousarray(chips[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32)


def detector_blob(image: np.ndarray) -> np.ndarray:
    """YuNet's input for a BGR photo: scaled as the detector scales it, padded to 32."""
    import cv2

    from facesearch.engine.detect import DetectorSettings

    ds = DetectorSettings()
    h, w = image.shape[:2]
    scale = min(1.0, ds.max_side / max(h, w))
    if min(h, w) * scale < ds.min_side:
        scale = min(ds.min_side / min(h, w), ds.max_side / max(h, w) * 2)
    work = cv2.resize(image, (round(w * scale), round(h * scale))) if scale != 1 else image
    ph, pw = -(-work.shape[0] // 32) * 32, -(-work.shape[1] // 32) * 32
    blob = np.zeros((1, 3, ph, pw), np.float32)
    blob[0, :, : work.shape[0], : work.shape[1]] = work.transpose(2, 0, 1)
    return blob


def calibration_inputs(data: Path, inference: Any) -> dict[str, list[np.ndarray]]:
    """Per model kind, the float32 tensors its graph sees on the calibration photos and their
    mirror images (landmarks from the shipped detector)."""
    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=inference))
    out: dict[str, list[np.ndarray]] = {k: [] for k in INPUTS}
    photos = calibration_photos(data)
    for i, path in enumerate(photos):
        pixels = decode_file(path).pixels
        for image in (pixels, np.ascontiguousarray(pixels[:, ::-1])):
            out["detector"].append(detector_blob(image))
            chips = chips_of(pipe, image)
            for kind, chip in (chips or {}).items():
                out[kind].append(chip_tensor(chip[None]))
        if (i + 1) % 25 == 0 or i + 1 == len(photos):
            print(f"  calibration inputs: {i + 1}/{len(photos)} photos", flush=True)
    return out


def shipped_file(spec: Any) -> Path:
    from facesearch.engine.embed import DLIB_DISTRIBUTION, DLIB_PACKAGE, verified_package_file
    from facesearch.models.manifest import verified_model_path

    if spec.kind == "recognizer-secondary":
        return verified_package_file(spec, DLIB_PACKAGE, DLIB_DISTRIBUTION)
    return verified_model_path(spec)


def calibrate_all(data: Path, inference: Any) -> None:
    import onnx

    from facesearch.models.derive import calibrate, calibration_resource
    from facesearch.models.manifest import load_manifest

    print(f"calibration photos: {len(calibration_photos(data))} CFP photos in no CFP-FF/FP pair")
    inputs = calibration_inputs(data, inference)
    for spec in load_manifest().models.values():
        int8 = spec.derived.get("int8")
        if int8 is None or int8.calibration is None:
            continue
        fp32 = inference.model_file(spec, spec.runtime_spec("onnxruntime-fp32"),
                                    lambda s=spec: shipped_file(s))  # fmt: skip
        name = onnx.load(str(fp32)).graph.input[0].name
        target = calibration_resource(int8.calibration)
        target.parent.mkdir(parents=True, exist_ok=True)
        batches = iter(inputs[spec.kind])
        calibrate(fp32, target, batches, name)
        print(f"{spec.key}: {len(inputs[spec.kind])} inputs -> {target}")


def record_hashes() -> None:
    """Build every derived file from scratch and write its SHA-256 into the manifest."""
    from facesearch.models.derive import DerivedFiles
    from facesearch.models.manifest import load_manifest, manifest_path, sha256_file

    manifest_file = manifest_path()
    raw = json.loads(manifest_file.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="facesearch-hashes-") as tmp:
        cache = DerivedFiles(Path(tmp))
        for spec in load_manifest().models.values():
            for name, derived in spec.derived.items():
                source = (
                    shipped_file(spec)
                    if derived.source == "shipped"
                    else Path(tmp) / spec.derived[derived.source].file
                )
                out = Path(tmp) / derived.file
                t0 = time.perf_counter()
                cache._build(derived, source, out)
                digest = sha256_file(out)
                print(f"{spec.key} {name}: {digest} ({time.perf_counter() - t0:.1f} s)")
                raw["models"][spec.key]["derived"][name]["sha256"] = digest
    manifest_file.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {manifest_file}")


# --------------------------------------------------------------------- timing


def runner(
    spec: Any, rt: Any, path: Path, batch: np.ndarray, image: np.ndarray
) -> Callable[[], Any]:
    """A call of ``rt`` on ``batch`` (recognizers) or on the photo ``image`` (the detector)."""
    import cv2

    from facesearch.models.runtime import open_session
    from facesearch.models.yunet import YuNetOnSession

    if spec.kind == "detector":
        h, w = image.shape[:2]
        if rt.engine == "opencv-facedetectoryn":
            net: Any = cv2.FaceDetectorYN.create(str(path), "", (w, h), 0.6, 0.3, 5000)
        else:
            net = YuNetOnSession(open_session(rt.engine, path), (w, h), 0.6, 0.3, 5000)
        return lambda: net.detect(image)
    if rt.engine == "dlib":
        import dlib

        model = dlib.face_recognition_model_v1(str(path))
        chips = [np.ascontiguousarray(c.transpose(1, 2, 0)).astype(np.uint8) for c in batch]
        return lambda: [model.compute_face_descriptor(c) for c in chips]
    session = open_session(rt.engine, path, spec.input_name)
    return lambda: session.run(batch)


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    for run in runs.values():
        run()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def cosine_check(specs: list[Any], inference: Any, data: Path, n: int) -> dict[str, dict[str, Any]]:
    """Each runtime against the reference one on ``n`` real CFP faces (one per identity)."""
    from facesearch.engine.decode import decode_file
    from facesearch.engine.embed import normalise
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=inference))
    files = sorted((data / "cfp" / "Data" / "Images").glob("*/*/01.jpg"))[:n]
    images = [decode_file(f).pixels for f in files]
    chips: dict[str, list[np.ndarray]] = {"recognizer": [], "recognizer-secondary": []}
    for image in images:
        for kind, chip in (chips_of(pipe, image) or {}).items():
            chips[kind].append(chip)
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        ref_name = REFERENCE[spec.kind]
        if spec.kind == "detector":
            from facesearch.engine.detect import YuNetDetector

            def landmarks(name: str, s: Any = spec) -> list[np.ndarray]:
                det = YuNetDetector(s, inference=inference.with_runtime(s.kind, name))
                return [d[0].landmarks if (d := det.predict(im)) else None for im in images]

            ref = landmarks(ref_name)
            for name in spec.runtimes:
                got = landmarks(name)
                dist = [float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)
                        if a is not None and b is not None]  # fmt: skip
                missed = sum((a is None) != (b is None) for a, b in zip(ref, got, strict=True))
                out[f"{spec.key}/{name}"] = {
                    "faces": len(dist),
                    "median_px": float(np.median(dist)),
                    "max_px": max(dist),
                    "found_differently": missed,
                }
            continue
        from facesearch.engine.embed import DlibEmbedder, SFaceEmbedder

        batch = np.stack(chips[spec.kind])

        def embed(name: str, s: Any = spec, b: np.ndarray = batch) -> np.ndarray:
            inf = inference.with_runtime(s.kind, name)
            model = (
                SFaceEmbedder(s, inference=inf)
                if s.kind == "recognizer"
                else DlibEmbedder(s, inference=inf)
            )
            return normalise(model.predict(b))

        ref = embed(ref_name)
        for name in spec.runtimes:
            cos = (ref * embed(name)).sum(axis=1)
            out[f"{spec.key}/{name}"] = {"faces": len(cos), "min": float(cos.min()),
                                         "median": float(np.median(cos))}  # fmt: skip
    return out


def main() -> None:
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import load_manifest
    from facesearch.models.runtime import set_threads
    from facesearch.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument(
        "--batch", default="8", help="faces per recognizer call, comma-separated (0: skip)"
    )
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces")
    ap.add_argument("--models", default="", help="comma-separated model keys (default: all)")
    ap.add_argument("--runtimes", default="", help="comma-separated runtime names (default: all)")
    ap.add_argument("--cosine", type=int, default=0, help="check on N real CFP faces")
    ap.add_argument("--calibrate", action="store_true", help="write the int8 activation ranges")
    ap.add_argument("--record-hashes", action="store_true", help="write derived files' SHA-256")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "inference.json")
    args = ap.parse_args()
    set_threads(1)
    inference = InferenceSettings.from_settings(Settings.load())
    if args.cache:
        inference = InferenceSettings(args.cache)
    if args.calibrate:
        calibrate_all(args.data, inference)
        return
    if args.record_hashes:
        record_hashes()
        return
    specs = [s for s in load_manifest().models.values()
             if not args.models or s.key in args.models.split(",")]  # fmt: skip
    wanted = set(args.runtimes.split(",")) if args.runtimes else None
    batches = [b for b in (int(x) for x in str(args.batch).split(",") if x) if b > 1]
    peaks = matmul_peaks()
    peak_ops = 2 * 1024**3
    results: dict[str, Any] = {"models": {}, "peaks": {}}
    rng = np.random.default_rng(1)
    photo = _photo()
    rows = []
    for spec in specs:
        shape = INPUTS[spec.kind]
        one = rng.uniform(0, 255, shape).astype(np.float32)
        many = {b: rng.uniform(0, 255, (b, *shape[1:])).astype(np.float32) for b in batches}
        runs: dict[str, Callable[[], Any]] = {}
        runtimes = {k: v for k, v in spec.runtimes.items() if wanted is None or k in wanted}
        for name, rt in runtimes.items():
            path = inference.model_file(spec, rt, lambda s=spec: shipped_file(s))
            runs[name] = runner(spec, rt, path, one, photo)
            for b in batches if spec.kind != "detector" else ():
                runs[f"{name}@{b}"] = runner(spec, rt, path, many[b], photo)
        fp32 = inference.model_file(spec, spec.runtime_spec("onnxruntime-fp32"),
                                    lambda s=spec: shipped_file(s))  # fmt: skip
        flops = graph_flops(fp32, shape)
        runs.update(peaks)  # the peaks are measured in the same interleaved loop
        med = interleaved(runs, args.repeats)
        peak8 = peak_ops / med["int8 MatMulInteger (ORT)"] / 1e9
        peak32 = peak_ops / min(med["fp32 MatMul (ORT)"], med["fp32 matmul (numpy)"]) / 1e9
        peak16 = peak_ops / med["bf16 MatMul (OpenVINO)"] / 1e9
        results["peaks"][spec.key] = {"fp32_gflops": peak32, "bf16_gflops": peak16,
                                      "int8_gops": peak8}  # fmt: skip
        print(f"{spec.key}: peaks in the same loop: fp32 {peak32:.1f} GFLOP/s, bf16 "
              f"{peak16:.1f} GFLOP/s, int8 {peak8:.1f} GOP/s", flush=True)  # fmt: skip
        results["models"][spec.key] = {
            "gflop": flops / 1e9,
            "ms": {k: v * 1e3 for k, v in med.items()},
        }
        for name, rt in runtimes.items():
            peak = {"int8": peak8, "bf16": peak16}.get(rt.precision, peak32)
            t1 = med[name]
            per_face = [med[f"{name}@{b}"] / b for b in batches if f"{name}@{b}" in med]
            best = min([t1, *per_face])
            rows.append((spec.key, name, _precision(rt.precision), flops / 1e9, t1 * 1e3,
                         [t * 1e3 for t in per_face],
                         flops / best / 1e9 / peak, name == spec.runtime))  # fmt: skip
    print("\nfraction of peak: GFLOP per call / the best of the per-face times / the peak "
          "of the same model's loop (int8, bf16 or fp32 by the runtime's precision)")  # fmt: skip
    cols = "".join(f" ms/face at batch {b} |" for b in batches)
    print(f"| model | runtime | precision | GFLOP/call | ms at batch 1 |{cols} fraction of peak "
          f"| default |")  # fmt: skip
    print("| --- | --- | --- | ---: | ---: |" + " ---: |" * len(batches) + " ---: | --- |")
    for key, name, precision, gflop, t1, tb, frac, default in rows:
        tbs = " | ".join(f"{t:.2f}" for t in tb) if tb else " | ".join("-" for _ in batches)
        tbs = f" {tbs} |" if batches else ""
        print(f"| {key} | {name} | {precision} | {gflop:.3f} | {t1:.2f} |{tbs} {frac:.1%} "
              f"| {'yes' if default else ''} |")  # fmt: skip
    if args.cosine:
        check = cosine_check(specs, inference, args.data, args.cosine)
        results["against_reference"] = check
        print("\nagainst the reference runtime on real CFP faces:")
        for k, v in check.items():
            print(f"  {k}: {v}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


def _precision(text: str) -> str:
    return "int8 weights, fp32 compute" if text.startswith("int8 block") else text


def _photo() -> np.ndarray:
    """A real 640x480 BGR photo with a face (scikit-image's astronaut)."""
    import cv2
    from skimage import data

    return np.ascontiguousarray(cv2.resize(np.asarray(data.astronaut())[:, :, ::-1], (640, 480)))


if __name__ == "__main__":
    sys.exit(main())
