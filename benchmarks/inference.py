"""Inference at the hardware's limit: FLOPs per call, this core's fp32 matmul peak, and the time
per call of every runtime of every model, one thread, medians of interleaved repeats.

    python benchmarks/inference.py [--repeats 7] [--cache DIR]

(First version: the int8 micro-benchmark and int8 runtimes are not measured yet.)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

INPUTS = {"detector": (1, 3, 480, 640), "recognizer": (1, 3, 112, 112),
          "recognizer-secondary": (1, 3, 150, 150)}  # fmt: skip


def graph_flops(path: Path, shape: tuple[int, ...]) -> float:
    """2 x multiply-adds of every Conv, Gemm and MatMul, shapes inferred for ``shape``."""
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


def fp32_peak(seconds: float = 1.0) -> float:
    """GFLOP/s of a 512x512 float32 matmul on one thread (numpy's BLAS; set OMP threads to 1)."""
    a = np.random.default_rng(0).standard_normal((512, 512), dtype=np.float32)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        n += 1
    return 2 * 512**3 * n / (time.perf_counter() - start) / 1e9


def main() -> None:
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import load_manifest
    from facesearch.models.runtime import open_session, set_threads

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    set_threads(1)
    inference = InferenceSettings.from_environment()
    if args.cache:
        inference = InferenceSettings(args.cache)
    peak = fp32_peak()
    print(f"fp32 matmul peak, one thread: {peak:.1f} GFLOP/s")
    for spec in load_manifest().models.values():
        shape = INPUTS[spec.kind]
        x = np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32)
        runs = {}
        for name, rt in spec.runtimes.items():
            if rt.engine in ("dlib", "opencv-facedetectoryn") or rt.precision == "int8":
                continue  # not a plain graph session / not recorded yet
            from facesearch.embed import DLIB_DISTRIBUTION, DLIB_PACKAGE, verified_package_file
            from facesearch.models.manifest import verified_model_path

            def shipped(s=spec):  # type: ignore[no-untyped-def]
                if s.kind == "recognizer-secondary":
                    return verified_package_file(s, DLIB_PACKAGE, DLIB_DISTRIBUTION)
                return verified_model_path(s)

            path = inference.model_file(spec, rt, shipped)
            runs[name] = (open_session(rt.engine, path, spec.input_name), path)
        derived = [p for k, (_s, p) in runs.items() if spec.runtimes[k].file != "shipped"]
        flops = graph_flops(derived[0], shape) if derived else 0.0
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, (session, _p) in runs.items():
                t0 = time.perf_counter()
                session.run_all(x)
                times[k].append(time.perf_counter() - t0)
        print(f"{spec.key}: {flops / 1e9:.3f} GFLOP per call at {shape}")
        for k, ts in times.items():
            med = float(np.median(ts))
            print(f"  {k:20s} {med * 1e3:8.2f} ms  {flops / med / 1e9 / peak:6.1%} of peak")


if __name__ == "__main__":
    main()
