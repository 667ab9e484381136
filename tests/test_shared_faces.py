"""Accuracy checks on the real labeled photos in ../shared/faces (skipped where absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from facesearch.search.compare import compare_pairs, read_pair_list

PAIR_LISTS = [
    "deepface_tests/test_verify_pairs.tsv",
    "face_recognition_ageitgey/test_pairs.tsv",
    "openface_examples/demo_pairs.tsv",
]


@pytest.mark.shared_data
@pytest.mark.parametrize("pair_list", PAIR_LISTS)
def test_every_labeled_pair_is_decided_correctly(gallery, shared_faces, pair_list):
    path = shared_faces / pair_list
    with open(path, newline="") as fh:
        labels = [row["same_person"] == "1" for row in csv.DictReader(fh, delimiter="\t")]
    rows = list(compare_pairs(gallery, read_pair_list(path)))
    assert len(rows) == len(labels) > 0
    for row, same in zip(rows, labels, strict=True):
        assert row["score"] is not None, row
        assert row["fused"], row  # scored as search scores: both recognizers
        threshold = gallery.scoring.bands_for(True).match
        if same:
            assert row["score"] > threshold, f"same person scored {row['score']}: {row}"
        else:
            assert row["score"] < threshold, f"different people scored {row['score']}: {row}"


@pytest.mark.shared_data
@pytest.mark.long  # 16 s; accuracy is gated by benchmarks/accuracy.py
def test_cfp_frontal_gallery_finds_each_person_at_rank_1(gallery, shared_faces, tmp_path):
    images = shared_faces / "cfp" / "Data" / "Images"
    people = sorted(p.name for p in images.iterdir() if p.is_dir())
    rng = np.random.default_rng(2016)
    chosen = sorted(rng.choice(people, size=50, replace=False))
    manifest = tmp_path / "gallery.csv"
    probes: dict[str, Path] = {}
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "title"])
        for person in chosen:
            frontal = sorted((images / person / "frontal").glob("*.jpg"))
            probes[person] = frontal[0]  # held out
            for photo in frontal[1:]:
                writer.writerow([str(photo), f"cfp:{person}"])
    report = gallery.ingest([], manifest=manifest, workers=2)
    assert not report.failures
    misses = []
    for person, probe in probes.items():
        result = gallery.search(probe, k=1)
        top = result.candidates[0]
        if top.provenance[0]["title"] != f"cfp:{person}":
            misses.append((person, top.provenance[0]["title"], top.score))
    assert not misses, f"rank-1 misses: {misses}"
