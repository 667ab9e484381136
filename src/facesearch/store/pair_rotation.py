"""Key rotation of vectors kept per (row id, model): the vectors of other recognizers that
standing data keeps while the gallery moves between models (``standing_query_vectors``,
``suppression_vectors``, ``media_face_vectors``). Each is sealed like its owner's column
(:func:`~facesearch.store.crypto.embedding_aad` of the owner's id, the vector's model and the
owner column's label), so the bytes can move between the two tables as they are."""

from __future__ import annotations

from sqlalchemy import Table, bindparam, func, select, update

from facesearch.store.crypto import Keyring, embedding_aad
from facesearch.store.rotation import Budget, ProgressFn, Sessions


def rotate_pair_vectors(
    sessions: Sessions,
    table: Table,
    id_column: str,
    label: str,
    keys: Keyring,
    *,
    stage: str,
    chunk: int = 500,
    on_progress: ProgressFn | None = None,
    budget: Budget | None = None,
) -> int:
    """Re-encrypt ``table``'s ``embedding`` column (rows keyed by ``id_column`` and ``model``)
    with the new key, a chunk of ids per transaction; returns how many rows were rewritten."""
    ids_col, model_col, emb_col = table.c[id_column], table.c.model, table.c.embedding
    with sessions() as s:
        total = int(s.scalar(select(func.count()).select_from(table)) or 0)
    rewritten = seen = last = 0
    while True:
        with sessions() as s:
            ids = list(
                s.scalars(
                    select(ids_col).where(ids_col > last).distinct().order_by(ids_col).limit(chunk)
                )
            )
            if not ids:
                break
            last = int(ids[-1])
            changes = []
            try:
                for row_id, model, blob in s.execute(
                    select(ids_col, model_col, emb_col).where(ids_col.in_(ids))
                ):
                    seen += 1
                    if keys.is_current(blob):
                        continue
                    if budget is not None:
                        budget.spend()
                    aad = embedding_aad(row_id, model, label)
                    changes.append(
                        {
                            "i": row_id,
                            "m": model,
                            "e": keys.new.encrypt(keys.decrypt(blob, aad), aad),
                        }
                    )
            finally:  # what was rewritten before a stop is committed with this chunk
                if changes:
                    s.execute(
                        update(table)
                        .where(ids_col == bindparam("i"), model_col == bindparam("m"))
                        .values({emb_col: bindparam("e")}),
                        changes,
                    )
                    rewritten += len(changes)
        if on_progress is not None:
            on_progress(stage, seen, total)
    if on_progress is not None:
        on_progress(stage, total, total)
    return rewritten
