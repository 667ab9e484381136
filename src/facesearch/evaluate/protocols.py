"""Readers for evaluation protocols and labelled image sets, returning typed records.

* :func:`read_lfw_pairs` - LFW ``pairs.txt``.
* :func:`read_cfp_protocol` - CFP ``Protocol/Split/{FF,FP}/NN/{same,diff}.txt``.
* :func:`read_pair_table` - simple pair tables (``img_a, img_b, same_person``, TSV/CSV).
* :func:`read_identity_folders` - a folder of identity subfolders.
* :func:`read_manifest` - a CSV/TSV manifest with ``path``, ``identity`` and group columns.
* :func:`make_identification_split` - seeded gallery / mated / non-mated probe split.
* :func:`face_convention` - which face of a photo each protocol scores.

Malformed input raises :class:`ProtocolFormatError` (a ``ValueError``) naming the file
and the 1-based line number. Fold ids are 1-based everywhere: LFW's first block of pairs
is fold 1, CFP's ``Split/FF/01`` is fold 1.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facesearch.engine.formats import IMAGE_SUFFIXES
from facesearch.errors import FacesearchError
from facesearch.search.compare import CENTRAL, LARGEST

#: The image files a dataset folder is read for: the one table's (engine/formats.py).
IMAGE_EXTENSIONS: frozenset[str] = IMAGE_SUFFIXES


class ProtocolFormatError(FacesearchError, ValueError):
    """A protocol, pair list or manifest file is malformed; says which file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class VerificationPair:
    """Two images and whether they show the same person; ``fold`` is None without folds."""

    path_a: Path
    path_b: Path
    same: bool
    fold: int | None = None


@dataclass(frozen=True)
class LabelledImage:
    """One labelled image; ``groups`` holds (column, value) pairs such as ("sex", "F")."""

    path: Path
    identity: str
    groups: tuple[tuple[str, str], ...] = ()

    def group(self, name: str) -> str | None:
        """The value of group column ``name``, or None when absent."""
        for key, value in self.groups:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class FaceConvention:
    """Which face of a photo a protocol scores (a face rule of ``facesearch.search.compare``), and
    why: the report states both."""

    rule: str
    reason: str


_LARGEST_AS_COMPARE = FaceConvention(LARGEST, "as compare, ingest and search choose by default")
# CFP: checked on all 7,000 photos of ../shared/faces/cfp (detection only): they are not
# crops centred on the person (sizes vary; profiles sit off-centre, the ear often nearest the
# centre). 47 photos give a second detection, every one of the same single person (an ear, a
# shifted or nested box); the central and largest boxes differ in 7, and the central one is
# no better there (an ear in 439/profile/02). So CFP keeps the largest face, and its figures
# are unchanged.
FACE_CONVENTIONS: dict[str, FaceConvention] = {
    "lfw": FaceConvention(
        CENTRAL,
        "LFW images are 250x250 crops centred on the labelled person; "
        "other faces in them are bystanders, sometimes larger",
    ),
    "cfp-ff": FaceConvention(
        LARGEST,
        "CFP photos show one person, not centred; their extra detections are parts of that person",
    ),
    "cfp-fp": FaceConvention(
        LARGEST,
        "CFP photos show one person, not centred; their extra detections are parts of that person",
    ),
    "pairs": _LARGEST_AS_COMPARE,
    "folders": _LARGEST_AS_COMPARE,
    "manifest": _LARGEST_AS_COMPARE,
}


def face_convention(protocol: str) -> FaceConvention:
    """The face convention of ``protocol`` (one of the evaluation input kinds)."""
    try:
        return FACE_CONVENTIONS[protocol.lower()]
    except KeyError:
        raise ValueError(
            f"no face convention for protocol {protocol!r}: one of {', '.join(FACE_CONVENTIONS)}"
        ) from None


def pair_labels_and_folds(
    pairs: Sequence[VerificationPair],
) -> tuple[NDArray[np.bool_], NDArray[np.int64] | None]:
    """Labels as a bool array and fold ids as an int array (None if any pair has no fold)."""
    labels = np.array([p.same for p in pairs], dtype=np.bool_)
    if any(p.fold is None for p in pairs):
        return labels, None
    return labels, np.array([p.fold for p in pairs], dtype=np.int64)


# --------------------------------------------------------------------------- helpers


