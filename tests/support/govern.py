"""Shared fixtures for the governance tests (imported by the test_govern_* modules).

The search backend is a fake: it maps probe bytes ``b"probe:<person>:<variant>"`` to a
deterministic embedding and searches the *real* catalog tables (faces written through
``facesearch.store.schema``) by cosine similarity. Everything else is real: SQLite (or
PostgreSQL) database, argon2, SHA-256 chains.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, delete, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

import facesearch.migrations.tables  # noqa: F401  (registers every table: governance, media)
from facesearch.app.governed import SearchRequest, search_photo
from facesearch.govern import Governance, Role, SearchOutcome, default_policy, parse_policy
from facesearch.govern.policy import Policy
from facesearch.store.catalog import SearchFilters
from facesearch.store.schema import Base, Collection, Image, Provenance
from facesearch.store.schema import FaceRow as Face

DIM = 128
MODEL = "sface-test"
MODEL_SHA = hashlib.sha256(b"sface-test-model").hexdigest()
PASSWORD = "correct horse battery"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get(
    "FACESEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def person_vec(person: int, variant: int = 0) -> np.ndarray:
    base = np.random.default_rng(person).standard_normal(DIM)
    base /= np.linalg.norm(base)
    noise = np.random.default_rng(100_000 + person * 1000 + variant).standard_normal(DIM)
    noise /= np.linalg.norm(noise)
    v = base + 0.45 * noise
    return (v / np.linalg.norm(v)).astype(np.float32)


def probe_bytes(person: int, variant: int = 99) -> bytes:
    return f"probe:{person}:{variant}".encode()


def band_of(score: float) -> str:
    return "strong" if score >= 0.6 else "possible" if score >= 0.4 else "weak"


@dataclass
class FakeBackend:
    """Searches the catalog's faces by cosine similarity; see the module docstring.

    Returns the engine's own ``facesearch.search.scoring.SearchResult``, so a change to the
    engine's result shows up here."""

    session_factory: Any
    quality: float | None = 0.9
    calls: list[tuple[int, int | None, str | None]] = field(default_factory=list)
    fail: bool = False

    def search(
        self, probe: bytes, k: int = 20, *, face: int | None = None, collection: str | None = None
    ) -> Any:
        from facesearch.search.scoring import ProbeFace, SearchCandidate, SearchResult

        self.calls.append((k, face, collection))
        if self.fail:
            raise RuntimeError("engine exploded")
        _, person, variant = probe.decode().split(":")
        q = person_vec(int(person), int(variant))
        with self.session_factory() as s:
            rows = s.execute(
                select(Face.id, Face.embedding, Image.sha256, Image.id, Image.path)
                .join(Image, Face.image_id == Image.id)
                .where(Face.model == MODEL)
            ).all()
            scored = []
            for face_id, blob, sha, image_id, path in rows:
                score = round(float(np.frombuffer(blob, dtype="<f4") @ q), 4)
                prov = [
                    {"collection": c, "path": p, "source_url": u}
                    for c, p, u in s.execute(
                        select(Collection.name, Provenance.path, Provenance.source_url)
                        .join(Collection, Provenance.collection_id == Collection.id)
                        .where(Provenance.image_id == image_id)
                    )
                ]
                scored.append((score, face_id, sha, path, prov))
        scored.sort(key=lambda c: -c[0])
        candidates = [
            SearchCandidate(
                rank=rank,
                face_id=face_id,
                score=score,
                band=band_of(score),
                face_index=0,
                bbox=(10.0, 10.0, 100.0, 100.0),
                quality=0.9,
                crop=None,
                crop_path=None,
                image_sha256=sha,
                image_path=path,
                thumbnail=None,
                provenance=prov,
            )
            for rank, (score, face_id, sha, path, prov) in enumerate(scored[:k], start=1)
        ]
        sha = hashlib.sha256(probe).hexdigest()
        searched = 0 if face is None else face
        return SearchResult(
            probe_sha256=sha,
            model=MODEL,
            model_sha256=MODEL_SHA,
            thresholds={"match": 0.4, "strong": 0.6},
            k=k,
            face=searched,
            probe_faces=[
                ProbeFace(i, (0.0, 0.0, 50.0, 50.0), self.quality, ()) for i in range(searched + 1)
            ]
            if self.quality is not None
            else [],
            candidates=candidates,
            gallery_size=len(rows),
            seconds=0.001,
        )


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def add_face(session: Session, person: int, variant: int, collection: str = "web") -> int:
    """Ingest one image holding one face of ``person`` into the real catalog tables."""
    coll = session.execute(
        select(Collection).where(Collection.name == collection)
    ).scalar_one_or_none()
    if coll is None:
        coll = Collection(name=collection)
        session.add(coll)
        session.flush()
    content = f"image:{person}:{variant}:{collection}".encode()
    sha = hashlib.sha256(content).hexdigest()
    img = Image(
        sha256=sha,
        bytes=len(content),
        width=640,
        height=480,
        format="JPEG",
        path=f"/data/{collection}/p{person}_{variant}.jpg",
        face_count=1,
    )
    session.add(img)
    session.flush()
    session.add(
        Provenance(
            image_id=img.id,
            collection_id=coll.id,
            path=img.path,
            source_url=f"https://example.org/{collection}/{person}/{variant}",
        )
    )
    face = Face(
        image_id=img.id,
        face_index=0,
        x=10,
        y=10,
        w=100,
        h=100,
        landmarks=[[0.0, 0.0]] * 5,
        detector_score=0.99,
        quality=0.9,
        sharpness=100.0,
        yaw=0.0,
        model=MODEL,
        embedding=person_vec(person, variant).astype("<f4").tobytes(),
        crop=None,
    )
    session.add(face)
    session.flush()
    return face.id


