"""Which engines hold the data and run the work, chosen by URL in the typed settings.

One place turns the four settings into backends; the gallery, the workspace and the service open
through it, so every command and the HTTP server work unchanged on any combination:

``FACESEARCH_DATABASE_URL``: SQLite ``catalog.db`` in the data directory (default), or
``postgresql+psycopg://USER:PASS@HOST/DB``.
``FACESEARCH_VECTOR_STORE``: ``faiss`` (default; files in ``index/``), or
``milvus://HOST:19530[?collection=..&index=HNSW&..]``.
``FACESEARCH_BLOBS``: ``file`` (default; the ``blobs/`` folder), or
``s3://BUCKET/PREFIX[?endpoint_url=..&region=..]``.
``FACESEARCH_EXECUTOR``: ``local`` (default; worker processes), ``ray://HOST:10001`` or
``ray://local``.

Milvus query parameters: ``collection`` (the collection name prefix, default ``facesearch``),
``index`` (``HNSW``, ``IVF_FLAT``, ``IVF_SQ8``, ``DISKANN``, ``FLAT``), build parameters
(``M``, ``efConstruction``, ``nlist``), search parameters (``ef``, ``nprobe``,
``search_list``), ``rerank`` (shortlist re-scored exactly), ``partitions``, ``secure=true``
(HTTPS), ``consistency`` (``Strong`` default, or ``Bounded``: see ``store/milvus_store.py``);
``milvus://USER:PASSWORD@HOST:PORT`` passes ``USER:PASSWORD`` as the token. S3 credentials
come from boto3's usual chain (environment, ``~/.aws``, instance role), never the URL. A
malformed URL raises :class:`~facesearch.errors.ConfigError` naming the setting.

Nothing here connects at import or parse time: :class:`Backends` only describes; the
``open_*`` methods connect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse, urlunparse

from facesearch.errors import ConfigError

if TYPE_CHECKING:
    from facesearch.ingest.runner import ExecutorFactory
    from facesearch.settings import Settings
    from facesearch.store.crypto import Cipher
    from facesearch.store.ports import Executor
    from facesearch.store.vectors.milvus import MilvusConfig, MilvusVectorStore

VECTOR_STORE_ENV = "FACESEARCH_VECTOR_STORE"
BLOBS_ENV = "FACESEARCH_BLOBS"
EXECUTOR_ENV = "FACESEARCH_EXECUTOR"
DATABASE_ENV = "FACESEARCH_DATABASE_URL"

_MILVUS_BUILD = {"M": int, "efConstruction": int, "nlist": int}
_MILVUS_SEARCH = {"ef": int, "nprobe": int, "search_list": int}


def mask_url(url: str) -> str:
    """The URL with any password (or token) in it replaced by ``***``."""
    try:
        parsed = urlparse(url)
    except ValueError:
        return "***"
    if parsed.password is None and "@" not in parsed.netloc:
        return url
    host = parsed.hostname or ""
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    user = parsed.username or ""
    return urlunparse(parsed._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}"))


def _query(setting: str, url: str, query: str, allowed: set[str]) -> dict[str, str]:
    values = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    out: dict[str, str] = {}
    for key, given in values.items():
        if key not in allowed:
            raise ConfigError(
                f"{setting}={mask_url(url)}: unknown parameter {key!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if len(given) != 1:
            raise ConfigError(f"{setting}={mask_url(url)}: parameter {key!r} given twice")
        out[key] = given[0]
    return out


def _int(setting: str, url: str, key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"{setting}={mask_url(url)}: {key} must be a whole number, got {text!r}"
        ) from None


@dataclass(frozen=True)
class VectorStoreSpec:
    kind: str  # "faiss" or "milvus"
    url: str
    milvus: MilvusConfig | None = None

    @classmethod
    def parse(cls, url: str | None) -> VectorStoreSpec:
        text = (url or "faiss").strip()
        if text.lower() == "faiss":
            return cls("faiss", "faiss")
        from facesearch.store.vectors.milvus import MilvusConfig

        setting = VECTOR_STORE_ENV
        parsed = urlparse(text)
        if parsed.scheme != "milvus" or not parsed.hostname:
            raise ConfigError(
                f"{setting}={mask_url(text)}: expected 'faiss' or "
                "milvus://HOST:19530[?collection=NAME&index=HNSW&...]"
            )
        try:
            port = parsed.port or 19530
        except ValueError:
            raise ConfigError(f"{setting}={mask_url(text)}: bad port") from None
        allowed = {"collection", "index", "rerank", "partitions", "secure", "consistency"}
        allowed |= set(_MILVUS_BUILD) | set(_MILVUS_SEARCH)
        q = _query(setting, text, parsed.query, allowed)
        secure = q.get("secure", "false").lower()
        if secure not in ("true", "false"):
            raise ConfigError(f"{setting}={mask_url(text)}: secure must be true or false")
        uri = f"{'https' if secure == 'true' else 'http'}://{parsed.hostname}:{port}"
        token = ""
        if parsed.username:
            token = f"{parsed.username}:{parsed.password or ''}"
        build = {k: _int(setting, text, k, q[k]) for k in _MILVUS_BUILD if k in q}
        search = {k: _int(setting, text, k, q[k]) for k in _MILVUS_SEARCH if k in q}
        kwargs: dict[str, Any] = {
            "uri": uri,
            "token": token,
            "index_params": build,
            "search_params": search,
        }
        if "collection" in q:
            kwargs["prefix"] = q["collection"]
        if "index" in q:
            kwargs["index_type"] = q["index"].upper()
        if "rerank" in q:
            kwargs["rerank"] = _int(setting, text, "rerank", q["rerank"])
        if "consistency" in q:
            kwargs["consistency"] = q["consistency"].capitalize()
        if "partitions" in q:
            kwargs["num_partitions"] = _int(setting, text, "partitions", q["partitions"])
        try:
            config = MilvusConfig(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{setting}={mask_url(text)}: {exc}") from None
        return cls("milvus", text, config)


@dataclass(frozen=True)
class BlobSpec:
    kind: str  # "file" or "s3"
    url: str
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, url: str | None) -> BlobSpec:
        text = (url or "file").strip()
        if text.lower() == "file":
            return cls("file", "file")
        parsed = urlparse(text)
        if parsed.scheme != "s3" or not parsed.netloc or "@" in parsed.netloc:
            raise ConfigError(
                f"{BLOBS_ENV}={mask_url(text)}: expected 'file' or "
                "s3://BUCKET/PREFIX[?endpoint_url=URL&region=NAME] (credentials come from "
                "the AWS environment, not the URL)"
            )
        q = _query(BLOBS_ENV, text, parsed.query, {"endpoint_url", "region"})
        endpoint = q.get("endpoint_url") or None
        if endpoint is not None and urlparse(endpoint).scheme not in ("http", "https"):
            raise ConfigError(
                f"{BLOBS_ENV}={mask_url(text)}: endpoint_url must be http:// or https://"
            )
        return cls(
            "s3",
            text,
            bucket=parsed.netloc,
            prefix=parsed.path.strip("/"),
            endpoint_url=endpoint,
            region=q.get("region") or None,
        )


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str  # "local" or "ray"
    url: str
    address: str | None = None  # None: a local Ray cluster started in this process

    @classmethod
    def parse(cls, url: str | None) -> ExecutorSpec:
        text = (url or "local").strip()
        if text.lower() == "local":
            return cls("local", "local")
        parsed = urlparse(text)
        if parsed.scheme != "ray" or not parsed.netloc or parsed.path not in ("", "/"):
            raise ConfigError(
                f"{EXECUTOR_ENV}={mask_url(text)}: expected 'local', ray://HOST:10001 or "
                "ray://local"
            )
        if parsed.netloc == "local":
            return cls("ray", text, None)
        try:
            port = parsed.port or 10001
        except ValueError:
            raise ConfigError(f"{EXECUTOR_ENV}={mask_url(text)}: bad port") from None
        return cls("ray", text, f"ray://{parsed.hostname}:{port}")


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
    def open_vector_store(self, model_key: str, dim: int) -> MilvusVectorStore:
        """The distributed vector store (the FAISS index is opened by the gallery itself,
        from its files in the data directory)."""
        if self.vector_store.milvus is None:
            raise ConfigError(f"{VECTOR_STORE_ENV} names no server (it is {self.vector_store.url})")
        from facesearch.store.vectors.milvus import MilvusVectorStore

        return MilvusVectorStore(self.vector_store.milvus, model_key, dim)

    def open_blobs(self, data_dir: Path, cipher: Cipher | None) -> Any:
        """The blob store: ``data_dir/blobs`` or the S3 bucket and prefix."""
        if self.blobs.kind == "file":
            from facesearch.store.blobs import BlobStore

            return BlobStore(Path(data_dir) / "blobs", cipher=cipher)
        from facesearch.store.s3_blobs import S3BlobStore, S3Location

        return S3BlobStore(
            S3Location(self.blobs.bucket, self.blobs.prefix),
            cipher=cipher,
            endpoint_url=self.blobs.endpoint_url,
            region=self.blobs.region,
            create_bucket=True,
        )

    def executor_factory(self) -> ExecutorFactory | None:
        """How ingest starts its workers: None for the local process pool (the runner's own),
        else a function (workers, initializer, initargs) -> a Ray executor."""
        if self.executor.kind == "local":
            return None
        address = self.executor.address

        def make(
            workers: int, initializer: Callable[..., None], initargs: tuple[Any, ...]
        ) -> Executor:
            from facesearch.ingest.ray_executor import RayExecutor

            return RayExecutor(workers, initializer, initargs, address=address)

        return make
