"""The encryption key's upkeep: a new key, and ``keys rotate`` (administrators only).

A rotation re-encrypts, from the old key (``FACESEARCH_OLD_ENCRYPTION_KEY`` or a key file) to
the new one (the configured key), or from plain data when encryption is turned on for the
first time (``from_plain``): every face's vectors in the catalog, the saved FAISS index, the
stored probe images, the blobs of the gallery and of the media sets, renaming the blobs
(their names are keyed) and every reference to them (catalog columns, and the crops named in
removal requests' previews), then the suppression entries' vectors and the media faces'
vectors. Run it with the server stopped.

Progress is kept in ``key-rotation.json`` in the data directory (written atomically): the new
and old key ids, the stages done and the last face id rewritten. A run killed at any point is
finished by running the same command again; items already under the new key are recognised
by their key id and skipped. Until then the data is mixed and facesearch refuses the items
not yet rotated (it never falls back to reading plain data). The start and the end are
audited (``keys.rotate``, with counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table

from facesearch.app.context import AppContext
from facesearch.app.principal import Principal
from facesearch.errors import EncryptionError
from facesearch.govern.moves_schema import StandingQueryVector, SuppressionVector
from facesearch.govern.schema import CandidateRow, Probe, StandingQuery, Suppression
from facesearch.govern.standing import EMBEDDING_COLUMN as STANDING_EMBEDDING
from facesearch.govern.standing import SECOND_COLUMN as STANDING_SECOND
from facesearch.govern.suppression import rename_preview_crops
from facesearch.govern.users import Role
from facesearch.media.access import MEDIA_BLOBS
from facesearch.media.moves_schema import MediaFaceVector
from facesearch.media.schema import MediaFace, MediaFile
from facesearch.store.blobs import FileBlobStore
from facesearch.store.crypto import (
    MEDIA_FACE_COLUMN,
    SUPPRESSION_COLUMN,
    Cipher,
    Keyring,
    generate_key,
)
from facesearch.store.face_vectors import rotate_face_vectors
from facesearch.store.keysource import read_key_file
from facesearch.store.pair_rotation import rotate_pair_vectors
from facesearch.store.rotation import (
    Budget,
    ProgressFn,
    RotationStopped,
    count_plain,
    rotate_blobs,
    rotate_column,
    rotate_embeddings,
    rotate_index,
    rotate_vectors,
)
from facesearch.store.schema import FaceRow, FaceVector, Image, SecondVectorQueue
from facesearch.store.vectors.files import atomic_write

__all__ = ["STATE_FILE", "Keys", "RotationReport", "RotationStopped"]

STATE_FILE = "key-rotation.json"
STAGES = (
    "embeddings",
    "index",
    "probes",
    "blobs",
    "media-blobs",
    "suppressions",
    "moved-vectors",  # standing data's vectors of other recognizers (app/standing_moves.py)
    "media-faces",
    "standing",
    "face-vectors",  # other recognizers' vectors (model migrations)
)


@dataclass
class RotationReport:
    new_key_id: str
    old_key_id: str | None
    from_plain: bool
    resumed: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "new_key_id": self.new_key_id,
            "old_key_id": self.old_key_id,
            "from_plain": self.from_plain,
            "resumed": self.resumed,
            "counts": dict(self.counts),
        }


#: what ``keys rotate --from-plain`` seals, named as ``stats`` reports them
PLAIN_KINDS = {
    "suppression entries": Suppression.embedding,
    "media faces' vectors": MediaFace.embedding,
    "probe images": Probe.data,
    "standing queries' vectors": StandingQuery.embedding,
    "standing queries' probes": StandingQuery.probe,
    # vectors of another recognizer kept during a model migration (app/standing_moves.py)
    "standing queries' other models' vectors": StandingQueryVector.embedding,
    "suppression entries' other models' vectors": SuppressionVector.embedding,
    "media faces' other models' vectors": MediaFaceVector.embedding,
    "other models' face vectors": FaceVector.embedding,  # kept by a model migration
}
SEAL_COMMAND = "facesearch keys rotate --from-plain"


def still_plain(ctx: AppContext) -> dict[str, int]:
    """With a key set: how many items of each kind are still stored without encryption
    (kept from before the key, until ``keys rotate --from-plain``; they are refused, never
    read as plain). Empty without a key (plain is then the rule) or when none is left."""
    gallery = ctx.gallery
    if gallery.cipher is None:
        return {}
    counts = {
        kind: count_plain(gallery.catalog.session, column) for kind, column in PLAIN_KINDS.items()
    }
    return {kind: n for kind, n in counts.items() if n}


def plain_warning(counts: dict[str, int]) -> str:
    """The one line ``stats`` warns with, naming the command that seals them."""
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return (
        f"an encryption key is set but {sum(counts.values())} items are still stored without "
        f"it ({parts}): run '{SEAL_COMMAND}' (server stopped) to seal them"
    )


class Keys:
    """Key generation and rotation."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @staticmethod
    def generate() -> str:
        """A new random key (64 hex digits)."""
        return generate_key()

    @property
    def state_path(self) -> Path:
        return Path(self.ctx.settings.data_dir) / STATE_FILE

    def unfinished(self) -> dict[str, Any] | None:
        """The progress record of an unfinished rotation, if there is one."""
        try:
            state: dict[str, Any] = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise EncryptionError(f"cannot read {self.state_path}: {exc}") from None
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.state_path, json.dumps(state, indent=2).encode())

    def _old_cipher(self, old_key_file: Path | None) -> Cipher | None:
        settings = self.ctx.settings
        if old_key_file is not None:
            if settings.old_encryption_key is not None:
                raise EncryptionError(
                    "give the old key once: FACESEARCH_OLD_ENCRYPTION_KEY or --old-key-file"
                )
            return Cipher.from_key(read_key_file(old_key_file, settings.data_dir))
        return Cipher.old_from_settings(settings)

    def rotate(
        self,
        who: Principal,
        *,
        old_key_file: Path | None = None,
        from_plain: bool = False,
        on_progress: ProgressFn | None = None,
        stop_after: int | None = None,
    ) -> RotationReport:
        """Re-encrypt everything stored under the configured key (see the module docstring).
        ``stop_after``: a test hook, stop (raising RotationStopped) after that many items."""
        ctx = self.ctx
        ctx.require(who, "keys.rotate", Role.ADMINISTRATOR)
        new = ctx.gallery.cipher
        if new is None:
            raise EncryptionError(
                "set the new key first (FACESEARCH_ENCRYPTION_KEY, FACESEARCH_ENCRYPTION_KEY_FILE "
                "or FACESEARCH_KEY_COMMAND); the old one goes in FACESEARCH_OLD_ENCRYPTION_KEY "
                "or --old-key-file"
            )
        old = self._old_cipher(old_key_file)
        if old is not None and old.key_id == new.key_id:
            raise EncryptionError("the old key and the new key are the same")
        if old is None and not from_plain:
            raise EncryptionError(
                "no old key given: set FACESEARCH_OLD_ENCRYPTION_KEY or --old-key-file, or "
                "--from-plain to encrypt data stored without a key"
            )
        keys = Keyring(new, old, plain=from_plain)
        report = RotationReport(new.key_id.hex(), old.key_id.hex() if old else None, from_plain)
        state = self.unfinished()
        if state is not None and state.get("new_key_id") != report.new_key_id:
            raise EncryptionError(
                f"an unfinished rotation to key id {state.get('new_key_id')} is recorded in "
                f"{self.state_path}: finish it with that key first"
            )
        report.resumed = state is not None
        if state is None:
            state = {
                "version": 1,
                "new_key_id": report.new_key_id,
                "old_key_id": report.old_key_id,
                "from_plain": from_plain,
                "started_at": datetime.now(UTC).isoformat(),
                "done": [],
                "embeddings_after": 0,
                "counts": {},
            }
            self._save_state(state)
        ctx.governance.record(
            who.username,
            "keys.rotate",
            {
                "phase": "started",
                "new_key_id": report.new_key_id,
                "old_key_id": report.old_key_id,
                "from_plain": from_plain,
                "resumed": report.resumed,
            },
        )
        with ctx.writing("key rotation"):  # one writer at a time on the data directory
            budget = Budget(stop_after)
            counts: dict[str, int] = state.setdefault("counts", {})
            for stage in STAGES:
                if stage in state["done"]:
                    continue
                before = budget.used
                try:
                    self._run_stage(stage, keys, state, budget, on_progress)
                finally:  # items rewritten count even when the run is interrupted
                    counts[stage] = counts.get(stage, 0) + budget.used - before
                    self._save_state(state)
                state["done"].append(stage)
                self._save_state(state)
        report.counts = dict(counts)
        ctx.governance.record(
            who.username,
            "keys.rotate",
            {"phase": "finished", "new_key_id": report.new_key_id, "counts": report.counts},
        )
        self.state_path.unlink(missing_ok=True)
        return report

    def _run_stage(
        self,
        stage: str,
        keys: Keyring,
        state: dict[str, Any],
        budget: Budget,
        on_progress: ProgressFn | None,
    ) -> int:
        gallery = self.ctx.gallery
        sessions = gallery.catalog.session
        if stage == "embeddings":

            def cursor(last: int) -> None:
                state["embeddings_after"] = last
                self._save_state(state)

            return rotate_embeddings(
                sessions,
                keys,
                after_id=int(state.get("embeddings_after", 0)),
                on_progress=on_progress,
                on_cursor=cursor,
                budget=budget,
            )
        if stage == "face-vectors":  # other recognizers' vectors (model migrations)
            return rotate_face_vectors(sessions, keys, on_progress=on_progress, spend=budget.spend)
        if stage == "index":
            if gallery.backends.vector_store.kind != "faiss":
                return 0  # Milvus keeps its vectors itself (docs/security.md)
            if on_progress is not None:
                on_progress("index", 0, 1)
            done = rotate_index(gallery.vectors.directory, keys, budget)
            if on_progress is not None:
                on_progress("index", 1, 1)
            return done
        if stage == "probes":
            return rotate_column(
                sessions,
                Probe.id,
                Probe.data,
                Probe.sha256,
                keys,
                stage="probes",
                on_progress=on_progress,
                budget=budget,
                extra={"encrypted": True},
            )
        if stage == "blobs":
            refs = [
                Image.thumbnail,
                Image.original,
                FaceRow.crop,
                SecondVectorQueue.chip,
                CandidateRow.crop,
            ]
            rewritten, _ = rotate_blobs(
                gallery.blobs,
                keys,
                sessions,
                refs,
                on_progress=on_progress,
                budget=budget,
                on_renamed=rename_preview_crops,  # removal previews name crops in JSON
            )
            return rewritten
        if stage == "suppressions":
            return rotate_vectors(
                sessions,
                Suppression.id,
                Suppression.embedding,
                Suppression.model,
                SUPPRESSION_COLUMN,
                keys,
                stage=stage,
                on_progress=on_progress,
                budget=budget,
            )
        if stage == "standing":  # standing queries: both vectors and the kept probe
            done = 0
            for column, model, label in (
                (StandingQuery.embedding, StandingQuery.model, STANDING_EMBEDDING),
                (StandingQuery.second_embedding, StandingQuery.second_model, STANDING_SECOND),
            ):
                done += rotate_vectors(
                    sessions, StandingQuery.id, column, model, label, keys,
                    stage=stage, on_progress=on_progress, budget=budget,
                )  # fmt: skip
            return done + rotate_column(
                sessions, StandingQuery.id, StandingQuery.probe, StandingQuery.probe_sha256, keys,
                stage=stage, on_progress=on_progress, budget=budget,
            )  # fmt: skip
        if stage == "moved-vectors":  # standing data's vectors of other recognizers
            moved = 0
            for cls, id_column, label in (
                (StandingQueryVector, "query_id", STANDING_EMBEDDING),
                (SuppressionVector, "suppression_id", SUPPRESSION_COLUMN),
                (MediaFaceVector, "face_id", MEDIA_FACE_COLUMN),
            ):
                table = cast(Table, cls.__table__)
                moved += rotate_pair_vectors(
                    sessions, table, id_column, label, keys,
                    stage=stage, on_progress=on_progress, budget=budget,
                )  # fmt: skip
            return moved
        if stage == "media-faces":
            return rotate_vectors(
                sessions,
                MediaFace.id,
                MediaFace.embedding,
                MediaFace.model,
                MEDIA_FACE_COLUMN,
                keys,
                stage=stage,
                on_progress=on_progress,
                budget=budget,
            )
        media = FileBlobStore(gallery.data_dir / MEDIA_BLOBS, cipher=keys.new)
        rewritten, _ = rotate_blobs(
            media,
            keys,
            sessions,
            [MediaFile.thumbnail, MediaFace.crop],
            stage="media-blobs",
            on_progress=on_progress,
            budget=budget,
        )
        return rewritten