def remove_faces_from(session_factory: Any) -> Any:
    """A remover like ``gallery.remove_faces``: deletes faces (and emptied images)."""

    def remove(face_ids: list[int]) -> int:
        with session_factory() as s:
            image_ids = set(s.execute(select(Face.image_id).where(Face.id.in_(face_ids))).scalars())
            n = s.execute(delete(Face).where(Face.id.in_(face_ids))).rowcount
            for image_id in image_ids:
                s.execute(delete(Provenance).where(Provenance.image_id == image_id))
                s.execute(delete(Image).where(Image.id == image_id))
            s.commit()
            return int(n or 0)

    return remove


def sqlite_engine() -> Engine:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _fk(dbapi_conn: Any, _record: Any) -> None:  # as the catalog's engine does
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    Base.metadata.create_all(engine)
    return engine


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = sqlite_engine()
    yield e
    e.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    try:
        import psycopg  # noqa: F401

        admin = create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"gov_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    e = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        Base.metadata.create_all(e)
        yield e
    finally:
        e.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def policy_with(**overrides: str) -> Policy:
    """The default policy with some lines replaced: ``policy_with(**{"max_candidates = 20":
    "max_candidates = 3"})`` (keys are exact lines of default_policy.toml)."""
    text_ = default_policy().text
    for old, new in overrides.items():
        assert old in text_, old
        text_ = text_.replace(old, new)
    return parse_policy(text_, "<test>")


@dataclass
class World:
    gov: Governance
    clock: Clock
    backend: FakeBackend
    sessions: Any
    faces: dict[tuple[int, int], int]

    def search(
        self,
        actor: str,
        case: str | None,
        probe: bytes,
        *,
        k: int | None = None,
        face: int | None = None,
        collection: str | None = None,
    ) -> SearchOutcome:
        """A governed search the way the application runs one (permit, engine, record:
        ``facesearch.app.governed``), with the fake backend as the engine."""
        return governed_photo_search(
            self.gov, self.backend, actor, case, probe, k, face, collection
        )

    def audit_actions(self) -> list[str]:
        from facesearch.govern.audit import entries

        with self.sessions() as s:
            return [e.action for e in entries(s)]

    def last_entry(self, action: str | None = None) -> Any:
        from facesearch.govern.audit import entries

        with self.sessions() as s:
            found = [e for e in entries(s) if action is None or e.action == action]
        return found[-1] if found else None


