"""Where the vectors and the blobs live, chosen by URL in the typed settings.

``FACESEARCH_VECTOR_STORE``: ``faiss`` (default; files in ``index/`` of the data directory), or
``milvus://HOST:19530[?collection=..&index=HNSW&..]``.
``FACESEARCH_BLOBS``: ``file`` (default; the ``blobs/`` folder), or
``s3://BUCKET/PREFIX[?endpoint_url=..&region=..]``.

Milvus query parameters: ``collection`` (the collection name prefix, default ``facesearch``),
``index`` (``HNSW``, ``IVF_FLAT``, ``IVF_SQ8``, ``DISKANN``, ``FLAT``), build parameters
(``M``, ``efConstruction``, ``nlist``), search parameters (``ef``, ``nprobe``,
``search_list``), ``rerank`` (shortlist re-scored exactly), ``partitions``, ``secure=true``
(HTTPS), ``consistency`` (``Strong`` default, or ``Bounded``: see ``store/vectors/milvus.py``);
``milvus://USER:PASSWORD@HOST:PORT`` passes ``USER:PASSWORD`` as the token. S3 credentials
come from boto3's usual chain (environment, ``~/.aws``, instance role), never the URL. A
malformed URL raises :class:`~facesearch.errors.ConfigError` naming the setting.

Each spec parses its URL once; nothing connects at parse time: ``open`` connects. The
executor setting is ingest's (``ingest/executors.py``); ``search/backends.py`` holds the four.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse, urlunparse

from facesearch.errors import ConfigError
from facesearch.store.blobs import FileBlobStore
from facesearch.store.vectors.faiss_store import FaissVectorStore
from facesearch.store.vectors.plan import new_index

if TYPE_CHECKING:
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.crypto import Cipher
    from facesearch.store.s3_blobs import S3BlobStore
    from facesearch.store.vectors.milvus import MilvusConfig
    from facesearch.store.vectors.port import FacetResolver, VectorStore

VECTOR_STORE_ENV = "FACESEARCH_VECTOR_STORE"
BLOBS_ENV = "FACESEARCH_BLOBS"

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


def url_query(setting: str, url: str, query: str, allowed: set[str]) -> dict[str, str]:
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
        q = url_query(setting, text, parsed.query, allowed)
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

    def open(
        self,
        model_key: str,
        dim: int,
        *,
        directory: Path | None = None,
        resolver: FacetResolver | None = None,
        load: bool = True,
        cipher: Cipher | None = None,
    ) -> VectorStore:
        """The store for vectors of ``model_key``: the FAISS index saved in ``directory`` (an
        empty, ``fresh`` one without a directory or with ``load`` False, e.g. to rebuild a
        damaged one; ``resolver`` answers the facet terms of a filter, else the store keeps
        facets itself; ``cipher``: its files are encrypted), or the Milvus collection of that
        model (which keeps the facets beside the vectors, in the clear on the Milvus server:
        docs/security.md)."""
        if self.milvus is not None:
            from facesearch.store.vectors.milvus import MilvusVectorStore

            return MilvusVectorStore(self.milvus, model_key, dim)

        if directory is None or not load:
            index = new_index(model_key, dim)
            return FaissVectorStore(index, resolver, directory=directory, fresh=True, cipher=cipher)
        return FaissVectorStore.open(directory, model_key, dim, resolver, cipher=cipher)


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
        q = url_query(BLOBS_ENV, text, parsed.query, {"endpoint_url", "region"})
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

    def open(self, data_dir: Path, cipher: Cipher | None) -> FileBlobStore | S3BlobStore:
        """The blob store: ``data_dir/blobs`` or the S3 bucket and prefix."""
        if self.kind == "file":
            return FileBlobStore(Path(data_dir) / "blobs", cipher=cipher)
        from facesearch.store.s3_blobs import S3BlobStore, S3Location

        return S3BlobStore(
            S3Location(self.bucket, self.prefix),
            cipher=cipher,
            endpoint_url=self.endpoint_url,
            region=self.region,
            create_bucket=True,
        )
