"""Inference sessions: the runtime that executes a model file, behind a tiny interface."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import numpy as np


class Session(Protocol):
    """Runs a network on one input tensor and returns its first output."""

    def run(self, tensor: np.ndarray) -> np.ndarray: ...


class OpenCVDnnSession:
    """OpenCV's DNN engine on the CPU (runs the block-quantized int8 ONNX files as they ship)."""

    def __init__(self, path: Path, input_name: str) -> None:
        import cv2

        quiet_opencv()
        self._net = cv2.dnn.readNetFromONNX(str(path))
        self._input_name = input_name

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self._net.setInput(np.ascontiguousarray(tensor, dtype=np.float32), self._input_name)
        return np.asarray(self._net.forward())


def set_threads(n: int) -> None:
    """Limit OpenCV's own thread pool (worker processes use one thread each)."""
    import cv2

    cv2.setNumThreads(n)


def quiet_opencv() -> None:
    """Keep OpenCV's informational warnings (e.g. about DNN targets) off the user's terminal."""
    import cv2

    with contextlib.suppress(AttributeError):  # older builds lack the logging module
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