def governed_photo_search(
    gov: Governance,
    backend: FakeBackend,
    actor: str,
    case: str | None,
    probe: bytes,
    k: int | None = None,
    face: int | None = None,
    collection: str | None = None,
) -> SearchOutcome:
    """The application's governed one-photo search over ``gov``, ``backend`` as the engine."""
    request = SearchRequest(k, face, SearchFilters(collection=collection) if collection else None)
    outcome, _ = search_photo(
        gov,
        actor,
        case,
        probe,
        request,
        lambda p, k_used, r: backend.search(p, k_used, face=r.face, collection=r.collection),
    )
    return outcome


def make_world(
    engine: Engine, policy: Policy | None = None, passwords: bool = False, **gov_kwargs: Any
) -> World:
    sessions = sessionmaker(engine)
    clock = Clock()
    backend = FakeBackend(sessions)
    gov = Governance(sessions, policy or default_policy(), clock=clock, **gov_kwargs)
    gov.add_user("admin", "admin", [Role.ADMINISTRATOR], None)
    for name, role in [
        ("alice", Role.INVESTIGATOR),
        ("bob", Role.INVESTIGATOR),
        ("sam", Role.SUPERVISOR),
        ("sue", Role.SUPERVISOR),
        ("audrey", Role.AUDITOR),
    ]:
        # argon2 is deliberately slow: passwords only for the tests that use them
        add_user_approved(gov, "admin", name, [role], PASSWORD if passwords else None)
    faces: dict[tuple[int, int], int] = {}
    with sessions() as s:
        for person in range(1, 6):
            for variant in range(2):
                faces[(person, variant)] = add_face(s, person, variant)
        s.commit()
    return World(gov, clock, backend, sessions, faces)


def open_approved_case(w: World, number: str = "C-1") -> None:
    w.gov.open_case(
        "alice", number, "threat-to-life", "Warrant 2024/117", "Kidnapping suspect seen on CCTV"
    )
    w.clock.advance(minutes=5)
    w.gov.approve_case("sam", number, "urgent, proportionate")
    w.clock.advance(minutes=5)


@pytest.fixture
def world(engine: Engine) -> World:
    return make_world(engine)


def allow_tampering(engine: Engine) -> None:
    """Drop the append-only triggers, as someone with owner rights on the database could."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER gov_audit_no_update"))
            conn.execute(text("DROP TRIGGER gov_audit_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER gov_audit_no_change ON gov_audit"))


SECOND_ADMIN = "admin2"


def second_admin(gov: Governance, name: str = SECOND_ADMIN) -> str:
    """A second administrator for test fixtures, written straight into the users table: the
    tests' own bootstrap (no command or route can add an administrator without a second
    one's approval)."""
    from facesearch.govern.schema import User

    with gov.session() as s:
        if s.execute(select(User).where(User.username == name)).scalar_one_or_none() is None:
            s.add(User(username=name, display_name="", roles="administrator", active=True))
    return name


def add_user_approved(
    gov: Governance,
    proposer: str,
    name: str,
    roles: Any,
    password: str | None = None,
    display_name: str = "",
) -> None:
    """Add a user; an administrator or supervisor (a pending change) is then approved by a
    second administrator (:func:`second_admin`)."""
    change = gov.add_user(proposer, name, roles, password, display_name)
    if change is not None:
        approver = second_admin(gov) if proposer != SECOND_ADMIN else "admin"
        gov.approve_change(approver, change.id)
