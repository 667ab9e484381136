"""Every ingest of an archive (the CLI's ``facesearch ingest``, a server job from an ingest
root, an upload) keeps to the settings' archive limits before any member is read: a zip or
tar.gz bomb is one failure saying which limit, the rest of the ingest goes on, and memory
stays bounded; a normal archive still ingests."""

from __future__ import annotations

import io
import re
import tarfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import write_image

from facesearch.app.service import Service
from facesearch.ingest.archives import (
    DEFAULT_LIMITS,
    ArchiveLimits,
    ArchiveRefusedError,
    UnreadableArchiveError,
    check_archive,
)
from facesearch.ingest.sources import iter_archive, iter_sources
from facesearch.settings import Settings

MB = 1024 * 1024


def zeros_zip(path: Path, members: int, size: int) -> Path:
    """A zip of ``members`` photos-by-name of ``size`` zero bytes each (a "zip bomb")."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            with zf.open(f"bomb/{i}.jpg", "w", force_zip64=True) as out:
                for _ in range(size // MB):
                    out.write(bytes(MB))
    return path


def zeros_tgz(path: Path, members: int, size: int) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for i in range(members):
            info = tarfile.TarInfo(f"bomb/{i}.jpg")
            info.size = size
            tf.addfile(info, io.BytesIO(bytes(size)))
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A zip of 3 x 48 MB of zeros and a tar.gz of 4 x 32 MB (each member under the default
    64 MB member limit, so the ratio is what refuses them)."""
    folder = tmp_path_factory.mktemp("bombs")
    zip_bomb = zeros_zip(folder / "bomb.zip", 3, 48 * MB)
    tar_bomb = zeros_tgz(folder / "bomb.tar.gz", 4, 32 * MB)
    assert zip_bomb.stat().st_size < 500_000 and tar_bomb.stat().st_size < 1_000_000
    return zip_bomb, tar_bomb


@pytest.fixture
def good_zip(tmp_path: Path, astronaut, other_faces) -> Path:  # type: ignore[no-untyped-def]
    photos = tmp_path / "photos"
    a = write_image(photos / "astronaut.jpg", astronaut)
    h = write_image(photos / "hopper.png", other_faces[0])
    path = tmp_path / "good.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(a, "x/astronaut.jpg")
        zf.write(h, "x/hopper.png")
    return path


@pytest.fixture
def service(tmp_path: Path, pipeline) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    """The CLI's service (``facesearch ingest`` calls ``library.ingest`` on it)."""
    w = Service.for_cli(Settings(data_dir=tmp_path / "data", ingest_workers=0), pipeline=pipeline)
    w.library.initialise("admin")
    yield w
    w.close()


def _admin(service: Service):  # type: ignore[no-untyped-def]
    return service.accounts.principal("admin", "cli")


def _peak(run) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_defaults_are_the_settings_defaults() -> None:
    defaults = {name: f.default for name, f in Settings.model_fields.items()}
    assert (
        ArchiveLimits(
            defaults["max_archive_members"],
            defaults["max_archive_member_bytes"],
            defaults["max_archive_expanded_bytes"],
            defaults["max_archive_ratio"],
        )
        == DEFAULT_LIMITS
    )
    custom = Settings(max_archive_members=7, max_archive_ratio=3)
    assert ArchiveLimits.of(custom) == ArchiveLimits(7, 64 * MB, 4096 * MB, 3)


