"""PNG figures for evaluation reports: ROC curves and score histograms.

matplotlib is imported inside each function (it is the optional ``eval`` extra) and used
through its object-oriented API with the Agg canvas: no pyplot, no global backend change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from facesearch.evaluate.metrics import RocCurve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CurveLike = RocCurve | tuple[ArrayLike, ArrayLike]
Thresholds = float | Sequence[float] | Mapping[str, float] | None


def _new_figure(width: float = 6.4, height: float = 4.8) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path | str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def plot_roc(
    curves: Mapping[str, CurveLike],
    path: Path | str,
    *,
    title: str = "ROC",
    min_far: float | None = None,
) -> Path:
    """Plot TAR against FAR on a log FAR axis, one line per labelled curve; write a PNG.

    Each value is a :class:`~facesearch.evaluate.metrics.RocCurve` or a ``(far, tar)``
    pair of arrays. Points with FAR = 0 cannot be shown on a log axis and are left out;
    the axis starts at ``min_far`` or, by default, the smallest positive FAR plotted.
    """
    if not curves:
        raise ValueError("no curves to plot")
    fig = _new_figure()
    ax = fig.add_subplot()
    smallest = 1.0
    for label, curve in curves.items():
        if isinstance(curve, RocCurve):
            far, tar = curve.far, curve.tar
        else:
            far = np.asarray(curve[0], dtype=np.float64)
            tar = np.asarray(curve[1], dtype=np.float64)
        if far.shape != tar.shape or far.ndim != 1:
            raise ValueError(f"curve {label!r}: far and tar must be 1-D of equal length")
        shown = far > 0
        if shown.any():
            smallest = min(smallest, float(far[shown].min()))
            ax.step(far[shown], tar[shown], where="post", label=str(label))
        else:
            ax.plot([], [], label=f"{label} (no FAR > 0)")
    ax.set_xscale("log")
    ax.set_xlim(min_far if min_far is not None else smallest, 1.0)
    ax.set_ylim(0.0, 1.005)
    ax.set_xlabel("FAR (false accept rate)")
    ax.set_ylabel("TAR (true accept rate)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def _threshold_items(thresholds: Thresholds) -> list[tuple[str, float]]:
    if thresholds is None:
        return []
    if isinstance(thresholds, Mapping):
        return [(str(k), float(v)) for k, v in thresholds.items()]
    if isinstance(thresholds, int | float | np.floating | np.integer):
        return [(f"threshold {float(thresholds):.4g}", float(thresholds))]
    return [(f"threshold {float(t):.4g}", float(t)) for t in thresholds]


def plot_score_histograms(
    genuine: ArrayLike,
    impostor: ArrayLike,
    thresholds: Thresholds,
    path: Path | str,
    *,
    bins: int = 50,
    title: str = "Score distributions",
) -> Path:
    """Overlaid density histograms of genuine and impostor scores with threshold lines.

    ``thresholds`` is one value, a list, a ``{label: value}`` mapping, or None. Scores that
    are ``-inf`` or NaN (no face on one side) cannot be placed on the axis: they are
    left out of the bars and their number is given in the legend.
    """
    gen = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.asarray(impostor, dtype=np.float64).ravel()
    if gen.size + imp.size == 0:
        raise ValueError("no scores to plot")
    fig = _new_figure()
    ax = fig.add_subplot()
    finite = np.concatenate([gen[np.isfinite(gen)], imp[np.isfinite(imp)]])
    edges = [float(e) for e in np.histogram_bin_edges(finite if finite.size else [0.0], bins)]
    for name, scores, colour in (("genuine", gen, "tab:blue"), ("impostor", imp, "tab:red")):
        ok = np.isfinite(scores)
        missing = int((~ok).sum())
        label = f"{name} (n={scores.size}" + (f", {missing} without score)" if missing else ")")
        if ok.any():
            ax.hist(scores[ok], bins=edges, density=True, alpha=0.5, color=colour, label=label)
        else:
            ax.plot([], [], color=colour, label=label)
    for (label, value), style in zip(
        _threshold_items(thresholds), ["--", ":", "-.", "-"] * 8, strict=False
    ):
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel("similarity score")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.tight_layout()
    return _save(fig, path)
