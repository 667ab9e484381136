"""The blob store on S3-compatible object storage (boto3): ``s3://BUCKET/PREFIX``.

The same content-addressed layout and encryption as the local store (``store/blobs.py``):
the key of a blob is the SHA-256 of its plaintext (with a cipher: its keyed HMAC), the object
is ``PREFIX/ab/cd/<name>``, and with a cipher (``FACESEARCH_ENCRYPTION_KEY``) the body is
AES-256-GCM encrypted and bound to its key before it leaves the process, so the object store
only ever holds ciphertext. Writes are idempotent (the same bytes land on the same object), so
an interrupted ingest can simply write again.

Tested against moto's standalone S3 server over HTTP on loopback (no S3 server comes from the
package registries here); ``endpoint_url`` points it at MinIO, Ceph RGW or AWS alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from facesearch.errors import ConfigError, FacesearchError
from facesearch.store.crypto import Cipher, blob_name, maybe_decrypt, maybe_encrypt

_HEX = set("0123456789abcdef")


class BlobStoreError(FacesearchError):
    """The object store refused or failed a request."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"expected s3://BUCKET/PREFIX, got {url!r}")
        return cls(parsed.netloc, parsed.path.strip("/"))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def _check_key(key: str) -> str:
    if len(key) != 64 or not set(key) <= _HEX:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class S3BlobStore:
    """Content-addressed blobs in one bucket under one prefix."""

    backend = "s3"

    def __init__(
        self,
        location: S3Location,
        *,
        cipher: Cipher | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        create_bucket: bool = False,
    ) -> None:
        import boto3

        self.location = location
        self.cipher = cipher
        self.endpoint_url = endpoint_url
        self._s3 = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        if create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_bucket(Bucket=self.location.bucket)
        except ClientError:
            self._s3.create_bucket(Bucket=self.location.bucket)

    def object_key(self, key: str) -> str:
        key = _check_key(key)
        tail = f"{key[:2]}/{key[2:4]}/{key}"
        return f"{self.location.prefix}/{tail}" if self.location.prefix else tail

    def name(self, data: bytes) -> str:
        """The name ``data`` is stored under."""
        return blob_name(self.cipher, data)

    def put(self, data: bytes) -> str:
        key = self.name(data)
        if self.exists(key):
            return key
        body = maybe_encrypt(self.cipher, data, aad=key.encode())
        try:
            self._s3.put_object(Bucket=self.location.bucket, Key=self.object_key(key), Body=body)
        except Exception as exc:
            raise BlobStoreError(f"cannot write blob {key} to {self.location.url}: {exc}") from exc
        return key

    def put_stored(self, key: str, body: bytes) -> None:
        """Write an object exactly as another blob store holds it (already encrypted when a key
        is in use, bound to ``key``): migration from a local blob store."""
        try:
            self._s3.put_object(Bucket=self.location.bucket, Key=self.object_key(key), Body=body)
        except Exception as exc:
            raise BlobStoreError(f"cannot write blob {key} to {self.location.url}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """The plaintext stored under ``key`` (strictly: see ``crypto.maybe_decrypt``);
        FileNotFoundError when there is none."""
        return maybe_decrypt(self.cipher, self.get_stored(key), aad=key.encode())

    def get_stored(self, key: str) -> bytes:
        """The object's bytes as stored (encrypted when a key is in use)."""
        from botocore.exceptions import ClientError

        try:
            obj = self._s3.get_object(Bucket=self.location.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(2, "no such blob", key) from exc
            raise BlobStoreError(f"cannot read blob {key}: {exc}") from exc
        body: bytes = obj["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._s3.head_object(Bucket=self.location.bucket, Key=self.object_key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise BlobStoreError(f"cannot check blob {key}: {exc}") from exc

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        self._s3.delete_object(Bucket=self.location.bucket, Key=self.object_key(key))
        return True

    def path(self, key: str) -> Path:
        """Where the object lies, as a path-like name (``s3:/bucket/prefix/ab/cd/key``);
        read it with ``get``."""
        return Path(f"s3:/{self.location.bucket}/{self.object_key(key)}")

    def keys(self) -> list[str]:
        """Every blob key under the prefix (listing; for migration checks)."""
        out = []
        paginator = self._s3.get_paginator("list_objects_v2")
        prefix = f"{self.location.prefix}/" if self.location.prefix else ""
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if len(name) == 64 and set(name) <= _HEX:
                    out.append(name)
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "url": self.location.url,
            "endpoint": self.endpoint_url or "AWS default",
            "encrypted": self.cipher is not None,
        }
