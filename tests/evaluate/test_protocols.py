"""Protocol and manifest readers, on small files written here and on ../shared/faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SHARED_FACES

from facesearch.evaluate.protocols import (
    LabelledImage,
    ProtocolFormatError,
    pair_labels_and_folds,
    read_cfp_protocol,
    read_identity_folders,
    read_lfw_pairs,
    read_manifest,
    read_pair_table,
)
from facesearch.evaluate.splits import make_identification_split

needs_shared = pytest.mark.skipif(
    not (SHARED_FACES / "README.md").is_file(),
    reason=f"shared face data not found at {SHARED_FACES}",
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------- LFW

LFW = "2\t1\nAnn\t1\t2\nAnn\t1\tBob\t3\nCid\t2\t4\nDee\t1\tEve\t10\n"


def test_lfw_pairs(tmp_path):
    pairs = read_lfw_pairs(_write(tmp_path / "pairs.txt", LFW), tmp_path / "lfw")
    assert [p.same for p in pairs] == [True, False, True, False]
    assert [p.fold for p in pairs] == [1, 1, 2, 2]
    assert pairs[0].path_a == tmp_path / "lfw" / "Ann" / "Ann_0001.jpg"
    assert pairs[0].path_b == tmp_path / "lfw" / "Ann" / "Ann_0002.jpg"
    assert pairs[3].path_b == tmp_path / "lfw" / "Eve" / "Eve_0010.jpg"
    labels, folds = pair_labels_and_folds(pairs)
    assert labels.tolist() == [True, False, True, False]
    assert folds is not None and folds.tolist() == [1, 1, 2, 2]


def test_lfw_single_set_header(tmp_path):
    pairs = read_lfw_pairs(_write(tmp_path / "p.txt", "1\nAnn 1 2\nAnn 1 Bob 1\n"), tmp_path)
    assert [(p.same, p.fold) for p in pairs] == [(True, 1), (False, 1)]


def test_lfw_malformed_line_names_file_and_line(tmp_path):
    path = _write(tmp_path / "pairs.txt", "1 1\nAnn 1 2\nAnn 1 Bob 3 extra\n")
    with pytest.raises(ProtocolFormatError, match=r"pairs\.txt:3: expected") as info:
        read_lfw_pairs(path, tmp_path)
    assert info.value.line == 3 and info.value.path == path
    assert isinstance(info.value, ValueError)


def test_lfw_bad_number_and_counts(tmp_path):
    with pytest.raises(ProtocolFormatError, match=r":2: image number must be an integer"):
        read_lfw_pairs(_write(tmp_path / "a.txt", "1 1\nAnn x 2\nAnn 1 Bob 3\n"), tmp_path)
    with pytest.raises(ProtocolFormatError, match=r"2 fold\(s\) x 4 pairs = 8, found 4"):
        read_lfw_pairs(_write(tmp_path / "b.txt", LFW.replace("2\t1", "2\t2")), tmp_path)
    unbalanced = "1 1\nAnn 1 2\nCid 1 2\n"
    with pytest.raises(ProtocolFormatError, match="2 same-person and 0 different"):
        read_lfw_pairs(_write(tmp_path / "c.txt", unbalanced), tmp_path)


def test_lfw_check_exists(tmp_path):
    path = _write(tmp_path / "p.txt", "1\nAnn 1 2\nAnn 1 Bob 1\n")
    with pytest.raises(FileNotFoundError, match=r"p\.txt:2"):
        read_lfw_pairs(path, tmp_path, check_exists=True)


# ------------------------------------------------------------------------------- CFP


def _tiny_cfp(root: Path) -> Path:
    protocol = root / "Protocol"
    _write(
        protocol / "Pair_list_F.txt",
        "1 ../Data/Images/001/frontal/01.jpg\n2 ../Data/Images/001/frontal/02.jpg\n"
        "3 ../Data/Images/002/frontal/01.jpg\n",
    )
    _write(protocol / "Pair_list_P.txt", "1 ../Data/Images/001/profile/01.jpg\n")
    for fold in ("01", "02"):
        _write(protocol / "Split" / "FP" / fold / "same.txt", "1,1\n")
        _write(protocol / "Split" / "FP" / fold / "diff.txt", "3,1\n")
        _write(protocol / "Split" / "FF" / fold / "same.txt", "1,2\n")
        _write(protocol / "Split" / "FF" / fold / "diff.txt", "2,3\n\n")
    return root


def test_cfp_fp_pairs_frontal_with_profile(tmp_path):
    root = _tiny_cfp(tmp_path / "cfp")
    pairs = read_cfp_protocol(root, "FP")
    images = root / "Data" / "Images"
    assert [(p.same, p.fold) for p in pairs] == [(True, 1), (False, 1), (True, 2), (False, 2)]
    assert pairs[0].path_a == images / "001" / "frontal" / "01.jpg"  # '..' resolved
    assert pairs[0].path_b == images / "001" / "profile" / "01.jpg"
    assert pairs[1].path_a == images / "002" / "frontal" / "01.jpg"


def test_cfp_ff_uses_the_frontal_list_twice(tmp_path):
    root = _tiny_cfp(tmp_path / "cfp")
    pairs = read_cfp_protocol(root / "Protocol", "ff")
    images = root / "Data" / "Images"
    assert pairs[0].path_b == images / "001" / "frontal" / "02.jpg"
    assert pairs[1].path_b == images / "002" / "frontal" / "01.jpg"
    assert len(pairs) == 4


def test_cfp_errors_name_file_and_line(tmp_path):
    root = _tiny_cfp(tmp_path / "cfp")
    _write(root / "Protocol" / "Split" / "FP" / "02" / "diff.txt", "3,1\n3,2\n")
    with pytest.raises(ProtocolFormatError, match=r"02/diff\.txt:2: entry 2 is not in Pair_list_P"):
        read_cfp_protocol(root, "FP")
    _write(root / "Protocol" / "Split" / "FF" / "01" / "same.txt", "1;2\n")
    with pytest.raises(ProtocolFormatError, match=r"01/same\.txt:1: expected 'a,b'"):
        read_cfp_protocol(root, "FF")
    with pytest.raises(ValueError, match="'FF' or 'FP'"):
        read_cfp_protocol(root, "PP")


def test_cfp_duplicate_list_entry(tmp_path):
    root = _tiny_cfp(tmp_path / "cfp")
    _write(root / "Protocol" / "Pair_list_P.txt", "1 a.jpg\n1 b.jpg\n")
    with pytest.raises(ProtocolFormatError, match=r"Pair_list_P\.txt:2: entry 1 appears twice"):
        read_cfp_protocol(root, "FP")


@needs_shared
@pytest.mark.shared_data
@pytest.mark.parametrize("protocol", ["FF", "FP"])
def test_real_cfp_protocol(protocol):
    pairs = read_cfp_protocol(SHARED_FACES / "cfp", protocol, check_exists=True)
    labels, folds = pair_labels_and_folds(pairs)
    assert folds is not None
    assert sorted(set(folds.tolist())) == list(range(1, 11))
    for fold in range(1, 11):
        assert int((labels & (folds == fold)).sum()) == 350
        assert int((~labels & (folds == fold)).sum()) == 350
    # .../Images/<identity>/<pose>/NN.jpg: same pairs share the identity, diff pairs don't.
    for p in pairs:
        assert (p.path_a.parts[-3] == p.path_b.parts[-3]) == p.same
        assert p.path_a.parts[-2] == "frontal"
        assert p.path_b.parts[-2] == ("frontal" if protocol == "FF" else "profile")


# ----------------------------------------------------------------------- pair tables


def test_pair_table(tmp_path):
    table = _write(
        tmp_path / "sets" / "pairs.tsv",
        "img_a\timg_b\tsame_person\tsource_note\n"
        "x/a.jpg\tx/b.jpg\t1\tnote, with comma\n"
        "x/a.jpg\ty/c.jpg\t0\t\n",
    )
    pairs = read_pair_table(table)
    assert [p.same for p in pairs] == [True, False]
    assert pairs[0].path_a == tmp_path / "sets" / "x" / "a.jpg"
    assert pairs[1].path_b == tmp_path / "sets" / "y" / "c.jpg"
    assert all(p.fold is None for p in pairs)
    assert pair_labels_and_folds(pairs)[1] is None


def test_pair_table_errors(tmp_path):
    bad_label = _write(tmp_path / "a.tsv", "img_a\timg_b\tsame_person\nx.jpg\ty.jpg\tmaybe\n")
    with pytest.raises(ProtocolFormatError, match=r"a\.tsv:2: same_person must be"):
        read_pair_table(bad_label)
    short = _write(tmp_path / "b.tsv", "img_a\timg_b\tsame_person\nx.jpg\ty.jpg\t1\nx.jpg\n")
    with pytest.raises(ProtocolFormatError, match=r"b\.tsv:3: expected 3 fields"):
        read_pair_table(short)
    no_label = _write(tmp_path / "c.tsv", "img_a\timg_b\nx.jpg\ty.jpg\n")
    with pytest.raises(ProtocolFormatError, match="no same/different label column"):
        read_pair_table(no_label)


@needs_shared
@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("table", "n_pairs", "n_same"),
    [
        ("deepface_tests/test_verify_pairs.tsv", 10, 6),
        ("face_recognition_ageitgey/test_pairs.tsv", 3, 2),
        ("openface_examples/demo_pairs.tsv", 6, 2),
    ],
)
def test_real_pair_tables(table, n_pairs, n_same):
    pairs = read_pair_table(SHARED_FACES / table, check_exists=True)
    assert len(pairs) == n_pairs
    assert sum(p.same for p in pairs) == n_same


# ------------------------------------------------------------- identity-labelled sets


def test_identity_folders(tmp_path):
    for rel in ["ann/1.jpg", "ann/sub/2.png", "bob/3.JPG", "bob/notes.txt", ".hid/4.jpg"]:
        _write(tmp_path / rel, "x")
    _write(tmp_path / "loose.jpg", "x")
    _write(tmp_path / "bob" / ".hidden.jpg", "x")
    records = read_identity_folders(tmp_path)
    assert [(r.path.relative_to(tmp_path).as_posix(), r.identity) for r in records] == [
        ("ann/1.jpg", "ann"),
        ("ann/sub/2.png", "ann"),
        ("bob/3.JPG", "bob"),
    ]
    flat = read_identity_folders(tmp_path, recursive=False)
    assert [r.path.name for r in flat] == ["1.jpg", "3.JPG"]


def test_manifest_with_groups(tmp_path):
    manifest = _write(
        tmp_path / "data" / "manifest.csv",
        "path,identity,sex,age_band\nimg/a.jpg,p1,F,30-39\nimg/b.jpg,p2,M,\n",
    )
    records = read_manifest(manifest)
    assert records[0] == LabelledImage(
        tmp_path / "data" / "img" / "a.jpg", "p1", (("sex", "F"), ("age_band", "30-39"))
    )
    assert records[1].group("sex") == "M" and records[1].group("age_band") == ""
    assert records[1].group("skin_tone") is None
    only_sex = read_manifest(manifest, group_columns=["sex"])
    assert only_sex[0].groups == (("sex", "F"),)
    with pytest.raises(ProtocolFormatError, match="skin_tone"):
        read_manifest(manifest, group_columns=["skin_tone"])


def test_manifest_tsv_with_shared_column_names(tmp_path):
    manifest = _write(
        tmp_path / "MANIFEST.tsv",
        "relative_path\tidentity_label\tsource\na/1.jpg\tx:1\tgithub:o/r:p\n",
    )
    (record,) = read_manifest(manifest, group_columns=())
    assert (record.path, record.identity, record.groups) == (tmp_path / "a" / "1.jpg", "x:1", ())


def test_manifest_errors(tmp_path):
    empty_id = _write(tmp_path / "m.csv", "path,identity\na.jpg,p1\nb.jpg,\n")
    with pytest.raises(ProtocolFormatError, match=r"m\.csv:3: empty identity"):
        read_manifest(empty_id)
    twice = _write(tmp_path / "n.csv", "path,identity\na.jpg,p1\n./a.jpg,p2\n")
    with pytest.raises(ProtocolFormatError, match=r"n\.csv:3: .*listed twice \(first on line 2\)"):
        read_manifest(twice)
    no_path = _write(tmp_path / "o.csv", "file_name,identity\na.jpg,p1\n")
    with pytest.raises(ProtocolFormatError, match="no path column"):
        read_manifest(no_path)


# ------------------------------------------------------------- identification split


def _records() -> list[LabelledImage]:
    counts = {"ann": 3, "bob": 3, "cid": 2, "dee": 1, "eve": 4, "fay": 2, "gus": 3}
    records = [
        LabelledImage(Path(f"/d/{name}/{i}.jpg"), name)
        for name, n in counts.items()
        for i in range(n)
    ]
    records.append(LabelledImage(Path("/d/multi/1.jpg"), "MULTI:ann+bob"))
    return records


def test_identification_split_invariants():
    records = _records()
    split = make_identification_split(records, seed=5, nonmated_fraction=0.3)
    gallery_ids = set(split.gallery_labels)
    assert len(split.nonmated_probes) == 2  # round(0.3 * 7) identities, one probe each
    assert not set(split.nonmated_probe_labels) & gallery_ids
    assert set(split.mated_probe_labels) <= gallery_ids
    assert len(split.mated_probe_labels) == len(set(split.mated_probe_labels))
    buckets = [split.gallery, split.mated_probes, split.nonmated_probes, split.unused]
    paths = [r.path for bucket in buckets for r in bucket]
    assert sorted(paths) == sorted(r.path for r in records)  # each record exactly once
    assert LabelledImage(Path("/d/multi/1.jpg"), "MULTI:ann+bob") in split.unused
    if "dee" not in split.nonmated_probe_labels:  # a single image: enrolled, never a probe
        assert "dee" in gallery_ids and "dee" not in split.mated_probe_labels


def test_identification_split_is_deterministic_and_order_free():
    records = _records()
    a = make_identification_split(records, seed=11)
    b = make_identification_split(list(reversed(records)), seed=11)
    assert a == b
    others = [make_identification_split(records, seed=s) for s in range(12, 20)]
    assert any(o != a for o in others)


def test_identification_split_rejects_duplicates():
    records = _records()
    with pytest.raises(ValueError, match="listed twice"):
        make_identification_split([*records, records[0]], seed=1)


@needs_shared
@pytest.mark.shared_data
def test_real_manifest_and_orl_folders():
    records = read_manifest(SHARED_FACES / "MANIFEST.tsv", group_columns=())
    orl = [r for r in records if r.identity.startswith("orl:")]
    assert len(orl) == 400 and len({r.identity for r in orl}) == 40
    assert all(r.path.is_file() for r in orl)
    folders = read_identity_folders(SHARED_FACES / "orl_att_faces")
    assert len(folders) == 400
    split = make_identification_split(folders, seed=0, nonmated_fraction=0.25)
    assert len(split.nonmated_probes) == 10 and len(split.mated_probes) == 30
    assert len(split.gallery) == 30 * 9
    assert np.isin(split.nonmated_probe_labels, split.gallery_labels).sum() == 0
