"""The four backends a gallery uses, chosen by URL in the typed settings.

One place turns the four settings into backends; the gallery and the application service open
through it, so every command and the HTTP server work unchanged on any combination:

``FACESEARCH_DATABASE_URL``: SQLite ``catalog.db`` in the data directory (default), or
``postgresql+psycopg://USER:PASS@HOST/DB``.
``FACESEARCH_VECTOR_STORE`` and ``FACESEARCH_BLOBS``: parsed and opened by ``store/backends.py``.
``FACESEARCH_EXECUTOR``: parsed, and its executor built, by ``ingest/executors.py``.

Nothing here connects at import or parse time: :class:`Backends` only describes; the
``open_*`` methods connect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from facesearch.errors import ConfigError
from facesearch.ingest.executors import ExecutorSpec
from facesearch.store.backends import BlobSpec, VectorStoreSpec, mask_url

if TYPE_CHECKING:
    from facesearch.ingest.runner import ExecutorFactory
    from facesearch.settings import Settings
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.crypto import Cipher
    from facesearch.store.s3_blobs import S3BlobStore
    from facesearch.store.vectors.port import FacetResolver, VectorStore

__all__ = ["Backends", "BlobSpec", "ExecutorSpec", "VectorStoreSpec", "mask_url"]

DATABASE_ENV = "FACESEARCH_DATABASE_URL"


@dataclass(frozen=True)
class Backends:
    """The four backends a gallery uses (descriptions only; ``open_*`` connects)."""

    database_url: str | None = None  # None: SQLite in the data directory
    vector_store: VectorStoreSpec = field(default_factory=lambda: VectorStoreSpec.parse(None))
    blobs: BlobSpec = field(default_factory=lambda: BlobSpec.parse(None))
    executor: ExecutorSpec = field(default_factory=lambda: ExecutorSpec.parse(None))

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        return cls.parse(
            database_url=settings.catalog_url,
            vector_store=settings.vector_store,
            blobs=settings.blobs,
            executor=settings.executor,
        )

    @classmethod
    def parse(
        cls,
        *,
        database_url: str | None = None,
        vector_store: str | None = None,
        blobs: str | None = None,
        executor: str | None = None,
    ) -> Backends:
        if database_url is not None:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(database_url)
            except ArgumentError:
                raise ConfigError(
                    f"{DATABASE_ENV}={mask_url(database_url)}: not a database URL "
                    "(e.g. postgresql+psycopg://USER:PASSWORD@HOST:5432/DB)"
                ) from None
        return cls(
            database_url,
            VectorStoreSpec.parse(vector_store),
            BlobSpec.parse(blobs),
            ExecutorSpec.parse(executor),
        )

    @property
    def embedded(self) -> bool:
        return (
            self.vector_store.kind == "faiss"
            and self.blobs.kind == "file"
            and (self.database_url is None or self.database_url.startswith("sqlite"))
        )

    def describe(self) -> dict[str, str]:
        """Which backend holds what, as ``facesearch stats`` shows it (credentials masked)."""
        return {
            "database": mask_url(self.database_url) if self.database_url else "sqlite (data dir)",
            "vector_store": mask_url(self.vector_store.url),
            "blobs": mask_url(self.blobs.url),
            "executor": mask_url(self.executor.url),
        }

    # --- opening ------------------------------------------------------------------------------
    def open_vector_store(
        self,
        model_key: str,
        dim: int,
        *,
        directory: Path | None = None,
        resolver: FacetResolver | None = None,
        load: bool = True,
        cipher: Cipher | None = None,
    ) -> VectorStore:
        """The vector store (``store.backends.VectorStoreSpec.open``)."""
        return self.vector_store.open(
            model_key, dim, directory=directory, resolver=resolver, load=load, cipher=cipher
        )

    def open_blobs(self, data_dir: Path, cipher: Cipher | None) -> FileBlobStore | S3BlobStore:
        """The blob store: ``data_dir/blobs`` or the S3 bucket and prefix."""
        return self.blobs.open(data_dir, cipher)

    def executor_factory(self) -> ExecutorFactory | None:
        """How ingest starts its workers (``ingest.executors.ExecutorSpec.factory``)."""
        return self.executor.factory()
