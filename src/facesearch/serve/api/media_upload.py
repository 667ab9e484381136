"""The files of a media upload (``POST /cases/{number}/media/upload``), checked and stored
before the job is queued: each a photo or a video (by its first bytes: media/sniff.py), or a
zip or tar archive within the server's archive limits that holds at least one of them; all
of them together at most ``max_archive_bytes``. A refusal removes what was stored: 413 over a
limit, 415 for a file that is none of these, 422 for no file or an archive with no media."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fastapi import UploadFile

from facesearch.app.types import ArchiveLimits
from facesearch.media.sniff import SNIFF_BYTES, archive_holds_media, media_kind
from facesearch.serve.api.errors import ApiError
from facesearch.serve.api.uploads import CHUNK, check_archive, is_archive
from facesearch.settings import Settings

MAX_FILES = 1000


def _name(upload: UploadFile, taken: set[str]) -> str:
    """The upload's own file name (no folder), made unique among the upload's files."""
    base = Path(upload.filename or "").name.strip()
    base = re.sub(r"[\x00-\x1f\x7f/\\]", "_", base)[:200]  # no control character, no folder
    if base.strip(".") == "":  # "", "." and ".." are no file names
        base = "upload"
    name, n = base, 1
    while name in taken:
        n += 1
        stem, dot, ext = base.rpartition(".")
        name = f"{stem}-{n}.{ext}" if dot and stem else f"{base}-{n}"
    taken.add(name)
    return name


def save_media_files(files: list[UploadFile], target: Path, settings: Settings) -> list[str]:
    """Store ``files`` in ``target`` (whose parent is the upload's folder); the names they
    were stored under. Raises ApiError (the folder removed) when one is refused."""
    folder = target.parent
    try:
        return _save_all(files, target, settings)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _save_all(files: list[UploadFile], target: Path, settings: Settings) -> list[str]:
    if not files:
        raise ApiError(422, "choose at least one photo, video or archive to upload")
    if len(files) > MAX_FILES:
        raise ApiError(413, f"at most {MAX_FILES} files per upload: put them in a zip archive")
    target.mkdir(parents=True, exist_ok=True)
    limit, written, taken = settings.max_archive_bytes, 0, set[str]()
    names: list[str] = []
    for upload in files:
        name = _name(upload, taken)
        head = upload.file.read(SNIFF_BYTES)
        upload.file.seek(0)
        archive = is_archive(upload.file, name)
        if not archive and media_kind(head) is None:
            raise ApiError(415, f"{name} is not a photo, a video, or a zip or tar archive of them")
        path = target / name
        with open(path, "wb") as out:
            while chunk := upload.file.read(CHUNK):
                written += len(chunk)
                if written > limit:
                    raise ApiError(
                        413, f"the upload is larger than the server's limit of {limit} bytes"
                    )
                out.write(chunk)
        if archive:
            check_archive(path, ArchiveLimits.of(settings))  # 413 over a limit, 415 unreadable
            if not archive_holds_media(path):
                raise ApiError(422, f"{name} holds no photo or video")
        names.append(name)
    return names