def _numbered_lines(path: Path, *, strip: bool = True) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based line numbers, stripped unless ``strip=False``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProtocolFormatError(path, None, f"not UTF-8 text ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped:
            yield number, stripped if strip else line


def _positive_int(path: Path, line: int, text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ProtocolFormatError(path, line, f"{what} must be an integer, got {text!r}") from None
    if value < 1:
        raise ProtocolFormatError(path, line, f"{what} must be >= 1, got {value}")
    return value


def _require_file(path: Path, image: Path, line: int | None) -> None:
    if not image.is_file():
        where = f"{path}:{line}" if line is not None else str(path)
        raise FileNotFoundError(f"{where}: image not found: {image}")


def _normalise(base: Path, relative: str) -> Path:
    return Path(os.path.normpath(base / relative))


# ------------------------------------------------------------------------------- LFW


def read_lfw_pairs(
    pairs_file: Path | str,
    image_root: Path | str,
    *,
    extension: str = ".jpg",
    check_exists: bool = False,
) -> list[VerificationPair]:
    """Read an LFW ``pairs.txt``.

    The first line is ``<folds> <n>`` (``10 300``) or a single ``<n>`` (one set, as in
    ``pairsDevTrain.txt``). Each fold has ``n`` same-person lines ``name n1 n2`` and ``n``
    different-person lines ``name1 n1 name2 n2`` (whitespace separated); fold ids follow
    file order (pairs ``1..2n`` are fold 1, and so on). Images resolve to
    ``<image_root>/<name>/<name>_<nnnn><extension>``.
    """
    path = Path(pairs_file)
    root = Path(image_root)
    lines = list(_numbered_lines(path))
    if not lines:
        raise ProtocolFormatError(path, None, "empty file (expected a '<folds> <n>' header)")
    header_line, header = lines[0]
    fields = header.split()
    if len(fields) == 2:
        n_folds = _positive_int(path, header_line, fields[0], "number of folds")
        per_class = _positive_int(path, header_line, fields[1], "pairs per class")
    elif len(fields) == 1:
        n_folds = 1
        per_class = _positive_int(path, header_line, fields[0], "pairs per class")
    else:
        raise ProtocolFormatError(
            path, header_line, f"header must be '<folds> <n>' or '<n>', got {header!r}"
        )

    def image(name: str, number: int) -> Path:
        return root / name / f"{name}_{number:04d}{extension}"

    block = 2 * per_class
    pairs: list[VerificationPair] = []
    for index, (line, text) in enumerate(lines[1:]):
        parts = text.split()
        fold = index // block + 1
        if len(parts) == 3:
            name, n1, n2 = parts
            a = image(name, _positive_int(path, line, n1, "image number"))
            b = image(name, _positive_int(path, line, n2, "image number"))
            same = True
        elif len(parts) == 4:
            name1, n1, name2, n2 = parts
            a = image(name1, _positive_int(path, line, n1, "image number"))
            b = image(name2, _positive_int(path, line, n2, "image number"))
            same = False
        else:
            raise ProtocolFormatError(
                path,
                line,
                f"expected 'name n1 n2' or 'name1 n1 name2 n2', got {len(parts)} fields",
            )
        if check_exists:
            _require_file(path, a, line)
            _require_file(path, b, line)
        pairs.append(VerificationPair(a, b, same, fold))
    expected = n_folds * block
    if len(pairs) != expected:
        raise ProtocolFormatError(
            path,
            None,
            f"header promises {n_folds} fold(s) x {block} pairs = {expected}, found {len(pairs)}",
        )
    for fold in range(1, n_folds + 1):
        n_same = sum(1 for p in pairs if p.fold == fold and p.same)
        if n_same != per_class:
            first_line = lines[1 + (fold - 1) * block][0]
            raise ProtocolFormatError(
                path,
                first_line,
                f"fold {fold} (from this line) has {n_same} same-person and {block - n_same} "
                f"different-person pairs; expected {per_class} of each",
            )
    return pairs


# ------------------------------------------------------------------------------- CFP


def _cfp_protocol_dir(cfp_root: Path) -> Path:
    if (cfp_root / "Protocol").is_dir():
        return cfp_root / "Protocol"
    if cfp_root.name == "Protocol" and cfp_root.is_dir():
        return cfp_root
    raise FileNotFoundError(f"no CFP Protocol folder in {cfp_root}")


def read_cfp_list(list_file: Path | str) -> dict[int, Path]:
    """Read ``Pair_list_F.txt``/``Pair_list_P.txt``: ``<number> <path relative to the list>``."""
    path = Path(list_file)
    entries: dict[int, Path] = {}
    for line, text in _numbered_lines(path):
        parts = text.split(maxsplit=1)
        if len(parts) != 2:
            raise ProtocolFormatError(path, line, f"expected '<number> <path>', got {text!r}")
        number = _positive_int(path, line, parts[0], "entry number")
        if number in entries:
            raise ProtocolFormatError(path, line, f"entry {number} appears twice")
        entries[number] = _normalise(path.parent, parts[1].strip())
    if not entries:
        raise ProtocolFormatError(path, None, "no entries")
    return entries


def _read_cfp_split_file(
    path: Path,
    first: dict[int, Path],
    second: dict[int, Path],
    names: tuple[str, str],
    same: bool,
    fold: int,
    check_exists: bool,
) -> list[VerificationPair]:
    if not path.is_file():
        raise FileNotFoundError(f"missing CFP split file {path}")
    pairs = []
    for line, text in _numbered_lines(path):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            raise ProtocolFormatError(path, line, f"expected 'a,b', got {text!r}")
        a = _positive_int(path, line, parts[0], "first entry number")
        b = _positive_int(path, line, parts[1], "second entry number")
        if a not in first:
            raise ProtocolFormatError(path, line, f"entry {a} is not in {names[0]}")
        if b not in second:
            raise ProtocolFormatError(path, line, f"entry {b} is not in {names[1]}")
        if check_exists:
            _require_file(path, first[a], line)
            _require_file(path, second[b], line)
        pairs.append(VerificationPair(first[a], second[b], same, fold))
    return pairs


def read_cfp_protocol(
    cfp_root: Path | str, protocol: str, *, check_exists: bool = False
) -> list[VerificationPair]:
    """Read the CFP frontal-frontal (``"FF"``) or frontal-profile (``"FP"``) protocol.

    ``cfp_root`` is the CFP folder (holding ``Protocol/``) or the ``Protocol`` folder
    itself. A line ``a,b`` of ``Split/FP/NN/{same,diff}.txt`` pairs entry ``a`` of
    ``Pair_list_F.txt`` with entry ``b`` of ``Pair_list_P.txt``; under ``Split/FF`` both
    are entries of ``Pair_list_F.txt`` (entry numbers as in each list's first column).
    List paths are relative to ``Protocol/`` and returned normalised. The fold id is the
    number of the ``NN`` folder; within a fold, ``same.txt`` pairs come first.
    """
    kind = protocol.upper()
    if kind not in ("FF", "FP"):
        raise ValueError(f"CFP protocol must be 'FF' or 'FP', got {protocol!r}")
    protocol_dir = _cfp_protocol_dir(Path(cfp_root))
    frontal = read_cfp_list(protocol_dir / "Pair_list_F.txt")
    if kind == "FP":
        second = read_cfp_list(protocol_dir / "Pair_list_P.txt")
        names = ("Pair_list_F.txt", "Pair_list_P.txt")
    else:
        second = frontal
        names = ("Pair_list_F.txt", "Pair_list_F.txt")
    split_dir = protocol_dir / "Split" / kind
    if not split_dir.is_dir():
        raise FileNotFoundError(f"missing CFP split folder {split_dir}")
    fold_dirs = sorted(
        (d for d in split_dir.iterdir() if d.is_dir() and d.name.isdigit()),
        key=lambda d: int(d.name),
    )
    if not fold_dirs:
        raise FileNotFoundError(f"no numbered fold folders in {split_dir}")
    pairs: list[VerificationPair] = []
    for fold_dir in fold_dirs:
        fold = int(fold_dir.name)
        for file_name, same in (("same.txt", True), ("diff.txt", False)):
            pairs.extend(
                _read_cfp_split_file(
                    fold_dir / file_name, frontal, second, names, same, fold, check_exists
                )
            )
    return pairs


# ------------------------------------------------------------------------ pair tables

_PAIR_A = ("img_a", "file_x", "path_a", "image_a")
_PAIR_B = ("img_b", "file_y", "path_b", "image_b")
_PAIR_LABEL = ("same_person", "same", "decision", "label")
_TRUE = frozenset({"1", "true", "yes", "y", "same"})
_FALSE = frozenset({"0", "false", "no", "n", "diff", "different"})


def _delimiter(path: Path, header: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "\t"
    if suffix == ".csv":
        return ","
    return "\t" if "\t" in header else ","


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (lower-cased, stripped) and rows with their 1-based line numbers."""
    # Not stripped: a trailing tab is an empty last field, not whitespace.
    lines = list(_numbered_lines(path, strip=False))
    if not lines:
        raise ProtocolFormatError(path, None, "empty file (expected a header line)")
    delimiter = _delimiter(path, lines[0][1])
    reader = csv.reader((text for _, text in lines), delimiter=delimiter)
    rows = list(reader)
    header = [h.strip().lower() for h in rows[0]]
    if len(set(header)) != len(header):
        raise ProtocolFormatError(path, lines[0][0], f"duplicate column names in {header}")
    records = []
    for (line, _), row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise ProtocolFormatError(
                path, line, f"expected {len(header)} fields ({header}), got {len(row)}"
            )
        records.append((line, {h: v.strip() for h, v in zip(header, row, strict=True)}))
    return header, records


def _pick_column(path: Path, header: list[str], aliases: Sequence[str], what: str) -> str:
    for name in aliases:
        if name in header:
            return name
    raise ProtocolFormatError(
        path, 1, f"no {what} column: expected one of {list(aliases)}, found {header}"
    )


def read_pair_table(path: Path | str, *, check_exists: bool = False) -> list[VerificationPair]:
    """Read a simple pair table such as ``test_verify_pairs.tsv``.

    Columns: ``img_a``, ``img_b``, ``same_person`` (1/0; yes/no, true/false also read);
    further columns (``asserted_by``, ``source_note``) are ignored. deepface's
    ``master.csv`` spelling (``file_x, file_y, Decision``) is accepted too. Image paths
    are relative to the table's folder. Tab separated for ``.tsv``, comma for ``.csv``.
    Pairs have no fold (``fold=None``).
    """
    table = Path(path)
    header, rows = _read_table(table)
    col_a = _pick_column(table, header, _PAIR_A, "first image")
    col_b = _pick_column(table, header, _PAIR_B, "second image")
    col_label = _pick_column(table, header, _PAIR_LABEL, "same/different label")
    pairs = []
    for line, row in rows:
        if not row[col_a] or not row[col_b]:
            raise ProtocolFormatError(table, line, "empty image path")
        label = row[col_label].lower()
        if label in _TRUE:
            same = True
        elif label in _FALSE:
            same = False
        else:
            raise ProtocolFormatError(
                table, line, f"{col_label} must be 1/0 (or yes/no), got {row[col_label]!r}"
            )
        a = _normalise(table.parent, row[col_a])
        b = _normalise(table.parent, row[col_b])
        if check_exists:
            _require_file(table, a, line)
            _require_file(table, b, line)
        pairs.append(VerificationPair(a, b, same, None))
    return pairs


# ------------------------------------------------------------- identity-labelled sets


def _is_image(path: Path, extensions: Iterable[str]) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions


def read_identity_folders(
    root: Path | str,
    *,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    recursive: bool = True,
) -> list[LabelledImage]:
    """One record per image under ``root/<identity>/``; the folder name is the identity.

    Images in nested folders (``001/frontal/01.jpg``) belong to the top identity folder
    unless ``recursive=False``. Files directly in ``root`` and hidden entries are ignored.
    Records are sorted by identity, then path.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"not a folder: {base}")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    records = []
    for folder in sorted(base.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        files = folder.rglob("*") if recursive else folder.iterdir()
        for image in sorted(files):
            hidden = any(part.startswith(".") for part in image.relative_to(folder).parts)
            if not hidden and _is_image(image, exts):
                records.append(LabelledImage(image, folder.name))
    return records


_MANIFEST_PATH = ("path", "relative_path", "file", "image")
_MANIFEST_IDENTITY = ("identity", "identity_label", "label", "person")


def read_manifest(
    path: Path | str,
    *,
    group_columns: Sequence[str] | None = None,
    check_exists: bool = False,
) -> list[LabelledImage]:
    """Read a manifest CSV/TSV: ``path``, ``identity`` and optional group columns.

    Paths are relative to the manifest's folder. The shared ``MANIFEST.tsv`` spelling
    (``relative_path``, ``identity_label``) is accepted too. ``group_columns=None`` keeps
    every other column as a group (e.g. ``sex``, ``age_band``, ``skin_tone``); pass a list
    to keep only those (each must exist). Empty group values are kept as ``""``.
    """
    manifest = Path(path)
    header, rows = _read_table(manifest)
    col_path = _pick_column(manifest, header, _MANIFEST_PATH, "path")
    col_identity = _pick_column(manifest, header, _MANIFEST_IDENTITY, "identity")
    if group_columns is None:
        groups = [h for h in header if h not in (col_path, col_identity)]
    else:
        groups = [g.strip().lower() for g in group_columns]
        missing = [g for g in groups if g not in header]
        if missing:
            raise ProtocolFormatError(manifest, 1, f"group column(s) {missing} not in {header}")
    seen: dict[Path, int] = {}
    records = []
    for line, row in rows:
        if not row[col_path]:
            raise ProtocolFormatError(manifest, line, "empty path")
        if not row[col_identity]:
            raise ProtocolFormatError(manifest, line, "empty identity")
        image = _normalise(manifest.parent, row[col_path])
        if image in seen:
            raise ProtocolFormatError(
                manifest, line, f"{row[col_path]} is listed twice (first on line {seen[image]})"
            )
        seen[image] = line
        if check_exists:
            _require_file(manifest, image, line)
        records.append(LabelledImage(image, row[col_identity], tuple((g, row[g]) for g in groups)))
    return records
