"""Faces from videos in media sets: a video made here from real photos (two people entering and
leaving at known times) gives one track per appearance with the right times; videos are
recognised by content; a corrupt video is reported, not fatal. Real models, SQLite, PyAV."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile

import numpy as np
import pytest
from tests.support.cli import CliUsers
from tests.support.media import cfp_frontal, make_app
from tests.support.video import Appearance, make_video
from typer.testing import CliRunner

from facesearch.media.sniff import media_kind
from facesearch.media.sources import iter_media
from facesearch.media.tracking import FaceTracker, TrackerSettings

SAMPLE_MS = 500  # the default 2 frames per second


@pytest.fixture
def setup(tmp_path, pipeline):
    s = make_app(tmp_path / "data", pipeline)
    yield s
    s.service.close()


def _scene(shared):
    """Person 1 enters at 0.5 s, leaves at 2.0 s and comes back from 4.0 to 5.5 s; person 2 is
    on screen from 1.0 to 4.5 s. Six seconds at 10 frames per second."""
    a, b = cfp_frontal(shared, 1, 1), cfp_frontal(shared, 2, 1)
    appearances = [
        Appearance(a, 500, 2000, 40, 100),
        Appearance(b, 1000, 4500, 380, 90),
        Appearance(a, 4000, 5500, 60, 110),
    ]
    return appearances, make_video(appearances, seconds=6)


def _jpeg(data):
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(float)


def _assert_time_range(track, appearance):
    # sampled every 500 ms from 0: first seen at the first sample on screen, last seen at the
    # last sample before it left
    assert 0 <= track.start_ms - appearance.start_ms < SAMPLE_MS, (track, appearance)
    assert 0 < appearance.end_ms - track.end_ms <= SAMPLE_MS, (track, appearance)


def test_video_gives_one_track_per_appearance_with_times(setup, tmp_path, shared_faces):
    appearances, clip = _scene(shared_faces)
    root = tmp_path / "phone"
    (root / "DCIM").mkdir(parents=True)
    (root / "DCIM" / "VID_0001.bin").write_bytes(clip)  # recognised by content, not by name
    (root / "broken.mp4").write_bytes(clip[: len(clip) // 2])  # cut short: no index
    (root / "notes.txt").write_text("not material")
    shutil.copy(cfp_frontal(shared_faces, 3, 1), root / "DCIM" / "photo.jpg")

    report = setup.media.import_media("ivy", "A", [root], workers=0)
    failed = dict(report.failures)
    assert set(failed) == {"phone/broken.mp4"} and "video" in failed["phone/broken.mp4"]
    assert report.videos == 1 and report.files_new == 2
    assert report.video_frames == {"decoded": 60, "sampled": 12}

    files = {f["path"]: f for f in setup.media.files("ivy", "A")}
    video = files["phone/DCIM/VID_0001.bin"]
    assert video["kind"] == "video" and video["status"] == "faces"
    assert video["duration_ms"] == 6000 and (video["width"], video["height"]) == (640, 360)
    assert files["phone/DCIM/photo.jpg"]["kind"] == "image"
    assert "phone/notes.txt" not in files

    tracks = setup.media.tracks("ivy", "A")
    assert [t.file for t in tracks] == ["phone/DCIM/VID_0001.bin"] * 3
    for track, appearance in zip(tracks, appearances, strict=True):  # sorted by start
        _assert_time_range(track, appearance)
        assert 1 <= len(track.faces) <= 3
        assert all(track.start_ms <= f.frame_ms <= track.end_ms for f in track.faces)
    assert tracks[0].when == "00:00.5-00:01.5"

    # the video's faces join the set's faces: the two appearances of person 1 are one person
    setup.media.cluster("ivy", "A")
    tracks = setup.media.tracks("ivy", "A")
    clusters = [{f.cluster for f in t.faces} for t in tracks]
    assert all(len(c) == 1 for c in clusters)
    assert clusters[0] == clusters[2] != clusters[1]
    views = setup.media.clusters("ivy", "A")
    video_faces = [f for v in views for f in v.faces if f.file == "phone/DCIM/VID_0001.bin"]
    assert len(video_faces) == sum(len(t.faces) for t in tracks)
    assert all(f.frame_ms is not None and f.frame_ms % SAMPLE_MS == 0 for f in video_faces)

    # a video face's picture is its own frame's crop, shielded outside its own box
    face = tracks[1].faces[0]
    shown = _jpeg(setup.media.face_picture("ivy", "A", face.face_id))
    revealed = _jpeg(setup.media.face_picture("ivy", "A", face.face_id, reveal=True))
    assert shown.shape == revealed.shape and 100 <= max(shown.shape[:2]) <= 160
    grey = revealed @ np.array([0.114, 0.587, 0.299])  # BGR to grey, as OpenCV
    h, w = grey.shape  # the crop is the face box with a 25% margin on each side
    inner = (slice(h // 6 + 2, h - h // 6 - 2), slice(w // 6 + 2, w - w // 6 - 2))
    assert np.abs(shown[..., 0][inner] - grey[inner]).mean() < 4  # the face: grey, sharp
    assert (
        np.abs(shown[..., 0] - grey).mean() > 2 * np.abs(shown[..., 0][inner] - grey[inner]).mean()
    )

    # resume: the video is not processed again; the broken one is tried again
    again = setup.media.import_media("ivy", "A", [root], workers=0)
    assert again.already_imported == 2 and again.videos == 0 and len(again.failures) == 1
    assert len(setup.media.tracks("ivy", "A")) == 3


def test_cli_tracks_and_clusters_name_the_video_and_time(tmp_path, shared_faces):
    from facesearch.cli import app

    _, clip = _scene(shared_faces)
    folder = tmp_path / "set"
    folder.mkdir()
    with zipfile.ZipFile(folder / "chat.zip", "w") as zf:
        zf.writestr("media/clip.dat", clip)
    data = str(tmp_path / "data")
    make_app(tmp_path / "data").service.close()
    runner = CliRunner()
    users = CliUsers(data)  # ivy's token

    def run(*args):
        env = {**users.env("ivy"), "COLUMNS": "200"}
        res = runner.invoke(app, ["-d", data, *args], env=env)
        assert res.exit_code == 0, res.output
        return res.output

    zipped = str(folder / "chat.zip")
    run("media", "import", zipped, "--case", "A", "--workers", "0", "--video-fps", "4")
    run("media", "cluster", "A")
    out = json.loads(run("media", "tracks", "A", "--json"))
    assert [t["file"] for t in out["tracks"]] == ["chat.zip!media/clip.dat"] * 3
    # 4 frames per second: first seen within 250 ms of entering
    assert [t["start_ms"] for t in out["tracks"]] == [500, 1000, 4000]
    clusters = json.loads(run("media", "clusters", "A", "--json"))["clusters"]
    faces = [f for c in clusters for f in c["faces"]]
    assert faces and all(f["file"] == "chat.zip!media/clip.dat" for f in faces)
    # the times of the frames sampled (the clip has a frame every 100 ms)
    assert all(isinstance(f["frame_ms"], int) and f["frame_ms"] % 100 == 0 for f in faces)
    table = run("media", "tracks", "A")
    assert "00:00.5" in table and "clip.dat" in table


def test_videos_are_recognised_by_content_in_folders_and_archives(tmp_path):
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    mkv = buf.getvalue()
    assert media_kind(mkv[:512]) == "video"
    assert media_kind(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00") == "image"
    assert media_kind(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00") == "video"
    assert media_kind(b"plain text, not material") is None

    folder = tmp_path / "dev"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "0001").write_bytes(mkv)
    (folder / "readme.txt").write_text("hello")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("x/film", mkv)
        zf.writestr("x/text", "hello")
    with tarfile.open(tmp_path / "a.tar", "w") as tf:
        info = tarfile.TarInfo("y/film.bin")
        info.size = len(mkv)
        tf.addfile(info, io.BytesIO(mkv))
    found = {
        item.label: item.read() if item.read else item.error
        for p in (folder, tmp_path / "a.zip", tmp_path / "a.tar")
        for item in iter_media(p)
    }
    assert found == {
        f"{folder}/sub/0001": mkv,
        f"{tmp_path}/a.zip!x/film": mkv,
        f"{tmp_path}/a.tar!y/film.bin": mkv,
    }
    too_big = list(iter_media(tmp_path / "a.zip", max_bytes=100))
    assert len(too_big) == 1 and "too large" in str(too_big[0].error)

    # one pass over a folder or archive: photos by name and videos by content in name order
    (folder / "sub" / "0000.jpg").write_bytes(b"a photo by its name")
    (folder / "sub" / "0002.jpg").write_bytes(b"another")
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        for name, data in (("x/z.jpg", b"z"), ("x/film", mkv), ("x/a.jpg", b"a"), ("x/t", b"t")):
            zf.writestr(name, data)
    assert [i.path for i in iter_media(folder)] == [
        f"{folder}/sub/0000.jpg",
        f"{folder}/sub/0001",
        f"{folder}/sub/0002.jpg",
    ]
    zipped = tmp_path / "b.zip"
    assert [i.label for i in iter_media(zipped)] == [
        f"{zipped}!x/{n}" for n in ("a.jpg", "film", "z.jpg")
    ]
    # the archive and the member are kept apart; the label is for display only
    assert {(i.path, i.member) for i in iter_media(zipped)} == {
        (str(zipped), f"x/{n}") for n in ("a.jpg", "film", "z.jpg")
    }
    # the gallery's own readers take the photos only (their default acceptance)
    from facesearch.ingest.sources import iter_path

    assert [i.label for i in iter_path(zipped)] == [f"{zipped}!x/a.jpg", f"{zipped}!x/z.jpg"]


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_tracker_keeps_people_apart_when_they_cross_and_splits_on_long_gaps():
    rng = np.random.default_rng(0)
    a, b = _unit(rng.normal(size=128)), _unit(rng.normal(size=128))

    def near(v):
        return _unit(v + rng.normal(scale=0.02, size=128))

    tracker = FaceTracker(TrackerSettings(max_gap_ms=1000))
    # a walks right, b walks left; at 1000 ms their boxes overlap, and b comes first
    assert tracker.update(0, [(0, 0, 50, 50), (200, 0, 50, 50)], np.stack([near(a), near(b)])) == [
        1,
        2,
    ]
    assert tracker.update(500, [(60, 0, 50, 50), (140, 0, 50, 50)], np.stack([near(a), near(b)]))
    assert tracker.update(
        1000, [(100, 0, 50, 50), (105, 0, 50, 50)], np.stack([near(b), near(a)])
    ) == [2, 1]
    # a turns away (poor embedding) where it stood: the box keeps the track
    other = rng.normal(size=128)
    other = _unit(other - (other @ a) * a - (other @ b) * b)  # unlike a and b
    away = _unit(0.3 * a + other)  # cosine with a 0.29: unlike, not unlike enough
    assert tracker.update(1500, [(104, 0, 50, 50)], np.stack([away])) == [1]
    # nobody for 1.5 s, then a again: a new appearance, a new track
    assert tracker.update(3000, [(0, 0, 50, 50)], np.stack([near(a)])) == [3]
    assert [(t.track, t.start_ms, t.end_ms, t.frames) for t in tracker.tracks()] == [
        (1, 0, 1500, 4),
        (2, 0, 1000, 3),
        (3, 3000, 3000, 1),
    ]


@pytest.mark.slow
def test_video_in_a_worker_process(setup, tmp_path, shared_faces):
    appearances, clip = _scene(shared_faces)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "clip.mov").write_bytes(clip)
    report = setup.media.import_media("ivy", "A", [tmp_path / "in"], workers=1)
    assert report.videos == 1 and not report.failures
    tracks = setup.media.tracks("ivy", "A")
    assert len(tracks) == 3
    for track, appearance in zip(tracks, appearances, strict=True):
        _assert_time_range(track, appearance)


def test_a_known_video_is_eliminated_by_its_hash_and_never_decoded(setup, tmp_path):
    import hashlib

    clip = make_video([], seconds=1, size=(160, 96))
    listed = tmp_path / "md5.txt"
    listed.write_text(hashlib.md5(clip).hexdigest() + "\n")
    setup.media.import_hash_set("sup", listed, name="known-films", category="1")
    (tmp_path / "seized").mkdir()
    (tmp_path / "seized" / "film.mp4").write_bytes(clip)
    report = setup.media.import_media("ivy", "A", [tmp_path / "seized"], workers=0)
    assert report.videos == 1 and report.eliminated_by_match == {"md5": 1}
    assert report.video_frames == {}  # probed for its size and duration only
    (row,) = setup.media.files("ivy", "A")
    assert row["status"] == "eliminated" and row["kind"] == "video"
    assert row["duration_ms"] == 1000 and row["faces"] == 0 and row["pdq"] is None
    assert setup.media.tracks("ivy", "A") == []