def test_bombs_given_to_the_cli_ingest_are_one_failure_each_in_bounded_memory(
    service: Service, bombs: tuple[Path, Path], good_zip: Path
) -> None:
    zip_bomb, tar_bomb = bombs
    admin = _admin(service)
    service.library.ingest(admin, [], manifest=None, workers=0)  # open the gallery first
    report, peak = _peak(lambda: service.library.ingest(admin, [zip_bomb, tar_bomb], workers=0))
    assert peak < 8 * MB, f"peak traced allocation {peak / MB:.1f} MB"  # before: over 48 MB
    failures = dict(report.failures)  # type: ignore[attr-defined]
    assert set(failures) == {str(zip_bomb), str(tar_bomb)}  # one line each, no member read
    assert re.fullmatch(
        r"the archive is refused: member 'bomb/0\.jpg' expands \d+ times its compressed "
        r"size, over the limit of 100",
        failures[str(zip_bomb)],
    )
    assert failures[str(tar_bomb)].startswith("the archive is refused: it expands more than 100")
    # the rest of an ingest goes on: a normal archive beside a bomb still ingests
    report = service.library.ingest(admin, [zip_bomb, good_zip], workers=0)
    assert report.images_new == 2 and [p for p, _ in report.failures] == [str(zip_bomb)]
    runs = service.library.runs(admin)
    stored = service.library.run_failures(admin, runs[0]["id"])
    assert [(p, r.split(":")[0]) for p, r in stored] == [(str(zip_bomb), "the archive is refused")]


def test_the_settings_limits_reach_the_ingest(tmp_path: Path, pipeline, good_zip: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", ingest_workers=0, max_archive_members=1)
    w = Service.for_cli(settings, pipeline=pipeline)
    try:
        w.library.initialise("admin")
        report = w.library.ingest(_admin(w), [good_zip], workers=0)
        assert report.images_new == 0
        assert report.failures == [(str(good_zip), "the archive is refused: more than 1 members")]
    finally:
        w.close()


def test_a_server_job_from_an_ingest_root_refuses_a_bomb(
    tmp_path: Path,
    pipeline,  # type: ignore[no-untyped-def]
    bombs: tuple[Path, Path],
    good_zip: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "bomb.zip").write_bytes(bombs[0].read_bytes())
    (root / "good.zip").write_bytes(good_zip.read_bytes())
    settings = Settings(data_dir=tmp_path / "data", ingest_roots=[root], ingest_workers=0)
    w = Service.for_cli(settings, pipeline=pipeline)
    try:
        w.library.initialise("admin")
        admin = _admin(w)
        paths = [
            str(w.library.allowed_ingest_path(admin, str(root / n)))
            for n in ("bomb.zip", "good.zip")
        ]
        job = w.library.start_job(admin, paths, None)
        done = w.library.jobs.wait(job.id, 120)
        assert done is not None and done.status == "completed" and done.run_id is not None
        assert done.counts is not None and done.counts["images_new"] == 2
        failures = w.library.run_failures(admin, done.run_id)
        assert len(failures) == 1 and "times its compressed size" in failures[0][1]
    finally:
        w.close()


def test_iter_archive_checks_before_reading_and_caps_member_reads(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.jpg", b"\xff\xd8\xff" + bytes(range(256)) * 4096)  # 1 MB + 3
        zf.writestr("b.jpg", b"\xff\xd8\xff" + b"x" * 100)
    tight = ArchiveLimits(members=10, member_bytes=MB, expanded_bytes=10 * MB, ratio=100)
    items = list(iter_archive(path, limits=tight))
    assert [(i.path, i.read) for i in items] == [(str(path), None)]
    assert items[0].error == (
        f"the archive is refused: member 'a.jpg' expands to {MB + 3} bytes, over the limit of {MB}"
    )
    roomy = ArchiveLimits(members=10, member_bytes=2 * MB, expanded_bytes=10 * MB, ratio=100)
    read = {i.label: i.read() for i in iter_archive(path, limits=roomy) if i.read}
    assert sorted(read) == [f"{path}!a.jpg", f"{path}!b.jpg"]
    # iter_sources passes the limits on to every archive it meets
    assert [i.error is None for i in iter_sources([path], archives=tight)] == [False]


def test_check_archive_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not an archive at all" * 50)
    with pytest.raises(UnreadableArchiveError):
        check_archive(junk, DEFAULT_LIMITS)
    bomb = zeros_zip(tmp_path / "b.zip", 1, 4 * MB)
    with pytest.raises(ArchiveRefusedError, match="over the limit of 100"):
        check_archive(bomb, DEFAULT_LIMITS)
    items = list(iter_archive(junk))
    assert len(items) == 1 and items[0].error == "not a readable zip or tar archive"
