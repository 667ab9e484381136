"""The S3 blob store against moto's standalone S3 server over HTTP on loopback.

No S3 server comes from the package registries here, so the tests talk real HTTP (boto3's own
signing, retries and error codes) to moto's server; the same code points at MinIO or AWS.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from facesearch.store.crypto import Cipher, generate_key, is_encrypted, parse_key
from facesearch.store.s3_blobs import S3BlobStore, S3Location


def client(endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"fs-{uuid.uuid4().hex[:12]}"
    client(s3_endpoint).create_bucket(Bucket=name)
    return name


def test_location_parsing() -> None:
    assert S3Location.parse("s3://faces/prod/blobs") == S3Location("faces", "prod/blobs")
    assert S3Location.parse("s3://faces") == S3Location("faces", "")
    from facesearch.errors import ConfigError

    with pytest.raises(ConfigError):
        S3Location.parse("https://faces/prod")


def test_put_get_content_addressed(s3_endpoint: str, bucket: str) -> None:
    s3 = client(s3_endpoint)
    store = S3BlobStore(S3Location(bucket, "gallery/blobs"), client=s3)
    data = b"\xff\xd8 a jpeg, say" * 100
    key = store.put(data)
    assert key == hashlib.sha256(data).hexdigest()
    assert store.put(data) == key  # idempotent: the same object
    assert store.exists(key) and store.get(key) == data
    obj = s3.get_object(Bucket=bucket, Key=f"gallery/blobs/{key[:2]}/{key[2:4]}/{key}")
    assert obj["Body"].read() == data
    assert store.keys() == [key]
    assert store.delete(key) and not store.exists(key) and not store.delete(key)
    with pytest.raises(FileNotFoundError):
        store.get(key)
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_encrypted_at_rest(s3_endpoint: str, bucket: str) -> None:
    s3 = client(s3_endpoint)
    cipher = Cipher(parse_key(generate_key()))
    store = S3BlobStore(S3Location(bucket, "enc"), client=s3, cipher=cipher)
    data = b"face crop bytes" * 50
    key = store.put(data)
    raw = s3.get_object(Bucket=bucket, Key=store.object_key(key))["Body"].read()
    assert is_encrypted(raw) and data not in raw  # the object store holds ciphertext only
    assert store.get(key) == data
    # an object swapped under another key is detected (the ciphertext is bound to its key)
    other = store.put(b"another face" * 50)
    s3.put_object(Bucket=bucket, Key=store.object_key(other), Body=raw)
    from facesearch.errors import EncryptionError

    with pytest.raises(EncryptionError):
        store.get(other)
    # without the key the object is unreadable
    plain = S3BlobStore(S3Location(bucket, "enc"), client=s3)
    with pytest.raises(EncryptionError):
        plain.get(key)
