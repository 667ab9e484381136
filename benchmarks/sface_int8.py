"""int8 SFace, tried again on this CPU: which quantization recipe keeps SFace's vectors, and
how fast each runs, one thread, interleaved medians.

    OMP_NUM_THREADS=1 python benchmarks/sface_int8.py [--data ../shared/faces] [--repeats 15]
        [--recipes ort-qdq,ort-qdq-rr-excl,nncf-mixed,nncf-mixed-excl-bc] [--save DIR]
        [--cfp-gate]

Calibration: SFace chips of the 95 CFP photos in no CFP-FF/FP pair and their mirrors (the
int8 files' calibration set, ``benchmarks/inference.py --calibrate``). Test: chips of 150
frontal and 100 profile CFP photos (``*/frontal/01.jpg``, ``*/profile/01.jpg``), landmarks
from the shipped detector; cosine of each recipe's unit vectors to the float32 graph's (which
is the reference's within 1e-7). Recipes:

* ``ort-qdq``: the manifest's ``int8`` file (ONNX Runtime static QDQ, per-channel s8 weights,
  u8 activations, min-max ranges), run on ONNX Runtime and OpenVINO;
* ``ort-qdq-rr-excl``: the same with 7-bit weights (``reduce_range``, against u8 x s8
  saturation without VNNI) and the first convolution and the last fully connected layer left
  in float32;
* ``nncf-*``: OpenVINO's NNCF post-training quantization (``pip install nncf``; not a
  facesearch dependency) on the float32 graph, run on OpenVINO: ``mixed`` (symmetric
  weights, asymmetric activations), ``-excl`` (first convolution and last fully connected
  layer in float32), ``-bc`` (full bias correction instead of the fast one).

Beside them, ``bf16 openvino``: the float32 graph at OpenVINO's bf16 inference precision.

A recipe could become a runtime only with cosine >= 0.99 median to the reference and then the
accuracy gate (``benchmarks/accuracy.py``), under a model key of its own with re-derived bands.
``--cfp-gate`` runs that gate's SFace part for every variant: SFace alone, 10-fold accuracy on
the CFP frontal-frontal and frontal-profile protocols (official folds; the SFace chip of each
protocol photo's first face, as ``chips`` makes them, cached in ``benchmarks/out``), against
float32 in the same run; issue 11 accepts a variant only within 0.1 point on both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import inference as bench  # benchmarks/inference.py

REPO = Path(__file__).resolve().parents[1]
FIRST_CONV, LAST_FC = "conv_1_conv2d", "pre_fc1"
RECIPES = ("ort-qdq", "ort-qdq-rr-excl", "nncf-mixed", "nncf-mixed-excl-bc")


def chips(data: Path, inference: Any) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, test) float32 NCHW tensors of SFace chips."""
    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings

    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=inference))
    cal = []
    for path in bench.calibration_photos(data):
        pixels = decode_file(path).pixels
        for image in (pixels, np.ascontiguousarray(pixels[:, ::-1])):
            if got := bench.chips_of(pipe, image):
                cal.append(got["recognizer"])
    images = data / "cfp" / "Data" / "Images"
    files = sorted(images.glob("*/frontal/01.jpg"))[:150]
    files += sorted(images.glob("*/profile/01.jpg"))[:100]
    test = [
        got["recognizer"] for f in files if (got := bench.chips_of(pipe, decode_file(f).pixels))
    ]
    return bench.chip_tensor(np.stack(cal)), bench.chip_tensor(np.stack(test))


def ort_qdq(fp32: Path, out: Path, cal: np.ndarray, reduce_range: bool, exclude: bool) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(cal[i : i + 1] for i in range(len(cal)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"data": batch}

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, reduce_range=reduce_range,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=[FIRST_CONV, LAST_FC] if exclude else None)  # fmt: skip


def nncf_model(fp32: Path, cal: np.ndarray, exclude: bool, bias_correction: bool) -> Any:
    import nncf
    import openvino as ov

    kwargs: dict[str, Any] = {"preset": nncf.QuantizationPreset.MIXED,
                              "fast_bias_correction": not bias_correction}  # fmt: skip
    if exclude:
        kwargs["ignored_scope"] = nncf.IgnoredScope(names=[FIRST_CONV, LAST_FC], validate=False)
    dataset = nncf.Dataset(list(range(len(cal))), lambda i: cal[i : i + 1])
    return nncf.quantize(ov.Core().read_model(str(fp32)), dataset, subset_size=len(cal), **kwargs)


def openvino_call(model: Any, precision: str = "f32") -> Callable[[np.ndarray], np.ndarray]:
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": 1, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": precision}  # fmt: skip
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def call(x: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(x)})
        return np.array(request.get_output_tensor(0).data)

    return call


