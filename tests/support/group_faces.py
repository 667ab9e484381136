"""A small labelled set for the accuracy-by-group tests: six ORL people (four photos each) from
../shared/faces, with MADE-UP group labels and ages, and one group made worse on purpose:
in cohort "worse" two of each person's four photos are replaced by a blank picture (no face:
every genuine pair with it is a false non-match, as the evaluation counts it); in cohort
"better" one photo of one person is, so that neither group's FNMR is 0 and the flag depends
on the factor (worse: 15/18 = 0.83, better: 3/18 = 0.17; ratio 5)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

PEOPLE = ("s1", "s2", "s3", "s4", "s5", "s6")
COHORT = {
    "s1": "better",
    "s2": "better",
    "s3": "better",
    "s4": "worse",
    "s5": "worse",
    "s6": "worse",
}
SEX = {"s1": "F", "s2": "M", "s3": "F", "s4": "M", "s5": "F", "s6": "M"}
AGES = (10.0, 11.0, 15.0, 25.0)  # photo 1..4 of everyone: gaps 1, 5, 15, 4, 14, 10
BLANKED = {("s1", 4), ("s4", 3), ("s4", 4), ("s5", 3), ("s5", 4), ("s6", 3), ("s6", 4)}


def make_group_set(shared_faces: Path, root: Path) -> tuple[Path, Path]:
    """Identity folders under ``root/photos`` and the labels CSV ``root/labels.csv``."""
    photos = root / "photos"
    rows: list[list[str]] = []
    for person in PEOPLE:
        folder = photos / person
        folder.mkdir(parents=True)
        rows.append([person, "", COHORT[person], SEX[person], ""])
        for j in range(1, 5):
            if (person, j) in BLANKED:
                name = f"{j}.png"
                grey = 100 + 10 * PEOPLE.index(person) + j  # distinct: copies would be merged
                Image.fromarray(np.full((112, 92), grey, np.uint8)).save(folder / name)
            else:
                name = f"{j}.pgm"
                shutil.copyfile(shared_faces / "orl_att_faces" / person / name, folder / name)
            rows.append(["", f"{person}/{name}", "", "", f"{AGES[j - 1]:g}"])
    labels = root / "labels.csv"
    with open(labels, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["identity", "path", "cohort", "sex", "age"])
        writer.writerows(rows)
    return photos, labels
