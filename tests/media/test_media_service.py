"""Media sets: import (hashes, metadata, faces, failures, resume), access by case, elimination by
exact and PDQ matches, and the audit of every step. Real models, SQLite, real photos."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.media import audit_actions, cfp_frontal, make_app

from facesearch.govern.errors import RefusedError


@pytest.fixture
def setup(tmp_path, pipeline):
    s = make_app(tmp_path / "data", pipeline)
    yield s
    s.service.close()


def _exif_jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[271] = "Canon"
    exif[272] = "EOS 5D"
    exif.get_ifd(0x8769)[36867] = "2019:06:01 10:11:12"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=92)
    return buf.getvalue()


def _seized(tmp_path, shared, astronaut):
    root = tmp_path / "phone"
    (root / "DCIM").mkdir(parents=True)
    (root / "DCIM" / "camera.jpg").write_bytes(_exif_jpeg(astronaut))
    for p in (1, 2):
        shutil.copy(cfp_frontal(shared, p, 1), root / "DCIM" / f"cfp{p}.jpg")
    shutil.copy(cfp_frontal(shared, 1, 1), root / "copy-of-cfp1.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "empty.png").write_bytes(b"")
    write_image(root / "blank.png", np.full((80, 80, 3), 200, np.uint8))
    with zipfile.ZipFile(tmp_path / "chat.zip", "w") as zf:
        zf.write(cfp_frontal(shared, 3, 2), "media/img.jpg")
    return root


def test_import_hashes_metadata_faces_failures_and_resume(setup, tmp_path, shared_faces, astronaut):
    root = _seized(tmp_path, shared_faces, astronaut)
    progress = []
    sources = [root, tmp_path / "chat.zip"]
    report = setup.media.import_media(
        "ivy", "A", sources, workers=0, on_progress=lambda p: progress.append(p.files_done)
    )
    failed = dict(report.failures)
    assert set(failed) == {"phone/broken.jpg", "phone/empty.png"}
    assert "empty" in failed["phone/empty.png"] and "image" in failed["phone/broken.jpg"]
    assert report.files_new == 6 and report.duplicates == 1 and report.without_face == 1
    assert report.faces >= 4 and progress[-1] == report.files_read == 8
    files = {f["path"]: f for f in setup.media.files("ivy", "A")}
    cam = files["phone/DCIM/camera.jpg"]
    data = (root / "DCIM" / "camera.jpg").read_bytes()
    assert cam["md5"] == hashlib.md5(data).hexdigest()
    assert cam["sha1"] == hashlib.sha1(data).hexdigest()
    assert cam["sha256"] == hashlib.sha256(data).hexdigest() and cam["size"] == len(data)
    assert len(cam["pdq"]) == 64 and cam["pdq_quality"] >= 50
    assert cam["exif_datetime"] == "2019:06:01 10:11:12" and cam["camera"] == "Canon EOS 5D"
    assert files["chat.zip!media/img.jpg"]["status"] == "faces"
    dup = [f for f in files.values() if f["status"] == "duplicate"]
    assert len(dup) == 1 and dup[0]["sha256"] in {
        f["sha256"] for f in files.values() if f["status"] == "faces"
    }
    assert files["phone/blank.png"]["status"] == "no_face"
    # resume: nothing is imported twice; the failures are tried again
    again = setup.media.import_media("ivy", "A", sources, workers=0)
    assert again.files_new == 0 and again.already_imported == 6 and len(again.failures) == 2
    assert len(setup.media.files("ivy", "A")) == 6
    actions = audit_actions(setup.service)
    assert ("ivy", "media.import") in actions and ("ivy", "media.files") in actions


def test_media_are_seen_only_by_the_case_investigators_and_supervisors(
    setup, tmp_path, shared_faces
):
    folder = tmp_path / "b"
    folder.mkdir()
    shutil.copy(cfp_frontal(shared_faces, 5, 1), folder / "x.jpg")
    setup.media.import_media("ian", "B", [folder], workers=0)
    media = setup.media
    attempts = {
        "media.import": lambda who: media.import_media(who, "B", [folder], workers=0),
        "media.summary": lambda who: media.summary(who, "B"),
        "media.files": lambda who: media.files(who, "B"),
        "media.cluster": lambda who: media.cluster(who, "B"),
        "media.clusters": lambda who: media.clusters(who, "B"),
        "media.export": lambda who: media.export_new_material(who, "B"),
        "media.person.name": lambda who: media.decide(who, "B", "name", cluster=1, name="x"),
    }
    for action, attempt in attempts.items():
        with pytest.raises(RefusedError, match="not assigned to case 'B'"):
            attempt("ivy")
        with pytest.raises(RefusedError, match="lacks the role"):
            attempt("aud")
        assert ("ivy", f"{action}.refused") in audit_actions(setup.service)
    assert media.summary("ian", "B")["files"] == 1
    assert media.summary("sup", "B")["files"] == 1
    assert media.summary("ivy", "A")["files"] == 0  # A's own view holds nothing of B
    setup.service.governance.close_case("sup", "B")
    with pytest.raises(RefusedError, match="closed, not open"):
        media.import_media("ian", "B", [folder], workers=0)


def test_known_images_are_eliminated_exactly_and_by_pdq_and_skip_faces(
    setup, tmp_path, shared_faces
):
    import cv2

    media = setup.media
    known_dir = tmp_path / "known"
    known_dir.mkdir()
    for p in (10, 11, 12):
        shutil.copy(cfp_frontal(shared_faces, p, 1), known_dir / f"k{p}.jpg")
    media.import_media("ian", "B", [known_dir], workers=0)
    vics = tmp_path / "b.json"
    from facesearch.media.hashsets import dumps

    vics.write_text(dumps(media.export_new_material("ian", "B", category="1")))
    media.import_hash_set("sup", vics, name="case-B")
    listed = tmp_path / "md5.txt"
    other = (cfp_frontal(shared_faces, 13, 1)).read_bytes()
    listed.write_text(hashlib.md5(other).hexdigest() + "\n")
    media.import_hash_set("sup", listed, name="md5s", category="2")

    seized = tmp_path / "seized"
    seized.mkdir()
    shutil.copy(cfp_frontal(shared_faces, 10, 1), seized / "same.jpg")  # exact
    img = cv2.imread(str(cfp_frontal(shared_faces, 11, 1)))
    cv2.imwrite(str(seized / "reencoded.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 50])  # PDQ
    (seized / "listed.jpg").write_bytes(other)  # exact, from the MD5 list
    shutil.copy(cfp_frontal(shared_faces, 14, 1), seized / "new.jpg")  # unknown
    # 5% cropped (2.5% off each side): found through the crops the export carries (PDQCrops)
    img = cv2.imread(str(cfp_frontal(shared_faces, 12, 1)))
    h, w = img.shape[:2]
    dy, dx = round(h * 0.025), round(w * 0.025)
    cv2.imwrite(str(seized / "cropped.jpg"), img[dy : h - dy, dx : w - dx])
    assert all(len(e["PDQCrops"]) == 5 for e in json.loads(vics.read_text())["value"])
    report = media.import_media("ivy", "A", [seized], workers=0)
    assert report.eliminated == 4
    assert report.eliminated_by_category == {"1": 3, "2": 1}
    assert report.eliminated_by_match == {"md5": 1, "pdq": 2, "sha256": 1}
    files = {f["path"]: f for f in media.files("ivy", "A")}
    assert files["seized/reencoded.jpg"]["elimination"]["hash_set"] == "case-B"
    assert files["seized/reencoded.jpg"]["elimination"]["distance"] <= 31
    cropped = files["seized/cropped.jpg"]["elimination"]
    assert cropped["match"] == "pdq" and cropped["distance"] <= 31
    assert "~crop " in cropped["variant"], cropped  # through a crop of the entry's
    assert files["seized/listed.jpg"]["elimination"]["match"] == "md5"
    assert all(files[p]["faces"] == 0 for p in ("seized/same.jpg", "seized/reencoded.jpg"))
    assert files["seized/new.jpg"]["faces"] == 1
    summary = media.summary("ivy", "A")
    assert summary["eliminated_by_category"] == {"1": 3, "2": 1}
    assert summary["eliminated_by_hash_set"] == {"case-B": 3, "md5s": 1}
    # the export of A's new material holds only new.jpg
    doc = media.export_new_material("ivy", "A")
    assert [e["MD5"].lower() for e in doc["value"]] == [files["seized/new.jpg"]["md5"]]


def test_pictures_are_grey_and_blurred_outside_the_face_unless_revealed(setup, tmp_path, astronaut):
    import cv2

    folder = tmp_path / "w"
    write_image(folder / "a.png", astronaut)
    setup.media.import_media("ivy", "A", [folder], workers=0)
    setup.media.cluster("ivy", "A")
    face = setup.media.clusters("ivy", "A")[0].faces[0].face_id
    shown = cv2.imdecode(
        np.frombuffer(setup.media.face_picture("ivy", "A", face), np.uint8), cv2.IMREAD_COLOR
    )
    plain = cv2.imdecode(
        np.frombuffer(setup.media.face_picture("ivy", "A", face, reveal=True), np.uint8),
        cv2.IMREAD_COLOR,
    )
    spread = shown.astype(int).max(axis=2) - shown.astype(int).min(axis=2)
    assert spread.max() <= 12  # grey (JPEG leaves a little colour noise)
    assert (plain.astype(int).max(axis=2) - plain.astype(int).min(axis=2)).max() > 60
    grey = cv2.cvtColor(shown, cv2.COLOR_BGR2GRAY).astype(float)
    ref = cv2.cvtColor(plain, cv2.COLOR_BGR2GRAY).astype(float)
    corner = (slice(0, 60), slice(260, 320))  # the astronaut's shoulder patch area: not the face
    assert (
        cv2.Laplacian(grey[corner], cv2.CV_64F).var()
        < 0.2 * cv2.Laplacian(ref[corner], cv2.CV_64F).var()
    )
    actions = audit_actions(setup.service)
    assert ("ivy", "media.face.view") in actions and ("ivy", "media.face.reveal") in actions
    with pytest.raises(RefusedError, match="not assigned"):
        setup.media.face_picture("ian", "A", face, reveal=True)


def test_the_case_report_shows_the_media_of_its_own_case_only(setup, tmp_path, shared_faces):
    media = setup.media
    folder = tmp_path / "a"
    folder.mkdir()
    for k in (1, 2):
        shutil.copy(cfp_frontal(shared_faces, 21, k), folder / f"kid-{k}.jpg")
    media.import_media("ivy", "A", [folder], workers=0)
    media.cluster("ivy", "A")
    (person,) = media.clusters("ivy", "A")
    media.decide("ivy", "A", "name", cluster=person.cluster, name="Child <one>", note="same shirt")
    html = setup.service.governance.case_report("ivy", "A", "html").decode("utf-8")
    assert "Media sets and known-image elimination" in html
    assert "<tr><td>Files</td><td>2</td></tr>" in html
    assert "Persons found in the media (clusters: 1)" in html and "Child &lt;one&gt;" in html
    assert "Review decisions on the persons" in html and "same shirt" in html
    # the media come after the searches and before the audit entries, as before
    assert html.index("Searches (") < html.index("Media sets") < html.index("Audit entries")
    other = setup.service.governance.case_report("ian", "B", "html").decode("utf-8")
    assert "Media sets" not in other and "Child" not in other


def test_media_settings_come_from_the_one_settings(tmp_path, monkeypatch) -> None:
    from pydantic import ValidationError

    from facesearch.app.media import MediaSettings, media_settings
    from facesearch.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        media_pdq_threshold=20,
        media_min_pdq_quality=70,
        media_cluster_threshold=0.6,
        media_video_fps=4.0,
        media_video_faces_per_track=2,
        media_video_max_bytes=1000,
    )
    got = MediaSettings.from_settings(settings)
    assert (got.elimination.pdq_threshold, got.elimination.min_pdq_quality) == (20, 70)
    assert got.clustering.threshold == 0.6
    assert (got.video.fps, got.video.faces_per_track, got.video.max_bytes) == (4.0, 2, 1000)
    assert media_settings(settings) == got
    # a command's options win; the environment is not read again (settings.py read it once)
    monkeypatch.setenv("FACESEARCH_MEDIA_VIDEO_FPS", "9")
    monkeypatch.setenv("FACESEARCH_MEDIA_MIN_PDQ_QUALITY", "10")
    over = media_settings(settings, pdq_threshold=5, cluster_threshold=0.3)
    assert over.elimination.pdq_threshold == 5 and over.clustering.threshold == 0.3
    assert over.elimination.min_pdq_quality == 70 and over.video.fps == 4.0
    with pytest.raises(ValidationError, match="media_pdq_threshold"):
        media_settings(settings, pdq_threshold=300)


def test_the_media_interfaces_import_the_application_layer_only() -> None:
    """The media CLI and routers reach media through ``facesearch.app`` (plus settings, errors
    and their own interface's modules), never media, govern, search or store directly."""
    import ast
    from pathlib import Path

    import facesearch

    root = Path(facesearch.__file__).parent
    files = [
        root / "cli" / "media.py",
        root / "cli" / "media_search.py",
        root / "serve" / "api" / "routers" / "media.py",
        root / "serve" / "api" / "routers" / "persons.py",
    ]
    allowed = ("facesearch.app", "facesearch.settings", "facesearch.errors")
    for path in files:
        own = "facesearch.cli" if path.parent.name == "cli" else "facesearch.serve"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name == "facesearch" or name.startswith("facesearch."):
                    assert name.startswith((*allowed, own)), f"{path.name} imports {name}"
