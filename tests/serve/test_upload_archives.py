"""Uploaded archives are checked before any photo of them is read: member count, member
and total expanded size and the compression ratio, without expanding anything in memory."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.api import ApiEnv, api_env

from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.uploads import ArchiveLimits, check_archive

MB = 1024 * 1024
LIMITS = ArchiveLimits(members=100, member_bytes=64 * MB, expanded_bytes=256 * MB, ratio=100)


def zeros_zip(path: Path, members: int, size: int) -> Path:
    """A zip of ``members`` photos-by-name of ``size`` zero bytes each (a "zip bomb")."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            with zf.open(f"bomb/{i}.jpg", "w", force_zip64=True) as out:
                for _ in range(size // MB):
                    out.write(bytes(MB))
    return path


def test_a_high_ratio_zip_is_refused_from_its_directory(tmp_path: Path) -> None:
    bomb = zeros_zip(tmp_path / "bomb.zip", 3, 20 * MB)
    assert bomb.stat().st_size < 200_000  # 60 MB of zeros
    tracemalloc.start()
    with pytest.raises(ApiError) as err:
        check_archive(bomb, LIMITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.status == 413 and "times its compressed size" in err.value.detail
    assert peak < 2 * MB  # nothing expanded in memory


def test_a_tar_gz_bomb_stops_at_the_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for i in range(20):
            info = tarfile.TarInfo(f"bomb/{i}.jpg")
            info.size = 10 * MB
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    tracemalloc.start()
    with pytest.raises(ApiError) as err:
        check_archive(path, LIMITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.status == 413 and "expands more than 100 times" in err.value.detail
    assert peak < 4 * MB  # headers walked in a stream, members never held


def test_member_count_member_size_and_total_caps(tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(6):
            zf.writestr(f"{i}.jpg", b"\xff\xd8\xff" + bytes(range(200)))
    small = ArchiveLimits(members=5, member_bytes=MB, expanded_bytes=10 * MB, ratio=100)
    with pytest.raises(ApiError, match="more than 5 members"):
        check_archive(many, small)
    assert check_archive(many, LIMITS) == 6
    big = tmp_path / "big.tar"
    with tarfile.open(big, "w") as tf:
        info = tarfile.TarInfo("big.jpg")
        info.size = 2 * MB
        tf.addfile(info, io.BytesIO(b"\x01" * info.size))
    with pytest.raises(ApiError, match="over the limit of 1048576"):
        check_archive(big, small)
    total = ArchiveLimits(members=5, member_bytes=4 * MB, expanded_bytes=MB, ratio=100)
    with pytest.raises(ApiError, match="expands past the limit"):
        check_archive(big, total)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("archives"), passwords=("admin",)) as e:
        yield e


def test_the_upload_route_refuses_a_bomb_and_keeps_nothing(env: ApiEnv, tmp_path: Path) -> None:
    bomb = zeros_zip(tmp_path / "bomb.zip", 2, 10 * MB)
    admin = env.client("admin")
    jobs = admin.get("/api/v1/ingest/jobs").json()["total"]
    r = admin.post(
        "/api/v1/ingest/jobs/upload",
        files={"archive": ("bomb.zip", bomb.read_bytes(), "application/zip")},
    )
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert admin.get("/api/v1/ingest/jobs").json()["total"] == jobs  # no job started
    uploads = env.service.library.upload_dir().parent
    assert not any(p.suffix == ".zip" for p in uploads.rglob("*"))  # the upload was removed
