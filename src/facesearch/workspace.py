"""The governed product: a gallery (the engine) plus governance (who may do what, and the audit).

The CLI, and any later web app or API, go through a ``Workspace`` so that the same rules apply
everywhere: ingest and removal are administrative acts by a named administrator and are
logged; searches run only inside an open, approved case (``Governance.search``); the
suppression list keeps removed people out of later ingests and results.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import sessionmaker

from facesearch.gallery import Gallery
from facesearch.govern import Governance, load_policy
from facesearch.govern.errors import RefusedError
from facesearch.govern.searches import SearchOutcome
from facesearch.govern.users import Role
from facesearch.ingest.runner import IngestReport, ProgressCallback
from facesearch.search import SearchResult
from facesearch.settings import Settings, resolve_data_dir
from facesearch.store.catalog import SearchFilters
from facesearch.store.crypto import Cipher

POLICY_FILE = "policy.toml"


@dataclass
class Workspace:
    gallery: Gallery
    governance: Governance

    @classmethod
    def open(
        cls, data_dir: Path | str | None = None, *, database_url: str | None = None
    ) -> Workspace:
        """Open the gallery in ``data_dir`` with the policy in ``data_dir/policy.toml``
        (the packaged default policy where there is none)."""
        root = resolve_data_dir(data_dir)
        gallery = Gallery.open(root, database_url=database_url)
        policy_path = root / POLICY_FILE
        policy = load_policy(policy_path if policy_path.exists() else None)
        governance = Governance(
            sessionmaker(gallery.catalog.engine, expire_on_commit=False),
            policy,
            backend=gallery,
            cipher=Cipher.from_env(),
        )
        return cls(gallery, governance)

    @classmethod
    def from_settings(cls, settings: Settings) -> Workspace:
        """The workspace the settings name (data directory, catalog URL, encryption key).

        With SQLite, governance transactions are serialised in this process (one writer at a
        time keeps the audit chain's head consistent under concurrent requests)."""
        root = settings.data_dir
        gallery = Gallery.open(root, database_url=settings.catalog_url)
        policy_path = root / POLICY_FILE
        policy = load_policy(policy_path if policy_path.exists() else None)
        governance = Governance(
            sessionmaker(gallery.catalog.engine, expire_on_commit=False),
            policy,
            backend=gallery,
            cipher=Cipher.from_env(settings.encryption_environ()),
        )
        if gallery.catalog.engine.dialect.name == "sqlite":
            governance.transaction_lock = threading.RLock()
        return cls(gallery, governance)

    def close(self) -> None:
        self.gallery.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- set-up -------------------------------------------------------------------------------
    def init(self, admin: str, password: str | None = None, display_name: str = "") -> Path:
        """Write the default policy into the data directory (if none is there) and create the
        first administrator. Refused when the workspace already has users."""
        policy_path = self.gallery.data_dir / POLICY_FILE
        if not policy_path.exists():
            from importlib import resources

            default = resources.files("facesearch.govern") / "default_policy.toml"
            policy_path.write_text(default.read_text(encoding="utf-8"), encoding="utf-8")
        self.governance.add_user(admin, admin, [Role.ADMINISTRATOR], password, display_name)
        return policy_path

    # --- governed search ----------------------------------------------------------------------
    def search(
        self,
        actor: str,
        case: str,
        probe: bytes,
        *,
        k: int | None = None,
        face: int | None = None,
        filters: SearchFilters | None = None,
        include_flagged: bool = False,
    ) -> tuple[SearchOutcome, SearchResult | None]:
        """A search inside ``case`` by ``actor``; refused (and logged) unless the policy allows.

        Returns the governed outcome (what may be shown, as recorded) and the engine's own
        result (probe faces, timings), which is None when the search was refused.
        """
        engine = _FilteredSearch(self.gallery, filters, include_flagged)
        outcome = self.governance.search(
            actor,
            case,
            probe,
            k=k,
            face=face,
            collection=filters.collection if filters else None,
            backend=engine,
        )
        return outcome, engine.last

    # --- administrative acts ----------------------------------------------------------------
    def ingest(
        self,
        actor: str,
        paths: Sequence[Path | str],
        *,
        collection: str | None = None,
        manifest: Path | str | None = None,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest by an administrator; suppressed people are left out; the run is logged."""
        asked = {
            "sources": [str(p) for p in paths] + ([str(manifest)] if manifest else []),
            "collection": collection,
        }
        self.governance.require_role(actor, "ingest", Role.ADMINISTRATOR, asked)
        matcher = self.governance.suppression_matcher()
        model = self.gallery.model_key
        self.gallery.suppression = (
            (lambda emb: bool(matcher.is_suppressed(emb, model))) if len(matcher) else None
        )
        try:
            report = self.gallery.ingest(
                paths,
                collection=collection,
                manifest=manifest,
                workers=workers,
                on_progress=on_progress,
            )
        finally:
            self.gallery.suppression = None
        self.governance.record(
            actor,
            "ingest.run",
            {
                **asked,
                "run_id": report.run_id,
                **report.counts(),
                "interrupted": report.interrupted,
            },
        )
        return report

    def remove_faces(self, actor: str, face_ids: Sequence[int], reason: str) -> int:
        """Delete faces from the catalog and the index at once (administrators; logged)."""
        ids = [int(i) for i in face_ids]
        self.governance.require_role(
            actor, "faces.delete", Role.ADMINISTRATOR, {"faces": ids, "reason": reason}
        )
        removed = self.gallery.remove_faces(ids)
        self.governance.record(
            actor, "faces.delete", {"faces": ids, "removed": removed, "reason": reason}
        )
        return removed

    def reindex(self, actor: str) -> int:
        self.governance.require_role(actor, "index.rebuild", Role.ADMINISTRATOR, {})
        n = self.gallery.reindex()
        self.governance.record(actor, "index.rebuild", {"faces": n})
        return n

    def embed_first_faces(self, paths: Sequence[Path]) -> tuple[np.ndarray, str]:
        """The largest face of each photo (for a removal request); refuses a photo without one."""
        vectors = []
        for path in paths:
            faces = self.gallery.embed(path)
            if not faces:
                raise RefusedError("suppress.preview", f"no face found in {path}")
            vectors.append(faces[0].embedding)
        return np.stack(vectors), self.gallery.model_key


class _FilteredSearch:
    """The gallery as a search backend, with the filters governance does not know about, and
    keeping the engine's result for the caller."""

    def __init__(
        self, gallery: Gallery, filters: SearchFilters | None, include_flagged: bool
    ) -> None:
        self.gallery = gallery
        self.filters = filters
        self.include_flagged = include_flagged
        self.last: SearchResult | None = None

    def search(
        self,
        probe: bytes,
        k: int = 20,
        *,
        face: int | None = None,
        collection: str | None = None,
    ) -> SearchResult:
        self.last = self.gallery.search(
            probe, k, face=face, filters=self.filters, include_flagged=self.include_flagged
        )
        return self.last