def ort_call(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    from facesearch.models.runtime import OnnxRuntimeSession

    session = OnnxRuntimeSession(path, threads=1)
    return session.run


def unit(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    out = np.concatenate([call(x[i : i + 1]).reshape(1, -1) for i in range(len(x))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def cfp_chips(
    data: Path, inference: Any
) -> tuple[np.ndarray, dict[str, int], dict[str, list[Any]]]:
    """SFace chips (float32 NCHW) of every photo of the CFP-FF and CFP-FP protocols, the row of
    each photo (photos without a face have none), and the protocols' pairs."""
    from facesearch.engine.decode import decode_file
    from facesearch.engine.pipeline import FacePipeline, PipelineSettings
    from facesearch.evaluate.protocols import read_cfp_protocol

    root = data / "cfp"
    pairs = {kind: read_cfp_protocol(root, kind) for kind in ("FF", "FP")}
    photos = sorted({str(p) for ps in pairs.values() for pr in ps for p in (pr.path_a, pr.path_b)})
    cache = REPO / "benchmarks" / "out" / "cfp_sface_chips.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if list(z["photos"]) == photos:
                rows = {str(n): i for i, n in enumerate(z["names"])}
                return bench.chip_tensor(z["chips"]), rows, pairs
    pipe = FacePipeline.load(PipelineSettings(second_model=False, inference=inference))
    chips, names = [], []
    for i, path in enumerate(photos):
        if got := bench.chips_of(pipe, decode_file(path).pixels):
            chips.append(got["recognizer"])
            names.append(path)
        if (i + 1) % 1000 == 0 or i + 1 == len(photos):
            print(f"  CFP chips: {i + 1}/{len(photos)} photos", flush=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, chips=np.stack(chips), names=np.array(names), photos=np.array(photos))
    return bench.chip_tensor(np.stack(chips)), {n: i for i, n in enumerate(names)}, pairs


def cfp_gate(
    calls: dict[str, Callable[[np.ndarray], np.ndarray]], data: Path, inference: Any
) -> None:
    """SFace-alone 10-fold accuracy on CFP-FF and CFP-FP of every variant, against fp32."""
    from facesearch.evaluate.metrics import kfold_verification_accuracy

    x, rows, pairs = cfp_chips(data, inference)
    print(f"CFP gate: SFace chips of {len(x)} protocol photos with a face")
    acc: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        out = np.concatenate([call(x[i : i + 8]).reshape(len(x[i : i + 8]), -1)
                              for i in range(0, len(x), 8)])  # fmt: skip
        v = out / np.linalg.norm(out, axis=1, keepdims=True)
        acc[name] = {}
        for kind, ps in pairs.items():
            a = [rows.get(str(p.path_a)) for p in ps]
            b = [rows.get(str(p.path_b)) for p in ps]
            scores = np.array([-1.0 if i is None or j is None else float(v[i] @ v[j])
                               for i, j in zip(a, b, strict=True)])  # fmt: skip
            labels = np.array([p.same for p in ps])
            folds = np.array([p.fold for p in ps])
            acc[name][kind] = 100 * kfold_verification_accuracy(scores, labels, folds).mean
    ref = acc["fp32 openvino"]
    print("| SFace variant | CFP-FF | CFP-FP | vs fp32 | within 0.1 point |")
    print("| --- | ---: | ---: | --- | --- |")
    for name, a in acc.items():
        dff, dfp = a["FF"] - ref["FF"], a["FP"] - ref["FP"]
        ok = "yes" if min(dff, dfp) >= -0.1 - 1e-9 else "no"
        print(f"| {name} | {a['FF']:.2f} | {a['FP']:.2f} | {dff:+.2f} / {dfp:+.2f} | {ok} |")


def main() -> None:
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import load_manifest
    from facesearch.models.runtime import OPENCV, open_session, set_threads
    from facesearch.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "faces")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--save", type=Path, help="keep the quantized graphs in this folder")
    ap.add_argument(
        "--cfp-gate", action="store_true", help="SFace-alone CFP-FF/FP accuracy of each variant"
    )
    args = ap.parse_args()
    set_threads(1)
    inference = InferenceSettings.from_settings(Settings.load())
    spec = load_manifest().models["sface-2021dec-int8bq"]
    shipped = lambda: bench.shipped_file(spec)  # noqa: E731
    fp32 = inference.model_file(spec, spec.runtime_spec("onnxruntime-fp32"), shipped)
    int8 = inference.model_file(spec, spec.runtime_spec("onnxruntime-int8"), shipped)
    cal, test = chips(args.data, inference)
    print(f"calibration: {len(cal)} chips; test: {len(test)} chips (CFP frontal + profile)")
    calls: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "fp32 opencv": open_session(OPENCV, bench.shipped_file(spec), "data").run,
        "fp32 openvino": openvino_call(str(fp32)),
        "bf16 openvino": openvino_call(str(fp32), "bf16"),
    }
    with tempfile.TemporaryDirectory(prefix="facesearch-sface-int8-") as tmp:
        folder = args.save or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for recipe in args.recipes.split(","):
            if recipe == "ort-qdq":
                calls["ort-qdq onnxruntime"] = ort_call(int8)
                calls["ort-qdq openvino"] = openvino_call(str(int8))
            elif recipe == "ort-qdq-rr-excl":
                path = folder / f"{recipe}.onnx"
                ort_qdq(fp32, path, cal, reduce_range=True, exclude=True)
                calls[f"{recipe} onnxruntime"] = ort_call(path)
                calls[f"{recipe} openvino"] = openvino_call(str(path))
            elif recipe.startswith("nncf-"):
                model = nncf_model(fp32, cal, "-excl" in recipe, recipe.endswith("-bc"))
                if args.save:
                    import openvino as ov

                    ov.save_model(model, str(folder / f"{recipe}.xml"))
                calls[f"{recipe} openvino"] = openvino_call(model)
            else:
                raise SystemExit(f"unknown recipe {recipe!r}: {', '.join(RECIPES)}")
        ref = unit(calls["fp32 openvino"], test)
        cosines = {name: (ref * unit(call, test)).sum(axis=1) for name, call in calls.items()}
        x = test[:1]
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                t0 = time.perf_counter()
                call(x)
                times[name].append(time.perf_counter() - t0)
        print("| recipe / runtime | ms per face (median) | cosine min | p5 | median |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, cos in cosines.items():
            print(f"| {name} | {np.median(times[name]) * 1e3:.2f} | {cos.min():.4f} | "
                  f"{np.percentile(cos, 5):.4f} | {np.median(cos):.5f} |", flush=True)  # fmt: skip
        if args.cfp_gate:
            cfp_gate(calls, args.data, inference)


if __name__ == "__main__":
    main()
