"""Accuracy by group and age, as ``facesearch eval DATA --groups FILE.csv`` runs it: the agency's
group labels read against the data set (every problem with its line, before anything is
embedded), the figures per group from the evaluation's own pairs at the operating threshold,
the flags at the policy's disparity factor, the report files (groups.html, groups.pdf,
groups.json), and the summary the accountability report shows
(``<data dir>/reports/accuracy-groups.json``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from facesearch.app.context import POLICY_FILE
from facesearch.evaluate.datasets import Dataset, load_dataset
from facesearch.evaluate.group_labels import GroupLabels, GroupLabelsError, read_group_labels
from facesearch.evaluate.groups_render import (
    column_header,
    column_rows,
    det_png,
    rate_short,
    rate_text,
    render_html,
    render_pdf,
)
from facesearch.evaluate.groups_report import (
    DEFAULT_DISPARITY_FACTOR,
    DEFAULT_GALLERY_SIZES,
    GroupReport,
    flag_text,
    group_report,
    scored_pairs,
)
from facesearch.evaluate.protocols import LabelledImage
from facesearch.evaluate.reports import EvalReport
from facesearch.govern.accountability import ACCURACY_GROUPS_FILE
from facesearch.govern.policy import load_policy

__all__ = [
    "GroupLabelsError",
    "GroupRun",
    "GroupsInput",
    "column_header",
    "column_rows",
    "disparity_factor",
    "flag_text",
    "prepare",
    "rate_short",
    "rate_text",
    "read_labels",
    "run_groups",
]

IDENTITY_PROTOCOLS = ("folders", "manifest")


def read_labels(dataset: Dataset, csv_path: Path, include: Sequence[str] = ()) -> GroupLabels:
    """The group labels of ``csv_path`` for ``dataset`` (identity folders or a manifest, read
    with the ``include`` patterns: rows naming photos those leave out are skipped and
    counted); raises :class:`GroupLabelsError` (every problem, with its line) or
    ValueError."""
    if dataset.kind not in IDENTITY_PROTOCOLS:
        raise ValueError(
            f"--groups needs photos labelled by identity (identity folders or a manifest), "
            f"not the {dataset.kind} protocol: groups compare genuine and impostor pairs and "
            "identification within the set"
        )
    root = dataset.source if dataset.kind == "folders" else dataset.source.parent
    outside: tuple[LabelledImage, ...] = ()
    if include:
        everything = load_dataset(dataset.source, dataset.kind, group_columns=())
        kept = {r.path for r in dataset.records}
        outside = tuple(r for r in everything.records if r.path not in kept)
    return read_group_labels(csv_path, dataset.records, root, outside=outside)


def disparity_factor(data_dir: Path) -> tuple[float, str]:
    """The policy's ``[accuracy] disparity_factor`` (the data directory's policy.toml when
    there is one, else the packaged default) and where it came from."""
    path = Path(data_dir) / POLICY_FILE
    if path.is_file():
        policy = load_policy(path)
        return policy.accuracy.disparity_factor, f"policy {path}"
    factor = load_policy(None).accuracy.disparity_factor
    if factor == DEFAULT_DISPARITY_FACTOR:
        return factor, "default (no policy in the data directory)"
    return factor, "the packaged default policy"


@dataclass(frozen=True)
class GroupsInput:
    """What a group evaluation needs before any photo is embedded: the labels (checked
    against the data set), the policy's disparity factor, and the data directory."""

    labels: GroupLabels
    factor: float
    factor_source: str
    data_dir: Path


def prepare(
    dataset: Dataset, csv_path: Path, data_dir: Path, include: Sequence[str] = ()
) -> GroupsInput:
    """Read and check the labels and the policy first, so that a mistake in either is
    reported before the (long) embedding pass."""
    labels = read_labels(dataset, csv_path, include)
    factor, source = disparity_factor(data_dir)
    return GroupsInput(labels, factor, source, Path(data_dir))


@dataclass(frozen=True)
class GroupRun:
    report: GroupReport
    written: list[Path] = field(default_factory=list)
    summary_file: Path | None = None  # None: no data directory to store the summary in
    data_dir: Path | None = None


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def run_groups(
    report: EvalReport,
    dataset: Dataset,
    given: GroupsInput,
    *,
    seed: int,
    max_impostors: int | None,
    out: Path | None,
    author: str = "facesearch",
    now: datetime | None = None,
    gallery_sizes: Sequence[int] | None = None,
) -> GroupRun:
    """Figures per group from ``report``'s own pairs at its operating threshold (the match
    band); the files written to ``out`` (when given) and the summary to
    ``<data dir>/reports/accuracy-groups.json`` (when the data directory exists)."""
    data_dir = given.data_dir
    pairs = scored_pairs(dataset, report, seed=seed, max_impostors=max_impostors)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    threshold = report.thresholds.match
    groups = group_report(
        pairs,
        given.labels,
        threshold=threshold,
        disparity_factor=given.factor,
        factor_source=given.factor_source,
        dataset=str(dataset.source),
        model_key=report.embeddings.model_key,
        scoring=report.embeddings.variant,
        created_at=stamp,
        impostors_sampled=max_impostors is not None and pairs.impostor_scores.size == max_impostors,
        seed=seed,
        sizes=gallery_sizes or DEFAULT_GALLERY_SIZES,
    )
    written: list[Path] = []
    files: list[str] = []
    if out is not None:
        plots = {c.column: det_png(c, threshold) for c in groups.columns}
        body = json.dumps(groups.to_dict(), indent=2) + "\n"
        written += [
            _write(out / "groups.json", body.encode("utf-8")),
            _write(out / "groups.html", render_html(groups, plots).encode("utf-8")),
            _write(out / "groups.pdf", render_pdf(groups, plots, author)),
        ]
        files = [str(p.resolve()) for p in written]
    summary_file = None
    if Path(data_dir).is_dir():
        summary = {**groups.summary(), "report_files": files}
        text = json.dumps(summary, indent=2) + "\n"
        summary_file = _write(Path(data_dir) / ACCURACY_GROUPS_FILE, text.encode("utf-8"))
    return GroupRun(groups, written, summary_file, data_dir)
