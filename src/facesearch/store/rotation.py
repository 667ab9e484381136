"""Re-encrypting what is stored under a new key (``facesearch keys rotate``; the orchestration,
its progress record and its audit entries are in ``facesearch.app.keys``).

Each step is idempotent and recognises what it has already done by the key id every encrypted
item carries (``store/crypto.py``): an item under the new key is skipped, one under the old key
is decrypted with it, a plain one is encrypted only when the :class:`Keyring` accepts plain
data (``--from-plain``). So a rotation killed at any point is finished by running it again.

Blobs change name when names are keyed (the name key derives from the encryption key): each
batch writes the new files, then renames every reference to them in the catalog in one
transaction, then deletes the old files. A crash between these steps leaves an old file that
the next run processes again (its new file is found, its references are renamed again, a
no-op, and it is deleted).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Table, and_, bindparam, func, not_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from facesearch.errors import EncryptionError
from facesearch.store.crypto import HEADER_LEN, MAGIC, TAG_LEN, Keyring, embedding_aad, key_id_of
from facesearch.store.schema import FaceRow
from facesearch.store.vectors.files import META_FILE
from facesearch.store.vectors.load import load_index

#: (stage, done, total): what the command shows as progress bars
ProgressFn = Callable[[str, int, int], None]
Sessions = Callable[[], AbstractContextManager[Session]]


class RotationStopped(Exception):
    """Raised by a :class:`Budget` that ran out (tests: a rotation killed halfway)."""


@dataclass
class Budget:
    """Counts the items rewritten (``used``, one ``spend`` before each) and how many may still
    be before the run stops (``left``, None: no limit; the test hook that simulates a kill at
    an exact point)."""

    left: int | None = None
    used: int = 0

    def spend(self) -> None:
        if self.left is not None:
            if self.left <= 0:
                raise RotationStopped("rotation stopped by its test hook")
            self.left -= 1
        self.used += 1


class StoredBlobs(Protocol):
    def keys(self) -> list[str]: ...
    def get_stored(self, key: str) -> bytes: ...
    def put_stored(self, key: str, body: bytes) -> None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> bool: ...


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rotate_embeddings(
    sessions: Sessions,
    keys: Keyring,
    *,
    after_id: int = 0,
    chunk: int = 1000,
    on_progress: ProgressFn | None = None,
    on_cursor: Callable[[int], None] | None = None,
    budget: Budget | None = None,
) -> int:
    """Re-encrypt every face's vectors (``faces.embedding``, ``faces.second_embedding``) with
    the new key, by id from ``after_id``; ``on_cursor(last id)`` after each committed chunk.
    Returns how many faces were rewritten."""
    with sessions() as s:
        total = int(s.scalar(select(FaceRow.id).order_by(FaceRow.id.desc()).limit(1)) or 0)
    rewritten, last = 0, after_id
    while True:
        with sessions() as s:
            rows = s.execute(
                select(
                    FaceRow.id,
                    FaceRow.model,
                    FaceRow.embedding,
                    FaceRow.second_model,
                    FaceRow.second_embedding,
                )
                .where(FaceRow.id > last)
                .order_by(FaceRow.id)
                .limit(chunk)
            ).all()
            if not rows:
                break
            changes = []
            stopped: RotationStopped | None = None
            for face_id, model, emb, second_model, second in rows:
                first_ok = keys.is_current(emb)
                second_ok = second is None or keys.is_current(second)
                if not (first_ok and second_ok):
                    try:
                        if budget is not None:
                            budget.spend()
                    except RotationStopped as exc:
                        stopped = exc
                        break
                    change: dict[str, Any] = {"id": face_id}
                    if not first_ok:
                        aad = embedding_aad(face_id, model)
                        change["embedding"] = keys.new.encrypt(keys.decrypt(emb, aad), aad)
                    if second is not None and not second_ok:
                        aad = embedding_aad(face_id, second_model or "", "second_embedding")
                        change["second_embedding"] = keys.new.encrypt(
                            keys.decrypt(second, aad), aad
                        )
                    changes.append(change)
                last = int(face_id)
            for change in changes:  # one statement per face: the columns changed differ
                s.execute(update(FaceRow).where(FaceRow.id == change.pop("id")).values(**change))
            rewritten += len(changes)
        if stopped is not None:
            raise stopped
        if on_cursor is not None:
            on_cursor(last)
        if on_progress is not None:
            on_progress("embeddings", last, total)
    if on_progress is not None:
        on_progress("embeddings", total, total)
    return rewritten


def rotate_column(
    sessions: Sessions,
    pk: InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any],
    aad_of: InstrumentedAttribute[Any],
    keys: Keyring,
    *,
    stage: str,
    on_progress: ProgressFn | None = None,
    budget: Budget | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """Re-encrypt one binary column (e.g. stored probe images), each value bound to the
    text in ``aad_of``; rows where it is NULL are left. ``extra``: values set on each
    rewritten row too. Returns how many rows were rewritten."""
    with sessions() as s:
        ids = list(s.scalars(select(pk).where(column.is_not(None)).order_by(pk)))
    done = seen = 0
    for part in _batches(ids, 200):
        with sessions() as s:
            for row_id, blob, bound in s.execute(select(pk, column, aad_of).where(pk.in_(part))):
                if blob is None or keys.is_current(blob):
                    continue
                if budget is not None:
                    budget.spend()
                aad = str(bound).encode()
                sealed = keys.new.encrypt(keys.decrypt(blob, aad), aad)
                s.execute(
                    update(pk.class_).where(pk == row_id).values({column: sealed, **(extra or {})})
                )
                done += 1
        seen += len(part)
        if on_progress is not None:
            on_progress(stage, seen, len(ids))
    return done


def count_plain(sessions: Sessions, column: InstrumentedAttribute[Any]) -> int:
    """How many rows hold a value of ``column`` stored without encryption (no sealed header):
    what ``keys rotate --from-plain`` would encrypt. Counted by the database from each value's
    first bytes and length (SQLite and PostgreSQL alike); no value is read here."""
    sealed = and_(
        func.substr(column, 1, len(MAGIC)) == MAGIC,
        func.length(column) >= HEADER_LEN + TAG_LEN,
    )
    query = select(func.count()).select_from(column.class_)
    with sessions() as s:
        return int(s.scalar(query.where(column.is_not(None), not_(sealed))) or 0)


def rotate_vectors(
    sessions: Sessions,
    pk: InstrumentedAttribute[int],
    column: InstrumentedAttribute[Any],
    model: InstrumentedAttribute[Any],
    label: str,
    keys: Keyring,
    *,
    stage: str,
    chunk: int = 1000,
    on_progress: ProgressFn | None = None,
    budget: Budget | None = None,
) -> int:
    """Re-encrypt a table's vectors (``column``), each bound to its row id, its ``model`` and
    ``label`` (:func:`embedding_aad`: e.g. ``gov_suppressions.embedding``), by id in chunks of
    one transaction each. Returns how many rows were rewritten."""
    with sessions() as s:
        total = int(s.scalar(select(func.count()).select_from(pk.class_)) or 0)
    rewritten = seen = last = 0
    while True:
        stopped: RotationStopped | None = None
        with sessions() as s:
            rows = s.execute(
                select(pk, model, column).where(pk > last).order_by(pk).limit(chunk)
            ).all()
            if not rows:
                break
            changes = []
            for row_id, row_model, blob in rows:
                if blob is not None and not keys.is_current(blob):
                    try:
                        if budget is not None:
                            budget.spend()
                    except RotationStopped as exc:
                        stopped = exc
                        break
                    aad = embedding_aad(row_id, row_model or "", label)
                    changes.append(
                        {"row_id": row_id, "sealed": keys.new.encrypt(keys.decrypt(blob, aad), aad)}
                    )
                last = int(row_id)
                seen += 1
            if changes:  # what was rewritten before a stop is committed with this chunk
                table: Table = pk.class_.__table__
                s.execute(
                    update(table)
                    .where(table.c[pk.key] == bindparam("row_id"))
                    .values({table.c[column.key]: bindparam("sealed")}),
                    changes,
                )
            rewritten += len(changes)
        if stopped is not None:
            raise stopped
        if on_progress is not None:
            on_progress(stage, seen, total)
    if on_progress is not None:
        on_progress(stage, total, total)
    return rewritten


def rotate_blobs(
    store: StoredBlobs,
    keys: Keyring,
    sessions: Sessions,
    refs: Sequence[InstrumentedAttribute[Any]],
    *,
    stage: str = "blobs",
    batch: int = 256,
    on_progress: ProgressFn | None = None,
    budget: Budget | None = None,
    on_renamed: Callable[[Session, dict[str, str]], object] | None = None,
) -> tuple[int, int]:
    """Re-encrypt every blob of ``store`` under the new key and its new name, renaming the
    catalog columns in ``refs`` that name it; ``on_renamed(session, {old: new})`` renames
    the other references (e.g. inside JSON) in the same transaction. Returns (rewritten,
    renamed)."""
    names = store.keys()
    rewritten = renamed = 0
    seen = 0
    for part in _batches(names, batch):
        moves: dict[str, str] = {}
        stopped: RotationStopped | None = None
        for name in part:
            body = store.get_stored(name)
            if keys.is_current(body):
                continue
            try:
                if budget is not None:
                    budget.spend()
            except RotationStopped as exc:
                stopped = exc
                break
            plain = keys.decrypt(body, name.encode())
            if key_id_of(body) is None and hashlib.sha256(plain).hexdigest() != name:
                raise EncryptionError(
                    f"the plain blob {name} does not hold what its name says: refused"
                )
            new = keys.new.blob_name(plain)
            if new == name or not store.exists(new) or not keys.is_current(store.get_stored(new)):
                store.put_stored(new, keys.new.encrypt(plain, new.encode()))
            rewritten += 1
            if new != name:
                moves[name] = new
        if moves:
            pairs = [{"old_name": o, "new_name": n} for o, n in moves.items()]
            with sessions() as s:
                for col in refs:
                    table: Table = col.class_.__table__
                    target = table.c[col.key]
                    s.execute(
                        update(table)
                        .where(target == bindparam("old_name"))
                        .values({target: bindparam("new_name")}),
                        pairs,
                    )
                if on_renamed is not None:
                    on_renamed(s, moves)
            for old in moves:
                store.delete(old)
            renamed += len(moves)
        if stopped is not None:
            raise stopped
        seen += len(part)
        if on_progress is not None:
            on_progress(stage, seen, len(names))
    if on_progress is not None:
        on_progress(stage, len(names), len(names))
    return rewritten, renamed


def index_key_id(directory: Path) -> str | None:
    """The key id the saved index in ``directory`` records (None: none saved, or plain)."""
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    enc = meta.get("encrypted") if isinstance(meta, dict) else None
    return str(enc.get("key_id")) if isinstance(enc, dict) else None


def rotate_index(directory: Path, keys: Keyring, budget: Budget | None = None) -> int:
    """Re-encrypt the saved FAISS index in ``directory`` (decrypted into memory with the key
    its header names, written under the new key). Returns 1 if rewritten, else 0."""
    if not (directory / META_FILE).exists():
        return 0
    if index_key_id(directory) == keys.new.key_id.hex():
        return 0
    index = load_index(directory, keys)
    if index is None:
        return 0
    if budget is not None:
        budget.spend()
    index.save(directory, keys.new)
    return 1
