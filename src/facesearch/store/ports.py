"""The engine's ports: what ingest, the second-vector pass and search need from the parts that
hold data or run work. Today's classes satisfy them (``SqlCatalog``, ``store.blobs.FileBlobStore``
and ``store.s3_blobs.S3BlobStore``, ``concurrent.futures`` executors); the protocols name only
the methods actually used, so that a replacement knows what it must provide. The vector store's
port is ``store.vectors.port.VectorStore``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from facesearch.store.catalog import (
        ImageRecord,
        PendingSecond,
        ProvenanceRecord,
        SearchFilters,
        StoredFace,
    )

T = TypeVar("T")


class Catalog(Protocol):
    """The relational record (the source of truth): images, faces, provenance, runs."""

    # ingest
    def image_id_by_sha(self, sha256: str) -> int | None: ...
    def add_images(self, records: Sequence[ImageRecord], run_id: int | None) -> list[list[int]]: ...
    def add_provenance(self, image_id: int, prov: ProvenanceRecord, run_id: int | None) -> bool: ...
    def start_run(self, sources: list[str], collection: str | None) -> int: ...
    def finish_run(self, run_id: int, status: str, counts: dict[str, int]) -> None: ...
    def add_failure(self, run_id: int, path: str, reason: str) -> None: ...

    # the second-vector pass
    def pending_second(self, after_id: int = 0, limit: int = 256) -> list[PendingSecond]: ...
    def store_second_vectors(
        self, model: str, vectors: dict[int, tuple[np.ndarray, str]]
    ) -> list[str]: ...
    def queue_stale_second(self, model: str) -> int: ...
    def fail_second(self, errors: dict[int, str]) -> None: ...
    def second_vector_counts(self, model: str | None = None) -> dict[str, int]: ...

    # search (reads only)
    def faces(self, face_ids: Sequence[int]) -> dict[int, StoredFace]: ...
    def face_ids(
        self,
        model: str,
        searchable_only: bool = True,
        collection: str | None = None,
        filters: SearchFilters | None = None,
    ) -> np.ndarray: ...
    def iter_embeddings(
        self,
        model: str,
        searchable_only: bool = True,
        chunk: int = 50_000,
        flagged_only: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


class BlobStore(Protocol):
    """Content-addressed bytes (crops, thumbnails, chips), encrypted at rest when configured."""

    def put(self, data: bytes) -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> bool: ...


class Executor(Protocol):
    """Where batches run: a process pool, or this process (:class:`InlineExecutor`)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...
    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...


class InlineExecutor:
    """Runs each task at once in this process (``workers=0``): tests, tiny jobs, debugging."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None
