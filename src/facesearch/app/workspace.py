"""The governed product: a gallery (the engine) plus governance (who may do what, and the audit).

The application's composition root (:class:`facesearch.app.Service`, which the CLI, the HTTP
API and the web app call) holds a ``Workspace``: ingest and removal are administrative acts by
a named administrator and are logged; searches run only inside an open, approved case
(``facesearch.app.governed``); the suppression list keeps removed people out of later ingests
and results.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from facesearch.govern import Governance, load_policy
from facesearch.govern.users import Role
from facesearch.ingest.runner import IngestReport, ProgressCallback
from facesearch.ingest.second_pass import SecondPassCallback, SecondPassReport
from facesearch.ingest.second_vectors import SecondVectors
from facesearch.media.report import register as register_media_sections
from facesearch.search.backends import Backends
from facesearch.search.gallery import Gallery
from facesearch.settings import Settings
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
        (the packaged default policy where there is none); the rest from the settings."""
        return cls.from_settings(Settings.load(data_dir=data_dir, database_url=database_url))

    @classmethod
    def from_settings(cls, settings: Settings) -> Workspace:
        """The workspace the settings name (data directory, catalog URL, encryption key, and
        the vector store, blob store and executor URLs: ``facesearch.search.backends``).

        With SQLite, governance transactions are serialised in this process (one writer at a
        time keeps the audit chain's head consistent under concurrent requests)."""
        root = settings.data_dir
        backends = Backends.from_settings(settings)
        gallery = Gallery.open(
            root, settings=settings, database_url=settings.catalog_url, backends=backends
        )
        policy_path = root / POLICY_FILE
        policy = load_policy(policy_path if policy_path.exists() else None)
        governance = Governance(
            sessionmaker(gallery.catalog.engine, expire_on_commit=False),
            policy,
            cipher=Cipher.from_env(settings.encryption_environ()),
            signing_env=settings.audit_key_environ(),
        )
        if gallery.catalog.engine.dialect.name == "sqlite":
            governance.transaction_lock = threading.RLock()
        # victim identification's case-report sections (media, persons, alerts): wired here,
        # above both, so that governance imports no feature
        register_media_sections(governance.report_sections)
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
        second_pass: bool = True,
        on_second_progress: SecondPassCallback | None = None,
        second_vectors: SecondVectors = "auto",
    ) -> IngestReport:
        """Ingest by an administrator; suppressed people are left out; the run is logged.

        ``second_vectors`` says where second vectors are made (``Gallery.ingest``). Then,
        unless ingest was interrupted or ``second_pass`` is False, the second-vector pass runs
        on the faces still queued, if any (its report is ``report.second_pass``; Ctrl-C stops
        it cleanly, and :meth:`second_pass` or the next ingest resumes it)."""
        asked = {
            "sources": [str(p) for p in paths] + ([str(manifest)] if manifest else []),
            "collection": collection,
        }
        self.governance.require_role(actor, "ingest", Role.ADMINISTRATOR, asked)
        matcher = self.governance.suppression_matcher()
        model = self.gallery.model_key
        report = self.gallery.ingest(
            paths,
            collection=collection,
            manifest=manifest,
            workers=workers,
            on_progress=on_progress,
            suppressed=(lambda emb: bool(matcher.is_suppressed(emb, model)))
            if len(matcher)
            else None,
            second_vectors=second_vectors,
        )
        if second_pass and not report.interrupted:
            report.second_pass = self.gallery.second_pass(
                workers=workers, on_progress=on_second_progress
            )
        self.governance.record(
            actor,
            "ingest.run",
            {
                **asked,
                "run_id": report.run_id,
                **report.counts(),
                "interrupted": report.interrupted,
                **(report.second_pass.counts() if report.second_pass else {}),
            },
        )
        return report

    def second_pass(
        self,
        actor: str,
        *,
        workers: int | None = None,
        on_progress: SecondPassCallback | None = None,
    ) -> SecondPassReport:
        """Run (or resume) the second-vector pass alone (administrators; logged)."""
        self.governance.require_role(actor, "ingest.second_pass", Role.ADMINISTRATOR, {})
        report = self.gallery.second_pass(workers=workers, on_progress=on_progress)
        self.governance.record(
            actor, "ingest.second_pass", {**report.counts(), "interrupted": report.interrupted}
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
