"""Hash sets: VICS / CAID / plain lists read and written, malformed files refused with the
field named, and PDQ near matches on real photos (CFP) against an exact Hamming oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.support.media import cfp_frontal, make_app

from facesearch.media import hashsets
from facesearch.media.elimination import EliminationSettings, PdqIndex
from facesearch.media.hashing import hex_to_code, pdq_hash
from facesearch.media.hashsets import HashSetFormatError

MD5 = "0123456789abcdef0123456789abcdef"
SHA1 = "0123456789abcdef0123456789abcdef01234567"


def _vics2(entries: list[dict]) -> bytes:
    return json.dumps({"@odata.context": hashsets.VICS_2_CONTEXT, "value": entries}).encode()


SAMPLE = [
    {"MediaID": 1, "Category": 1, "MD5": MD5.upper(), "SHA1": SHA1.upper(), "MediaSize": 2835},
    {"MediaID": 2, "Category": 3, "MD5": "f" * 32, "MediaSize": 10, "PhotoDNA": "AAEC/w=="},
    {"MediaID": 3, "SHA1": "a" * 40, "IsPrecategorized": False},
]


@pytest.mark.parametrize("version", [1, 2])
def test_vics_import_export_reimport_gives_the_same_hash_set(tmp_path, version):
    setup = make_app(tmp_path / "data")
    media = setup.media
    ctx = hashsets.VICS_1_CONTEXT if version == 1 else hashsets.VICS_2_CONTEXT
    key = "odata.metadata" if version == 1 else "@odata.context"
    src = tmp_path / "known.json"
    src.write_text(json.dumps({key: ctx, "value": SAMPLE}))
    first = media.import_hash_set("sup", src, name="pv")
    assert first.format == f"vics-{version}" and first.entries == 3
    assert first.categories == {"1": 1, "3": 1, "uncategorised": 1}
    doc = media.export_hash_set("sup", "pv", version=version)
    assert key in doc
    again = tmp_path / "again.json"
    again.write_text(hashsets.dumps(doc))
    media.import_hash_set("sup", again, name="pv-again")
    a = hashsets.parse(src.read_bytes())
    b = hashsets.parse(again.read_bytes())
    assert hashsets.record_keys(a.records) == hashsets.record_keys(b.records)
    assert media.export_hash_set("sup", "pv-again", version=version)["value"] == doc["value"]
    assert {r.photodna for r in b.records} == {None, "AAEC/w=="}  # kept opaque, as given
    setup.service.close()


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"value": SAMPLE}, "@odata.context"),
        ({"@odata.context": hashsets.VICS_2_CONTEXT}, "value"),
        ({"@odata.context": "http://example.org/other#Media", "value": []}, "@odata.context"),
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [SAMPLE[0], {"MD5": "xyz"}]}, "value[1].MD5"),  # noqa: E501
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [{"MD5": MD5, "SHA1": "12"}]}, "value[0].SHA1"),  # noqa: E501
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [{"MD5": MD5, "MediaSize": -1}]}, "value[0].MediaSize"),  # noqa: E501
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [{"MD5": MD5, "Category": [1]}]}, "value[0].Category"),  # noqa: E501
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [{"MediaID": 4}]}, "value[0].MD5"),
        ({"@odata.context": hashsets.VICS_2_CONTEXT, "value": [{"MD5": MD5, "PhotoDNA": 5}]}, "value[0].PhotoDNA"),  # noqa: E501
    ],
)  # fmt: skip
def test_malformed_vics_is_refused_with_the_field_named(tmp_path, doc, field):
    import re

    with pytest.raises(HashSetFormatError, match="^" + re.escape(field)):
        hashsets.parse(json.dumps(doc).encode())


def test_a_refused_file_imports_nothing(tmp_path):
    setup = make_app(tmp_path / "data")
    bad = tmp_path / "bad.json"
    bad.write_bytes(_vics2([SAMPLE[0], {"MD5": "nothex"}]))
    with pytest.raises(HashSetFormatError, match=r"value\[1\]\.MD5"):
        setup.media.import_hash_set("sup", bad)
    assert setup.media.hash_sets("sup") == []
    setup.service.close()


def test_plain_lists_and_caid_csv():
    listed = hashsets.parse(f"# known\n{MD5}\n\n{SHA1.upper()}  name.jpg\n".encode())
    assert [(r.md5, r.sha1) for r in listed.records] == [(MD5, None), (None, SHA1)]
    with pytest.raises(HashSetFormatError, match="line 2"):
        hashsets.parse(f"{MD5}\nnot-a-hash\n".encode())
    with pytest.raises(HashSetFormatError, match="line 1: not MD5"):
        hashsets.parse(f"{SHA1}\n".encode(), "md5")
    caid = hashsets.parse(f"MD5,Category,MediaSize\n{MD5},A,12\n".encode(), name="caid.csv")
    assert caid.format == "caid"
    assert caid.records[0].category == "A" and caid.records[0].media_size == 12
    with pytest.raises(HashSetFormatError, match=r"line 2\.MediaSize"):
        hashsets.parse(f"MD5,MediaSize\n{MD5},big\n".encode(), name="caid.csv")


def test_hash_sets_are_for_supervisors_and_administrators(tmp_path):
    from facesearch.govern.errors import RefusedError

    setup = make_app(tmp_path / "data")
    src = tmp_path / "k.txt"
    src.write_text(MD5 + "\n")
    with pytest.raises(RefusedError, match="lacks the role"):
        setup.media.import_hash_set("ivy", src)
    assert setup.media.import_hash_set("admin", src).entries == 1
    setup.service.close()


# --- PDQ on real photos ------------------------------------------------------------------------


def _bgr(path):
    import cv2

    return cv2.imread(str(path))


def _jpeg50(img):
    import cv2

    _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _half(img):
    import cv2

    return cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _crop5(img):
    h, w = img.shape[:2]
    dy, dx = round(h * 0.025), round(w * 0.025)  # 5% of each side in all, centred
    return img[dy : h - dy, dx : w - dx]


def _known_and_unrelated(shared, n_known_people, n_unrelated_people):
    known = [cfp_frontal(shared, p, k) for p in range(1, n_known_people + 1) for k in (1, 4, 7)]
    start = n_known_people + 1
    unrelated = [
        cfp_frontal(shared, p, k)
        for p in range(start, start + n_unrelated_people)
        for k in range(1, 11)
    ]
    return known, unrelated


def _unrelated_hashes(unrelated):
    """The unrelated photos hashed as the media import hashes them (with their crops)."""
    return [pdq_hash(_bgr(p), crops=True) for p in unrelated]


def _check_pdq(known, unrelated, changes=("_jpeg50", "_half"), reference_crops=False):
    """The known photos' hashes as a hash set (with their crops' hashes, as facesearch's own
    exports carry them, if ``reference_crops``; without, as a Project VIC set); the changed
    copies hashed as the media import does (with their crops); ``unrelated``: the unrelated
    photos' hashes (:func:`_unrelated_hashes`)."""
    settings = EliminationSettings()
    hashes = [pdq_hash(_bgr(p), crops=reference_crops) for p in known]
    trusted = [
        (i, h.hex, " ".join(h.crops) or None)
        for i, h in enumerate(hashes)
        if h.quality >= settings.min_pdq_quality
    ]
    assert len(trusted) >= 0.95 * len(known)
    index = PdqIndex.from_hex(trusted, settings)
    trusted_ids = {row[0] for row in trusted}
    references = np.stack(
        [hex_to_code(h) for _, own, crops in trusted for h in (own, *(crops or "").split())]
    )
    for change in [globals()[c] for c in changes]:
        found = 0
        for i, p in enumerate(known):
            if i not in trusted_ids:
                continue
            copy = pdq_hash(change(_bgr(p)), crops=True)
            m = index.match(copy)
            # the oracle: the exact minimum Hamming distance over the dihedral variants and
            # crops of the copy and the hashes (and crops) of the hash set
            queries = np.stack([hex_to_code(v) for v in (*copy.variants, *copy.crops)])
            best = np.unpackbits(queries[:, None, :] ^ references[None], axis=2).sum(2).min()
            assert (m is not None) == (best <= settings.pdq_threshold and copy.quality >= 50)
            found += m is not None and m.entry_id == i
        assert found >= 0.95 * len(trusted), (change.__name__, found, len(trusted))
    false = sum(index.match(h) is not None for h in unrelated)
    assert false <= 0.001 * len(unrelated), (false, len(unrelated))


