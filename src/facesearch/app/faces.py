"""Faces of the gallery as a case's reader sees them: crops, thumbnails, full images, reveals.

A face's pictures go to an administrator or to a reader of a case whose search returned that
face; every fetch is logged, refusals too (as 'not found' to an HTTP client, so face ids of
other cases cannot be probed).
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.app.results import Media
from facesearch.engine.formats import sniff_mime
from facesearch.errors import EncryptionError
from facesearch.govern import cases as cases_mod


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
            data = original_image(stored)
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


def original_image(stored: Any) -> bytes | None:
    """The original photo: its file if it is still where it was ingested from (and unchanged
    since ingest: otherwise it is not the photo the search found)."""
    path = str(stored.image_path)
    if "!" in path:
        archive, member = path.split("!", 1)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                data = z.read(member)
        else:
            with tarfile.open(archive) as t:
                f = t.extractfile(member)
                data = f.read() if f else b""
    else:
        p = Path(path)
        if not p.is_file():
            return None
        data = p.read_bytes()
    if hashlib.sha256(data).hexdigest() != stored.image_sha256:
        return None
    return data
