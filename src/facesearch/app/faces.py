"""Faces of the gallery as a case's reader sees them: crops, thumbnails, full images, reveals.

A face's pictures go to an administrator or to a reader of a case whose search returned that
face; every fetch is logged, refusals too (as 'not found' to an HTTP client, so face ids of
other cases cannot be probed). The full image is the original kept in the blob store at ingest
(``images.original``), else the file (or archive member) it was read from, if still there and
unchanged; when neither is, the fetch is logged with the reason and answered
:class:`~facesearch.errors.OriginalUnavailableError` (HTTP 410), saying why.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.results import Media
from facesearch.engine.formats import sniff_mime
from facesearch.errors import EncryptionError, OriginalUnavailableError
from facesearch.govern import cases as cases_mod
from facesearch.ingest.sources import MAX_MEMBER_BYTES
from facesearch.store.ports import BlobStore
from facesearch.store.records import ORIGINAL_LOST, ORIGINAL_TOO_LARGE, legacy_splits

CHUNK = 1024 * 1024


class Faces:
    """The face resource."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def media(self, who: Principal, face_id: int, kind: str, search_id: int | None = None) -> Media:
        """A face's ``crop``, ``thumbnail`` or full ``image`` (see the module docstring)."""
        action = f"face.{kind}"
        asked = {"face_id": face_id, "search_id": search_id}
        case_number = self._authorise(who, face_id, search_id, action, asked)
        gallery = self.ctx.gallery
        stored = gallery.catalog.faces([face_id]).get(face_id)
        if stored is None:
            self.ctx.refuse(who, action, f"no face {face_id}", asked)
        blobs = gallery.blobs
        data: bytes | None = None
        key = {"crop": stored.crop, "thumbnail": stored.thumbnail}.get(kind)
        if key and blobs.exists(key):
            try:  # strict: with a key set, a file that is not encrypted is refused
                data = blobs.get(key)
            except EncryptionError as exc:
                self.ctx.refuse(who, action, f"the stored {kind} is refused: {exc}", asked)
        elif kind == "image":
            try:  # the kept original first, then where it was ingested from
                data = original_image(stored, blobs)
            except EncryptionError as exc:
                self.ctx.refuse(who, action, f"the stored original is refused: {exc}", asked)
            if data is None:  # the reader may see it: say plainly that it is gone
                reason = unavailable_reason(stored)
                self.ctx.governance.record(
                    who.username,
                    action,
                    {**asked, "image_sha256": stored.image_sha256, "unavailable": reason},
                    case=case_number,
                )
                raise OriginalUnavailableError(
                    f"the original of this face is no longer available: {reason}"
                )
        if data is None:
            self.ctx.refuse(who, action, f"the {kind} of face {face_id} is not stored", asked)
        self.ctx.governance.record(
            who.username,
            action,
            {**asked, "image_sha256": stored.image_sha256},
            case=case_number,
        )
        return Media(data, sniff_mime(data) or "application/octet-stream")

    def reveal(self, who: Principal, search_id: int, face_id: int, reason: str = "") -> int:
        """Log that ``who`` un-blurred the full image of a candidate; returns the audit seq."""
        action = "face.reveal"
        asked = {"face_id": face_id, "search_id": search_id}
        case_number = self._authorise(who, face_id, search_id, action, asked)
        entry = self.ctx.governance.record(
            who.username, action, {**asked, "reason": reason.strip()}, case=case_number
        )
        return int(entry.seq)

    def crop_file(self, key: str) -> str:
        """Where a face crop's blob is stored (for the CLI on the data's machine)."""
        return str(self.ctx.gallery.blobs.path(key))

    def _authorise(
        self,
        who: Principal,
        face_id: int,
        search_id: int | None,
        action: str,
        asked: dict[str, Any],
    ) -> str | None:
        """The case through which ``who`` may see the face (None: an administrator, outside
        any search); refused (and logged) otherwise (``govern.cases.case_showing_face``)."""
        found: str | None = self.ctx.governance.run(
            who.username,
            action,
            asked,
            lambda s, _a: cases_mod.case_showing_face(s, who.username, face_id, search_id, action),
        )
        return found


def original_image(
    stored: Any, blobs: BlobStore | None = None, limit: int = MAX_MEMBER_BYTES
) -> bytes | None:
    """The original photo: the copy kept in the blob store at ingest (or by the backfill),
    else its file if it is still where it was ingested from; either only with the SHA-256 the
    catalog holds (otherwise it is not the photo the search found). Raises EncryptionError
    for a kept copy the key refuses."""
    key = getattr(stored, "original", None)
    if key and blobs is not None and blobs.exists(key):
        data = blobs.get(key)
        if hashlib.sha256(data).hexdigest() == stored.image_sha256:
            return data
    return original_from_source(stored, limit)


def original_from_source(stored: Any, limit: int = MAX_MEMBER_BYTES) -> bytes | None:
    """The original read where it was ingested from, if it is still there and unchanged. An
    archive member is read in chunks and never past ``limit`` bytes (nor a plain file larger
    than that). A row stored before archive members were kept apart (revision 0012 could not
    tell) is tried as a plain path first, then split at each "!" (``legacy_splits``)."""
    file = str(getattr(stored, "image_file", "") or stored.image_path)
    member = str(getattr(stored, "image_member", "") or "")
    for path, inside in [(file, member)] if member else legacy_splits(file):
        data = read_source(Path(path), inside, limit)
        if data is not None and hashlib.sha256(data).hexdigest() == stored.image_sha256:
            return data
    return None


def read_source(path: Path, member: str, limit: int) -> bytes | None:
    """A plain file (``member`` empty) or an archive's member, or None if it cannot be read
    within ``limit`` bytes."""
    if member:
        return archive_member(path, member, limit)
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_bytes()
    except OSError:
        return None


def unavailable_reason(stored: Any) -> str:
    """Why a face's original cannot be shown, in words for the examiner."""
    where = stored.image_path
    state = getattr(stored, "original_state", None)
    if getattr(stored, "original", None):
        return f"its kept copy is missing from the blob store, and {where} cannot be read"
    if state == ORIGINAL_LOST:
        return f"it was not kept, and {where} could no longer be read when originals were stored"
    if state == ORIGINAL_TOO_LARGE:
        return f"it was too large to keep, and {where} is gone or has changed since ingest"
    return f"it is not kept in the gallery, and {where} is gone or has changed since ingest"


def archive_member(archive: Path, member: str, limit: int) -> bytes | None:
    """One member of a zip or tar archive, or None if it is missing, not a regular file or
    larger than ``limit`` bytes (declared or read: reading stops at the limit). The members of
    a tar are walked one by one and not kept (no list of them all in memory)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                try:
                    info = z.getinfo(member)
                except KeyError:
                    return None
                if info.is_dir() or info.file_size > limit:
                    return None
                with z.open(info) as fh:
                    return _bounded_read(fh, limit)
        with tarfile.open(archive) as t:
            while (entry := t.next()) is not None:
                t.members = []  # type: ignore[attr-defined]  # walked, not kept
                if entry.name != member:
                    continue
                if not entry.isfile() or entry.size > limit:
                    return None
                data = t.extractfile(entry)
                return _bounded_read(data, limit) if data is not None else None
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return None
    return None


def _bounded_read(fh: IO[bytes], limit: int) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    while chunk := fh.read(min(CHUNK, limit + 1 - total)):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
