"""Group labels an agency chooses for its labelled photos (``facesearch eval --groups FILE``).

The file is a CSV (comma, or tab when the header has tabs) with a header line. Each row names
an **image** (column ``path``, ``image``, ``relative_path`` or ``file``: relative to the data
set's root, its folder for a manifest, or absolute) or an **identity** (column ``identity``,
``identity_label`` or ``person``: every image of that person in the data set), and gives it
labels in any other columns (``age_band``, ``sex``, ``skin_tone``, ...). The optional column
``age`` is a number of years **per image** (on an image row only). A label given on an image
row wins over the same column given for its identity. An empty cell is "no label": that
image is left out of that column's groups and counted as unlabelled, never guessed.

Every problem in the file is collected with its line number before anything is refused
(:class:`GroupLabelsError`), so one run shows them all: a path or identity that is not in the
data set, a row naming neither, one named twice, an age that is not a number of years, a row
with the wrong number of fields.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from facesearch.evaluate.protocols import LabelledImage

PATH_COLUMNS = ("path", "image", "relative_path", "file")
IDENTITY_COLUMNS = ("identity", "identity_label", "person")
AGE_COLUMN = "age"
MAX_AGE = 130.0
MAX_SHOWN = 25  # problems listed in the error message (all are counted)


class GroupLabelsError(ValueError):
    """A group-label file that cannot be used, with every problem and its line."""

    def __init__(self, path: Path, problems: Sequence[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        shown = [f"  line {line}: {msg}" if line else f"  {msg}" for line, msg in problems]
        more = len(shown) - MAX_SHOWN
        text = "\n".join(shown[:MAX_SHOWN]) + (f"\n  ... and {more} more" if more > 0 else "")
        n = len(self.problems)
        super().__init__(
            f"{path}: {n} problem{'s' if n != 1 else ''} in the group labels "
            f"(nothing was evaluated):\n{text}"
        )


@dataclass(frozen=True)
class GroupLabels:
    """Labels per image of the data set (keys: resolved image paths)."""

    source: Path
    columns: tuple[str, ...]  # label columns, in the file's order (``age`` not among them)
    labels: dict[Path, dict[str, str]]  # image -> column -> value (absent: unlabelled)
    ages: dict[Path, float] = field(default_factory=dict)  # image -> age in years
    n_rows: int = 0
    n_image_rows: int = 0
    n_identity_rows: int = 0
    n_rows_outside: int = 0  # rows naming photos or people of DATA left out (``--include``)

    @property
    def has_ages(self) -> bool:
        return bool(self.ages)

    def value(self, path: Path, column: str) -> str:
        """The label of ``path`` in ``column`` ("" when it has none)."""
        return self.labels.get(_key(path), {}).get(column, "")

    def age(self, path: Path) -> float:
        return self.ages.get(_key(path), math.nan)


def _key(path: Path) -> Path:
    return Path(path).resolve()


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GroupLabelsError(path, [(None, f"cannot read the file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise GroupLabelsError(path, [(line, "not UTF-8 text")]) from None
    numbered = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not numbered:
        raise GroupLabelsError(path, [(None, "empty file (expected a header line)")])
    delimiter = "\t" if "\t" in numbered[0][1] else ","
    parsed = list(csv.reader((ln for _, ln in numbered), delimiter=delimiter))
    header = [h.strip().lower() for h in parsed[0]]
    rows = [(line, row) for (line, _), row in zip(numbered[1:], parsed[1:], strict=True)]
    return header, rows


def _header_problems(header: list[str], line: int) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append((line, f"column(s) named twice: {dupes}"))
    if "" in header:
        problems.append((line, "a column has no name"))
    keys = [h for h in header if h in PATH_COLUMNS or h in IDENTITY_COLUMNS]
    if not keys:
        problems.append(
            (
                line,
                f"no column naming the image ({', '.join(PATH_COLUMNS)}) or the identity "
                f"({', '.join(IDENTITY_COLUMNS)}); found {header}",
            )
        )
    if len([h for h in header if h in PATH_COLUMNS]) > 1:
        problems.append((line, "more than one image column"))
    if len([h for h in header if h in IDENTITY_COLUMNS]) > 1:
        problems.append((line, "more than one identity column"))
    if not [h for h in header if h not in PATH_COLUMNS and h not in IDENTITY_COLUMNS and h]:
        problems.append((line, "no label column (e.g. age_band, sex, skin_tone, age)"))
    return problems


def _parse_age(text: str) -> float | None:
    try:
        age = float(text)
    except ValueError:
        return None
    return age if math.isfinite(age) and 0.0 <= age <= MAX_AGE else None


def read_group_labels(
    csv_path: Path | str,
    records: Sequence[LabelledImage],
    root: Path | str,
    *,
    outside: Sequence[LabelledImage] = (),
) -> GroupLabels:
    """Read ``csv_path`` against the data set's ``records`` (relative paths under ``root``).

    ``outside``: photos of the data set left out of this evaluation (``--include``): rows
    naming only those are skipped and counted, not refused. Raises
    :class:`GroupLabelsError` listing every problem with its line.
    """
    path = Path(csv_path)
    base = Path(root)
    header, rows = _read_rows(path)
    header_line = 1
    problems = _header_problems(header, header_line)
    if problems:
        raise GroupLabelsError(path, problems)
    col_path = next((h for h in header if h in PATH_COLUMNS), None)
    col_id = next((h for h in header if h in IDENTITY_COLUMNS), None)
    label_cols = [h for h in header if h not in (col_path, col_id)]
    columns = tuple(h for h in label_cols if h != AGE_COLUMN)
    by_path = {_key(r.path): r for r in records}
    by_identity: dict[str, list[Path]] = {}
    for r in records:
        by_identity.setdefault(r.identity, []).append(_key(r.path))
    left_paths = {_key(r.path) for r in outside} - set(by_path)
    left_ids = {r.identity for r in outside} - set(by_identity)
    n_outside = 0
    image_rows: dict[Path, dict[str, str]] = {}
    identity_rows: dict[str, dict[str, str]] = {}
    ages: dict[Path, float] = {}
    first_line: dict[tuple[str, str], int] = {}
    n_image = n_identity = 0
    for line, row in rows:
        if len(row) != len(header):
            problems.append((line, f"expected {len(header)} fields ({header}), got {len(row)}"))
            continue
        cells = {h: v.strip() for h, v in zip(header, row, strict=True)}
        where = cells.get(col_path, "") if col_path else ""
        who = cells.get(col_id, "") if col_id else ""
        values = {c: cells[c] for c in columns if cells[c]}
        age_text = cells.get(AGE_COLUMN, "")
        if where:
            given = Path(where)
            image = _key(given if given.is_absolute() else base / given)
            seen = first_line.setdefault(("path", str(image)), line)
            if image in left_paths and seen == line:
                n_outside += 1
                continue
            if image not in by_path:
                problems.append((line, f"image {where!r} is not in the data set ({base})"))
                continue
            if seen != line:
                problems.append((line, f"image {where!r} is given again (first on line {seen})"))
                continue
            if who and by_path[image].identity != who:
                problems.append(
                    (line, f"image {where!r} is of {by_path[image].identity!r}, not {who!r}")
                )
                continue
            if age_text:
                age = _parse_age(age_text)
                if age is None:
                    problems.append(
                        (line, f"age must be a number of years (0-{MAX_AGE:g}), got {age_text!r}")
                    )
                    continue
                ages[image] = age
            image_rows[image] = values
            n_image += 1
        elif who:
            seen = first_line.setdefault(("identity", who), line)
            if who in left_ids and seen == line:
                n_outside += 1
                continue
            if who not in by_identity:
                problems.append((line, f"identity {who!r} is not in the data set ({base})"))
                continue
            if seen != line:
                problems.append((line, f"identity {who!r} is given again (first on line {seen})"))
                continue
            if age_text:
                problems.append((line, "age is per image: give it on a row naming the image"))
                continue
            identity_rows[who] = values
            n_identity += 1
        else:
            problems.append((line, "the row names neither an image nor an identity"))
    if not rows:
        problems.append((None, "no rows after the header"))
    if problems:
        raise GroupLabelsError(path, problems)
    labels: dict[Path, dict[str, str]] = {}
    for who, values in identity_rows.items():
        for image in by_identity[who]:
            labels.setdefault(image, {}).update(values)
    for image, values in image_rows.items():
        labels.setdefault(image, {}).update(values)  # an image row wins over its identity's
    return GroupLabels(
        source=path,
        columns=columns,
        labels=labels,
        ages=ages,
        n_rows=len(rows),
        n_image_rows=n_image,
        n_identity_rows=n_identity,
        n_rows_outside=n_outside,
    )
