"""Data sets for evaluation: which protocol a path holds, and loading it (pairs, folds, records)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from facesearch.evaluate.protocols import (
    LabelledImage,
    VerificationPair,
    read_cfp_protocol,
    read_identity_folders,
    read_lfw_pairs,
    read_manifest,
    read_pair_table,
)

if TYPE_CHECKING:
    pass


PROTOCOLS = ("cfp-ff", "cfp-fp", "lfw", "pairs", "folders", "manifest")
# Manifest columns that describe provenance, never a demographic or capture group.
NON_GROUP_COLUMNS = frozenset(
    {"source", "source_url", "page_url", "title", "captured_at", "notes", "sha256", "url"}
)
MAX_GROUP_VALUES = 20


# -------------------------------------------------------------------------- data sets


@dataclass(frozen=True)
class Dataset:
    """An evaluation input: verification pairs, or identity-labelled records."""

    kind: str  # one of PROTOCOLS
    source: Path
    pairs: tuple[VerificationPair, ...] = ()
    records: tuple[LabelledImage, ...] = ()
    group_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def paths(self) -> list[Path]:
        if self.pairs:
            return list(dict.fromkeys(p for pair in self.pairs for p in (pair.path_a, pair.path_b)))
        return [r.path for r in self.records]


def detect_protocol(data: Path) -> str:
    """Guess the input kind of ``data`` (raises ValueError for CFP, which needs a choice)."""
    if data.is_dir():
        if (data / "Protocol").is_dir() or (data.name == "Protocol" and (data / "Split").is_dir()):
            raise ValueError(f"{data} holds the CFP protocol: choose --protocol cfp-ff or cfp-fp")
        return "folders"
    if not data.is_file():
        raise FileNotFoundError(f"no such file or folder: {data}")
    with open(data, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().strip()
    fields = first.split()
    if fields and len(fields) <= 2 and all(f.isdigit() for f in fields):
        return "lfw"
    header = {h.strip().lower() for h in first.replace("\t", ",").split(",")}
    if header & {"img_a", "file_x", "path_a", "image_a"}:
        return "pairs"
    if header & {"path", "relative_path", "file", "image"}:
        return "manifest"
    raise ValueError(
        f"cannot tell what {data} is: expected a folder of identity folders, an LFW pairs.txt, "
        "a pair table (img_a, img_b, same_person) or a manifest (path, identity); "
        "name it with --protocol"
    )


def _included(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    if not patterns:
        return True
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, pat) for pat in patterns)


def _auto_group_columns(records: Sequence[LabelledImage]) -> tuple[list[str], list[str]]:
    """Group columns worth a per-group table, and the columns skipped (with why)."""
    if not records or not records[0].groups:
        return [], []
    keep, skipped = [], []
    for name, _ in records[0].groups:
        values = {r.group(name) for r in records}
        if name in NON_GROUP_COLUMNS:
            skipped.append(f"{name} (provenance column)")
        elif len(values) > MAX_GROUP_VALUES:
            skipped.append(f"{name} ({len(values)} distinct values)")
        else:
            keep.append(name)
    return keep, skipped


def load_dataset(
    data: Path | str,
    protocol: str | None = None,
    *,
    images: Path | str | None = None,
    include: Sequence[str] = (),
    group_columns: Sequence[str] | None = None,
) -> Dataset:
    """Read an evaluation input (``protocol`` None guesses it; CFP must be named).

    ``include`` keeps only images whose path relative to ``data`` (its folder for files)
    matches one of the glob patterns (e.g. ``*/frontal/*``), for folders and manifests.
    ``group_columns`` names manifest group columns; None keeps every column that has at
    most 20 distinct values and is not a provenance column (``source``, ``title``, ...).
    Paths are checked to exist, so a wrong root fails before anything is embedded.
    """
    source = Path(data)
    kind = (protocol or detect_protocol(source)).lower()
    if kind not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    notes: list[str] = []
    if kind in ("cfp-ff", "cfp-fp"):
        pairs = read_cfp_protocol(source, kind[-2:].upper(), check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "lfw":
        root = Path(images) if images else _default_lfw_images(source)
        pairs = read_lfw_pairs(source, root, check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "pairs":
        pairs = read_pair_table(source, check_exists=True)
        return Dataset(kind, source, pairs=tuple(pairs))
    if kind == "folders":
        records = read_identity_folders(source)
        base = source
        groups: list[str] = []
    else:
        records = read_manifest(source, group_columns=group_columns, check_exists=True)
        base = source.parent
        if group_columns is None:
            groups, skipped = _auto_group_columns(records)
            if skipped:
                notes.append("not used as groups: " + ", ".join(skipped))
        else:
            groups = [g.strip().lower() for g in group_columns]
    records = [r for r in records if _included(r.path, base, include)]
    if not records:
        raise ValueError(f"no images in {source}" + (f" match {list(include)}" if include else ""))
    return Dataset(
        kind, source, records=tuple(records), group_columns=tuple(groups), notes=tuple(notes)
    )


def _default_lfw_images(pairs_file: Path) -> Path:
    for candidate in (pairs_file.parent / "lfw", pairs_file.parent / "lfw-deepfunneled"):
        if candidate.is_dir():
            return candidate
    return pairs_file.parent