def test_pdq_eliminates_changed_copies_and_not_unrelated_photos(shared_faces):
    """60 known photos; their JPEG-50 and half-size copies at least 95% eliminated; none of
    500 photos of 50 other people (0.1% of 500 rounds to none)."""
    known, unrelated = _known_and_unrelated(shared_faces, 20, 50)
    _check_pdq(known, _unrelated_hashes(unrelated))


def test_pdq_eliminates_cropped_copies(shared_faces):
    """5%-cropped copies (2.5% off each side) of 60 known photos whose hashes carry their
    crops' (facesearch's own exports): at least 95% eliminated, none of 500 unrelated photos
    (the whole CFP frontal set: test_pdq_against_the_whole_cfp_frontal_set, slow)."""
    known, unrelated = _known_and_unrelated(shared_faces, 20, 50)
    _check_pdq(
        known,
        _unrelated_hashes(unrelated),
        changes=("_crop5", "_jpeg50", "_half"),
        reference_crops=True,
    )


def test_pdq_without_reference_crops_misses_cropped_copies(shared_faces):
    """Without the crops' hashes (a Project VIC set: one PDQ per entry) a 5%-cropped copy is
    ~55 bits away: PDQ itself is not crop-invariant."""
    settings = EliminationSettings()
    known, _ = _known_and_unrelated(shared_faces, 5, 0)
    index = PdqIndex.from_hex([(i, pdq_hash(_bgr(p)).hex) for i, p in enumerate(known)], settings)
    assert sum(index.match(pdq_hash(_crop5(_bgr(p)), crops=True)) is not None for p in known) == 0


@pytest.mark.slow
@pytest.mark.long
def test_pdq_against_the_whole_cfp_frontal_set(shared_faces):
    """300 known photos against the 4,000 frontal photos of 400 other people, with the
    reference crops (facesearch's own exports) and without (a Project VIC set)."""
    known, unrelated = _known_and_unrelated(shared_faces, 100, 400)
    hashes = _unrelated_hashes(unrelated)  # once for both hash sets
    _check_pdq(known, hashes)
    _check_pdq(known, hashes, changes=("_crop5", "_jpeg50", "_half"), reference_crops=True)


def test_pdq_index_matches_rotated_and_mirrored_copies(shared_faces):
    import cv2

    img = _bgr(cfp_frontal(shared_faces, 3, 2))
    h = pdq_hash(img)
    index = PdqIndex.from_hex([(7, h.hex)])
    for flip in (cv2.rotate(img, cv2.ROTATE_180), cv2.flip(img, 1)):
        m = index.match(pdq_hash(flip))
        assert m is not None and m.entry_id == 7 and m.variant != "original"
    flat = pdq_hash(np.full((64, 64, 3), 128, np.uint8))
    assert flat.quality < 50 and PdqIndex.from_hex([(1, flat.hex)]).match(flat) is None
