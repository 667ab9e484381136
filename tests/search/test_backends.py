"""Configuration by URL: the four backend settings, their checks, and what ``stats`` shows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.errors import ConfigError
from facesearch.search.backends import Backends, mask_url
from facesearch.settings import Settings

runner = CliRunner()


def test_defaults_are_the_embedded_backends(tmp_path, monkeypatch) -> None:
    for name in ("VECTOR_STORE", "BLOBS", "EXECUTOR", "DATABASE_URL"):
        monkeypatch.delenv(f"FACESEARCH_{name}", raising=False)
    b = Backends.from_settings(Settings.load(data_dir=tmp_path))
    assert (b.vector_store.kind, b.blobs.kind, b.executor.kind) == ("faiss", "file", "local")
    assert b.embedded
    assert b.executor_factory() is None  # the runner's own local process pool


def test_urls_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(
        "FACESEARCH_VECTOR_STORE",
        "milvus://svc:pw@milvus.internal:19531?collection=prod&index=IVF_SQ8&nlist=4096"
        "&nprobe=32&rerank=300&partitions=16",
    )
    monkeypatch.setenv("FACESEARCH_BLOBS", "s3://faces/prod/blobs?endpoint_url=http://minio:9000")
    monkeypatch.setenv("FACESEARCH_EXECUTOR", "ray://head.internal")
    monkeypatch.setenv("FACESEARCH_DATABASE_URL", "postgresql+psycopg://fs:dbpw@pg/facesearch")
    b = Backends.from_settings(Settings.load(data_dir=tmp_path))
    m = b.vector_store.milvus
    assert m is not None
    assert (m.uri, m.token, m.prefix, m.index_type) == (
        "http://milvus.internal:19531",
        "svc:pw",
        "prod",
        "IVF_SQ8",
    )
    assert m.build_params == {"nlist": 4096} and m.query_params == {"nprobe": 32}
    assert (m.rerank, m.num_partitions) == (300, 16)
    assert (b.blobs.bucket, b.blobs.prefix, b.blobs.endpoint_url) == (
        "faces",
        "prod/blobs",
        "http://minio:9000",
    )
    assert b.executor.address == "ray://head.internal:10001"
    assert Backends.parse(executor="ray://local").executor.address is None
    bounded = Backends.parse(vector_store="milvus://h?consistency=bounded").vector_store.milvus
    assert bounded is not None and bounded.consistency == "Bounded"
    assert m.consistency == "Strong"  # the default: removed faces never returned
    shown = json.dumps(b.describe())
    assert "dbpw" not in shown and ":pw@" not in shown and "***" in shown
    assert not b.embedded


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("vector_store", "milvus://"),
        ("vector_store", "elastic://host:9200"),
        ("vector_store", "milvus://host:19530?index=ANNOY"),
        ("vector_store", "milvus://host:19530?nprobe=many"),
        ("vector_store", "milvus://host:19530?colection=typo"),
        ("vector_store", "milvus://host:notaport"),
        ("vector_store", "milvus://host?consistency=sometimes"),
        ("blobs", "s3://"),
        ("blobs", "gs://bucket/prefix"),
        ("blobs", "s3://KEY:SECRET@bucket/prefix"),
        ("blobs", "s3://bucket?endpoint_url=minio:9000"),
        ("executor", "ray:/head"),
        ("executor", "dask://head:8786"),
        ("database_url", "not a url"),
    ],
)
def test_bad_urls_name_their_setting(setting: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        Backends.parse(**{setting: value})
    message = str(err.value)
    assert f"FACESEARCH_{setting.upper()}" in message
    assert "SECRET" not in message


def test_mask_url() -> None:
    assert mask_url("postgresql://u:p4ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("milvus://h:19530") == "milvus://h:19530"
    assert mask_url("faiss") == "faiss"


def test_stats_shows_the_backends_and_refuses_a_bad_url(tmp_path, monkeypatch) -> None:
    for name in ("VECTOR_STORE", "BLOBS", "EXECUTOR", "DATABASE_URL"):
        monkeypatch.delenv(f"FACESEARCH_{name}", raising=False)
    data = str(tmp_path / "data")
    res = runner.invoke(app, ["stats", "--json", "-d", data])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    shown = info["backends"]
    assert shown["database"].startswith("sqlite:///") and shown["database"].endswith("catalog.db")
    assert (shown["vector_store"], shown["blobs"], shown["executor"]) == ("faiss", "file", "local")
    res = runner.invoke(
        app, ["stats", "-d", data], env={"FACESEARCH_VECTOR_STORE": "milvus://h?index=ANNOY"}
    )
    assert res.exit_code == 1
    assert "FACESEARCH_VECTOR_STORE" in res.output and "ANNOY" in res.output


def test_store_specs_open_the_embedded_backends(tmp_path) -> None:
    """The store's specs open what the gallery uses; the executor spec is ingest's."""
    import numpy as np

    from facesearch.ingest.executors import ExecutorSpec
    from facesearch.store.backends import BlobSpec, VectorStoreSpec
    from facesearch.store.blobs import FileBlobStore
    from facesearch.store.vectors.faiss_store import FaissVectorStore

    spec = VectorStoreSpec.parse("faiss")
    store = spec.open("m@1", 4, directory=tmp_path / "index")
    assert isinstance(store, FaissVectorStore) and store.fresh and store.keeps_facets
    store.add(np.array([7]), np.eye(4, dtype=np.float32)[:1])
    store.save()
    again = spec.open("m@1", 4, directory=tmp_path / "index", resolver=lambda w: np.array([7]))
    assert not again.fresh and not again.keeps_facets and again.ids().tolist() == [7]
    assert again.last_id() == 7
    unread = spec.open("m@1", 4, directory=tmp_path / "index", load=False)
    assert unread.fresh and unread.count() == 0
    with pytest.raises(Exception, match="facesearch reindex"):
        spec.open("other@2", 4, directory=tmp_path / "index")
    blobs = BlobSpec.parse(None).open(tmp_path, None)
    assert isinstance(blobs, FileBlobStore) and blobs.get(blobs.put(b"x")) == b"x"
    assert ExecutorSpec.parse("local").factory() is None
    assert callable(ExecutorSpec.parse("ray://local").factory())
