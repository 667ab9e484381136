"""Evaluation plots write real PNG files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from facesearch.evaluate.metric_inputs import scores_with_failures
from facesearch.evaluate.metrics import roc_curve
from facesearch.evaluate.plots import plot_roc, plot_score_histograms

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND", "PNG is truncated"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(0.6, 0.1, 300), rng.normal(0.2, 0.1, 3000)


def test_plot_roc_writes_png(tmp_path):
    genuine, impostor = _scores()
    curve = roc_curve(genuine, impostor)
    weaker = roc_curve(genuine - 0.2, impostor)
    out = plot_roc(
        {"model A": curve, "model B": (weaker.far, weaker.tar)}, tmp_path / "sub" / "roc.png"
    )
    assert out == tmp_path / "sub" / "roc.png"
    assert _png_size(out) == (640, 480)
    assert out.stat().st_size > 10_000  # axes, two curves and a legend, not a blank image


def test_plot_roc_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no curves"):
        plot_roc({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="equal length"):
        plot_roc({"a": ([0.1, 0.2], [0.5])}, tmp_path / "x.png")


def test_plot_score_histograms_writes_png_with_failures(tmp_path):
    genuine, impostor = _scores()
    with_failures = scores_with_failures([*genuine.tolist(), None, None]).scores
    out = plot_score_histograms(
        with_failures,
        impostor,
        {"FAR 1e-3": 0.52, "EER": 0.4},
        tmp_path / "hist.png",
    )
    assert _png_size(out) == (640, 480)
    assert out.stat().st_size > 10_000
    single = plot_score_histograms(genuine, impostor, 0.45, tmp_path / "one.png", bins=20)
    assert single.stat().st_size > 10_000
