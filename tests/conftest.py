"""Shared fixtures: real models, fresh galleries, the shared face data and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.agency_model import make_agency_model

REPO = Path(__file__).resolve().parents[1]
SHARED_FACES = Path(os.environ.get("FACESEARCH_SHARED_FACES", REPO.parent / "shared" / "faces"))
POSTGRES_URL = os.environ.get(
    "FACESEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def restore_umask() -> Iterator[None]:
    """The CLI sets the process umask to 0o077 (its files are private), and tests run it in
    this process: put the umask back after each test, so every test sees the one it started
    with."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "README.md").exists():
        pytest.skip(f"shared face data not found at {SHARED_FACES} (set FACESEARCH_SHARED_FACES)")
    return SHARED_FACES


@pytest.fixture(scope="session")
def pipeline():  # type: ignore[no-untyped-def]
    from facesearch.engine.pipeline import FacePipeline

    return FacePipeline.load()


@pytest.fixture
def gallery(tmp_path: Path, pipeline):  # type: ignore[no-untyped-def]
    """A fresh gallery in a temporary data directory (SQLite), sharing the loaded models."""
    from facesearch.search.gallery import Gallery

    g = Gallery.open(tmp_path / "data", pipeline=pipeline)
    yield g
    g.close()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


@pytest.fixture(scope="session")
def other_faces() -> list[np.ndarray]:
    """Faces of other people from installed packages (RGB uint8)."""
    import cv2
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    hopper = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    lfw = data.lfw_subset()[:100]  # the first 100 are faces
    small = [
        cv2.resize((img * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        for img in lfw
    ]
    return [hopper, *[np.repeat(s[:, :, None], 3, axis=2) for s in small]]


@pytest.fixture(scope="session")
def other_embeddings(pipeline, other_faces) -> np.ndarray:
    """Embeddings of the largest face in each of ``other_faces`` (computed once)."""
    from facesearch.engine.decode import decode_array

    vectors = [
        faces[0].embedding
        for img in other_faces
        if (faces := pipeline.process_image(decode_array(img)).faces)
    ]
    return np.stack(vectors)


def _postgres_available() -> bool:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} in CI")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def write_image(path: Path, rgb: np.ndarray, **save_args: object) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **save_args)
    return path


# --- distributed backends: real servers started once per test session ----------------------


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus standalone (the ``milvus`` package's server binary, ~15-25 s to start),
    or the server at $FACESEARCH_TEST_MILVUS_URI when set (two standalones cannot run on one
    machine: the embedded etcd's peer port 2380 is fixed)."""
    given = os.environ.get("FACESEARCH_TEST_MILVUS_URI")
    if given:
        yield given
        return
    try:
        from milvus import MilvusServer
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        pytest.skip(f"the milvus server package cannot be imported: {exc}")
    server = MilvusServer()
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus")))
    try:
        server.start()
    except Exception as exc:  # pragma: no cover - e.g. not Linux x86_64
        pytest.skip(f"the milvus standalone server cannot run here: {exc}")
    try:
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server over HTTP on loopback (no S3 server comes from PyPI)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[str]:
    """A local Ray cluster with 2 CPUs (in production: ``ray://HOST:10001``)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield "ray://local"
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def agency_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real second ONNX recognizer and its TOML card (tests/support/agency_model.py):
    (model file, card file), made once per session (about a second)."""
    return make_agency_model(tmp_path_factory.mktemp("agency-model"))
