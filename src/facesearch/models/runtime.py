"""Inference sessions: the runtime that executes a model file, behind a tiny interface.

Three engines run ONNX graphs here: OpenCV's DNN module (the shipped block-quantized files as
they are), ONNX Runtime and OpenVINO (on the derived float32 or int8 files of
:mod:`facesearch.models.derive`). Every session runs on as many threads as OpenCV is set to use
(:func:`set_threads`; ingest and search workers use one each), so that one setting governs all
engines in a process.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import numpy as np

OPENCV = "opencv-dnn"
ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
OPENVINO_BF16 = "openvino-bf16"  # OpenVINO with bf16 inference precision (AVX512-BF16, AMX)
ENGINES = (OPENCV, ONNXRUNTIME, OPENVINO, OPENVINO_BF16)


class Session(Protocol):
    """Runs a network on one input tensor."""

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """The first output."""
        ...

    def run_all(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Every output, in the graph's order."""
        ...


class OpenCVDnnSession:
    """OpenCV's DNN engine on the CPU (runs the block-quantized int8 ONNX files as they ship)."""

    def __init__(self, path: Path, input_name: str | None = None) -> None:
        import cv2

        quiet_opencv()
        self._net = cv2.dnn.readNetFromONNX(str(path))
        self._input_name = input_name or ""
        self._outputs = list(self._net.getUnconnectedOutLayersNames())

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self._net.setInput(np.ascontiguousarray(tensor, dtype=np.float32), self._input_name)
        return np.asarray(self._net.forward())

    def run_all(self, tensor: np.ndarray) -> list[np.ndarray]:
        self._net.setInput(np.ascontiguousarray(tensor, dtype=np.float32), self._input_name)
        return [np.asarray(o) for o in self._net.forward(self._outputs)]


class OnnxRuntimeSession:
    """ONNX Runtime's CPU execution provider, all graph optimisations, ``threads`` threads."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(path), options, providers=execution_providers(ort.get_available_providers())
        )
        self.providers = list(self._session.get_providers())
        self._input_name = self._session.get_inputs()[0].name

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return self.run_all(tensor)[0]

    def run_all(self, tensor: np.ndarray) -> list[np.ndarray]:
        feed = {self._input_name: np.ascontiguousarray(tensor, dtype=np.float32)}
        return [np.asarray(o) for o in self._session.run(None, feed)]


class OpenVINOSession:
    """OpenVINO's CPU plugin, latency mode, one stream of ``threads`` threads, float32
    inference precision by default (no silent bf16/fp16 on CPUs that have them), or
    ``precision="bf16"``: float32 layers computed in bf16 on CPUs that OpenVINO reports as
    having bf16 instructions (AVX512-BF16, AMX); elsewhere float32, explicitly
    (:attr:`precision` says which one runs).

    Threads are not pinned to cores: OpenVINO pins by default, and then every process's first
    thread lands on the same core, so two ingest workers of one thread each shared one core
    (SFace 33 ms per face in each of two processes against 16 ms unpinned, measured)."""

    def __init__(self, path: Path, threads: int | None = None, precision: str = "f32") -> None:
        import openvino as ov

        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property(
            "CPU", "OPTIMIZATION_CAPABILITIES"
        ):
            precision = "f32"
        self.precision = precision
        compiled = core.compile_model(
            str(path),
            "CPU",
            {
                "INFERENCE_NUM_THREADS": threads or default_threads(),
                "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_PRECISION_HINT": precision,
                "ENABLE_CPU_PINNING": False,
            },
        )
        # what OpenVINO settled on (it may refuse a setting on some systems)
        self.cpu_pinning = bool(compiled.get_property("ENABLE_CPU_PINNING"))
        self._request = compiled.create_infer_request()
        self._n_outputs = len(compiled.outputs)

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self._request.infer({0: np.ascontiguousarray(tensor, dtype=np.float32)})
        return np.array(self._request.get_output_tensor(0).data)

    def run_all(self, tensor: np.ndarray) -> list[np.ndarray]:
        self._request.infer({0: np.ascontiguousarray(tensor, dtype=np.float32)})
        return [np.array(self._request.get_output_tensor(i).data) for i in range(self._n_outputs)]


# accelerators ONNX Runtime may offer, preferred in this order before the CPU
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                 "DmlExecutionProvider", "CoreMLExecutionProvider")  # fmt: skip


def execution_providers(available: list[str]) -> list[str]:
    """The providers a session asks for: a GPU provider when this ONNX Runtime build has one
    (onnxruntime-gpu and the like), always with the CPU after it."""
    return [p for p in GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]


def open_session(
    engine: str, path: Path, input_name: str | None = None, threads: int | None = None
) -> Session:
    """A session of ``engine`` (one of ENGINES) on the model file ``path``."""
    if engine == OPENCV:
        return OpenCVDnnSession(path, input_name)
    if engine == ONNXRUNTIME:
        return OnnxRuntimeSession(path, threads)
    if engine == OPENVINO:
        return OpenVINOSession(path, threads)
    if engine == OPENVINO_BF16:
        return OpenVINOSession(path, threads, precision="bf16")
    raise ValueError(f"unknown inference engine {engine!r}; choose one of {', '.join(ENGINES)}")


def set_threads(n: int) -> None:
    """Limit OpenCV's own thread pool (worker processes use one thread each); sessions of the
    other engines opened afterwards use as many threads."""
    import cv2

    cv2.setNumThreads(n)


def default_threads() -> int:
    """The number of threads a new session uses: OpenCV's setting (:func:`set_threads`)."""
    import cv2

    return max(1, int(cv2.getNumThreads()))


def quiet_opencv() -> None:
    """Keep OpenCV's informational warnings (e.g. about DNN targets) off the user's terminal."""
    import cv2

    with contextlib.suppress(AttributeError):  # older builds lack the logging module
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
