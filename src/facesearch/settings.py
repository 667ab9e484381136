"""Typed settings, built once (in ``main()`` or ``create_app``) and passed down.

Every setting comes from an argument, else the environment variable ``FACESEARCH_<NAME>``
(e.g. ``FACESEARCH_DATA_DIR``, ``FACESEARCH_DATABASE_URL``), else its default. One spelling per
setting: the database URL is ``FACESEARCH_DATABASE_URL`` only. ``FACESEARCH_DATA`` is still read
for the data directory (the older name) when ``FACESEARCH_DATA_DIR`` is unset.

:meth:`Settings.check_for_start` refuses to serve outside development mode with a missing or
default secret key, so a production server never signs anything with a known key.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from facesearch.errors import ConfigError

DATA_DIR_ENV = "FACESEARCH_DATA"  # the older name of FACESEARCH_DATA_DIR, still read
DATABASE_URL_ENV = "FACESEARCH_DATABASE_URL"
DEFAULT_DATA_DIR = Path("facesearch-data")
DEVELOPMENT_SECRET = "development-only-not-secret"
MIN_SECRET_LENGTH = 32


def default_model_cache_dir() -> Path:
    """Where derived model files are built when no ``model_cache_dir`` is set."""
    return Path.home() / ".cache" / "facesearch" / "models"


class Settings(BaseSettings):
    """Everything the service and the server need from their environment."""

    model_config = SettingsConfigDict(env_prefix="FACESEARCH_", extra="ignore")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Data directory.")
    database_url: str | None = Field(
        default=None, description="Catalog URL (default: SQLite catalog.db in the data dir)."
    )
    # where the data lives and the work runs (facesearch/search/backends.py parses and checks these)
    vector_store: str = Field(
        default="faiss", description="'faiss' (embedded) or milvus://HOST:19530[?...]."
    )
    blobs: str = Field(
        default="file", description="'file' (the data dir) or s3://BUCKET/PREFIX[?endpoint_url=]."
    )
    executor: str = Field(
        default="local", description="'local' (worker processes), ray://HOST:10001 or ray://local."
    )
    environment: Literal["development", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_probe_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_archive_bytes: int = Field(default=2 * 1024 * 1024 * 1024, ge=1)
    # hostile clients (facesearch/serve/api/guard.py, uploads.py): every request body is capped
    # before it is read; every archive (uploaded, or read by an ingest) is checked before its
    # photos are ingested
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest JSON or form body (uploads aside)."
    )
    max_archive_members: int = Field(
        default=100_000, ge=1, description="Most files an archive may hold (uploads and ingest)."
    )
    max_archive_member_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest file inside an archive (uploads and ingest).",
    )
    max_archive_expanded_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024, ge=1, description="Most bytes an archive expands to."
    )
    max_archive_ratio: int = Field(
        default=100, ge=1, description="Highest expanded/compressed ratio of an archive file."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For, "
        "X-Forwarded-Proto and Forwarded headers are believed (default: none).",
    )
    refusal_summary_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Anonymous refusals from one address for one reason: the first is logged, "
        "the rest counted and logged as one summary per this many seconds.",
    )
    ingest_roots: list[Path] = Field(
        default_factory=list, description="Server folders an administrator may ingest from."
    )
    search_workers: int = Field(default=2, ge=1, le=64)
    search_queue_size: int = Field(default=64, ge=0)
    ingest_workers: int | None = Field(
        default=None, ge=0, description="Ingest worker processes (0: in the server process)."
    )
    ingest_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU priority of ingest's worker processes below the server's (nice): "
        "searches made during an ingest keep their speed; 0: the same priority.",
    )
    writer_wait: float | None = Field(
        default=None,
        ge=0,
        description="Seconds a write (ingest, removal, re-index, key rotation) waits for another "
        "process's write on the same data directory before it is refused (default: it waits).",
    )
    second_vectors: Literal["auto", "ingest", "pass"] = Field(
        default="auto",
        description="Where ingest makes each face's second vector: in its workers ('ingest'), "
        "in the pass after it ('pass'), or 'auto': in the workers unless the second "
        "recognizer runs on dlib's own (slow) code (src/facesearch/ingest/second_vectors.py).",
    )
    # gallery originals (ingest/runner.py, app/faces.py): every photo ingested is kept in the
    # blob store, so its full image never depends on where it was read from
    keep_originals: bool = Field(
        default=True,
        description="Keep each ingested photo in the blob store (false: the full image is read "
        "from where it was ingested, while it is still there).",
    )
    max_original_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Largest photo kept as an original (a larger one is read from its path).",
    )
    # encryption at rest (facesearch/store/crypto.py, keysource.py): one key source at most
    encryption_key: SecretStr | None = None
    encryption_key_file: Path | None = Field(
        default=None, description="File holding the encryption key (mode 0600, outside the data)."
    )
    key_command: str | None = Field(
        default=None, description="Command printing the encryption key (run without a shell)."
    )
    key_command_timeout: float = Field(default=10.0, gt=0, le=600)
    old_encryption_key: SecretStr | None = Field(
        default=None, description="The previous key, read by 'facesearch keys rotate' only."
    )
    # audit checkpoints (facesearch/govern/checkpoint.py): the signing key, a file or its PEM
    audit_key: Path | None = Field(
        default=None, description="Private key file that signs audit checkpoints."
    )
    audit_key_pem: SecretStr | None = Field(
        default=None, description="The checkpoint signing key's PEM text (instead of a file)."
    )
    # the demo photos (facesearch/app/demo_photos.py; the demo and the smoke test of
    # models add): where they are cached
    demo_photos: Path | None = Field(
        default=None,
        description="Demo photo cache (default: facesearch/demo-photos in the "
        "user's cache folder, $XDG_CACHE_HOME or ~/.cache).",
    )
    cache_home: Path | None = Field(default=None, validation_alias="XDG_CACHE_HOME")
    secure_cookies: bool | None = Field(
        default=None, description="Mark cookies Secure (default: when the request is HTTPS)."
    )
    login_failures_per_minute: int = Field(
        default=5, ge=1, description="Failed logins per account before it waits (backoff)."
    )
    login_failures_per_address: int = Field(
        default=100, ge=1, description="Failed logins per minute from one client address."
    )
    malloc_arenas: int | None = Field(
        default=None,
        ge=0,
        description="glibc malloc arenas for the server's threads (default: search workers "
        "+ 1; 0: glibc's own default of 8 per core).",
    )
    # victim identification (facesearch media ...)
    media_pdq_threshold: int = Field(
        default=31, ge=0, le=256, description="PDQ Hamming distance that eliminates a file."
    )
    media_min_pdq_quality: int = Field(
        default=50, ge=0, le=100, description="PDQ hashes of lower quality are not trusted."
    )
    media_cluster_threshold: float = Field(
        default=0.50, gt=-1.0, lt=1.0, description="Cosine similarity joining faces."
    )
    media_video_fps: float = Field(
        default=2.0, gt=0.0, le=120.0, description="Video frames sampled per second for faces."
    )
    media_video_faces_per_track: int = Field(
        default=3, ge=1, le=100, description="Best faces kept of each appearance in a video."
    )
    media_video_max_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1, description="Largest video imported (read in memory)."
    )
    # Inference (src/facesearch/models/inference.py): where derived model files are built, and
    # runtimes chosen instead of the manifest's (e.g. "opencv", "onnxruntime-fp32").
    model_cache_dir: Path | None = Field(
        default=None, description="Derived model files (default: ~/.cache/facesearch/models)."
    )
    reports_public_fields: list[str] = Field(
        default=[
            "date",
            "case_ref",
            "purpose",
            "results",
            "reviewed",
            "possible_matches",
            "confirmed",
            "outcomes",
        ],
        description="Fields of the public-records export of the search log (JSON list).",
    )
    detector_runtime: str | None = None
    recognizer_runtime: str | None = None
    second_runtime: str | None = None

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return [item.strip() for item in value]

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """The settings from the environment, with explicit (non-None) ``overrides`` winning."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" not in given and "FACESEARCH_DATA_DIR" not in os.environ:
            legacy = os.environ.get(DATA_DIR_ENV)
            if legacy:
                given["data_dir"] = Path(legacy)
        return cls(**given)  # type: ignore[arg-type]

    @property
    def catalog_url(self) -> str:
        return resolve_database_url(self.data_dir, self.database_url)

    @property
    def resolved_model_cache_dir(self) -> Path:
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        return default_model_cache_dir()

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    def check_for_start(self) -> None:
        """Refuse to serve outside development with a missing, default or short secret key."""
        if self.is_development:
            return
        secret = self.secret_key.get_secret_value()
        if not secret or secret == DEVELOPMENT_SECRET or len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "FACESEARCH_SECRET_KEY must be set to a random secret of at least "
                f"{MIN_SECRET_LENGTH} characters outside development mode (e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )

    def audit_key_environ(self) -> dict[str, str]:
        """The checkpoint signing key as ``govern.checkpoint.load_signing_key`` reads it
        (empty: no key configured)."""
        env: dict[str, str] = {}
        if self.audit_key is not None:
            env["FACESEARCH_AUDIT_KEY"] = str(self.audit_key)
        if self.audit_key_pem is not None:
            env["FACESEARCH_AUDIT_KEY_PEM"] = self.audit_key_pem.get_secret_value()
        return env

    @property
    def demo_photos_dir(self) -> Path:
        """Where the demo's photos are cached."""
        if self.demo_photos is not None:
            return self.demo_photos.expanduser()
        base = self.cache_home or Path.home() / ".cache"
        return base / "facesearch" / "demo-photos"

    def encryption_environ(self) -> dict[str, str]:
        """The environment's encryption key as ``Cipher.from_env`` reads it (empty: none).
        Only that source: ``Cipher.from_settings`` reads whichever of the key, the key file
        and the key command is set (the gallery builds its cipher that way)."""
        key = self.encryption_key.get_secret_value() if self.encryption_key else ""
        return {"FACESEARCH_ENCRYPTION_KEY": key}


# --- thin shims for callers not yet moved onto Settings (removed at the merge) ---------------


def resolve_data_dir(path: Path | str | None = None) -> Path:
    """The option if given, else $FACESEARCH_DATA_DIR / $FACESEARCH_DATA, else ./facesearch-data."""
    if path is not None:
        return Path(path)
    env = os.environ.get("FACESEARCH_DATA_DIR") or os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DATA_DIR


def resolve_database_url(data_dir: Path, url: str | None = None) -> str:
    """The option if given, else $FACESEARCH_DATABASE_URL, else SQLite in the data directory."""
    if url:
        return url
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return env
    return f"sqlite:///{(data_dir / 'catalog.db').resolve()}"
