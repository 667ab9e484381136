"""Model migrations: moving the gallery to another recognizer without stopping searches.

``ModelMigrations.start_or_resume`` runs the migration pass (``search/migration.py``): every
face re-embedded with the target model into ``face_vectors``, resumable, while searches keep
using the current model. ``app/model_switch.py`` adds the switch (one atomic, audited step once
the pass is ``ready``), the switch back and the drop of old vectors to this resource.

Administrators only. Audited: ``models.migrate`` with ``phase`` "started" or "resumed" (the
target, the model keys, the workers) and "finished" (the pass's figures and final state: ready,
interrupted or failed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from facesearch.app.context import AppContext
from facesearch.app.model_moves import MoveReport
from facesearch.app.principal import Principal
from facesearch.app.standing_moves import StandingMoves
from facesearch.engine.pipeline import embedding_model_key
from facesearch.govern.users import Role
from facesearch.search.calibration import gallery_manifest
from facesearch.search.migration import (
    MigrationCallback,
    MigrationError,
    MigrationPass,
    MigrationProgress,
    MigrationReport,
    target_of,
)
from facesearch.store import model_migrations as rows
from facesearch.store.model_migrations import MigrationStatus

__all__ = [
    "MigrationCallback",
    "MigrationError",
    "MigrationProgress",
    "MigrationReport",
    "MigrationStatus",
    "ModelMigrations",
]

ACTION = "models.migrate"


class ModelMigrations:
    """The model-migration resource (``Service.migrations``)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        #: the last pass's report in this process (the CLI prints its faces/s)
        self.last_report: MigrationReport | None = None
        #: what the last run did to the standing data (standing queries, media faces,
        #: suppression entries) once every face was ready
        self.last_moves: list[MoveReport] = []

    def status(self) -> MigrationStatus | None:
        """The latest migration (None: none was ever started)."""
        return rows.latest(self.ctx.gallery.catalog.engine)

    def start_or_resume(
        self,
        who: Principal,
        target: str,
        *,
        workers: int | None = None,
        on_progress: MigrationCallback | None = None,
        on_standing: Callable[[str, int, int], None] | None = None,
    ) -> MigrationStatus:
        """Re-embed every face of the gallery with ``target`` (a model of the packaged
        manifest or the model store, not the one searched now), or resume the migration to it
        where it stopped. The target need not be calibrated for this (the switch needs it).
        Returns the migration's status once the pass ends (ready, interrupted, failed). Once
        every face is ready, the standing data moves too (``StandingMoves.prepare``: its
        vectors of the target are made, ``on_standing(kind, done, total)``; what cannot move
        is what the switch then names)."""
        ctx = self.ctx
        gallery = ctx.gallery
        gov = ctx.governance
        asked = {"target": target, "workers": workers}
        gov.require_role(who.username, ACTION, Role.ADMINISTRATOR, asked)
        manifest = gallery_manifest(gallery.data_dir, gallery.catalog)  # the store as it is now
        if target == manifest.default_recognizer:
            raise MigrationError(f"the gallery already searches with {target}")
        spec, target_key = target_of(manifest, target, gallery.pipeline_settings)
        source_key = embedding_model_key(manifest, gallery.pipeline_settings)
        if target_key == source_key:
            raise MigrationError(f"the gallery's vectors are already {target_key}")
        engine = gallery.catalog.engine
        started, resumed = rows.open_migration(engine, target, target_key, source_key, who.username)
        gov.record(
            who.username,
            ACTION,
            {
                "phase": "resumed" if resumed else "started",
                "migration": started.id,
                "target": target,
                "target_model_key": target_key,
                "source_model_key": source_key,
                "workers": workers,
            },
        )
        report: MigrationReport | None = None
        try:
            report = MigrationPass(
                gallery,
                started.id,
                spec,
                target_key,
                source_key,
                workers=workers,
                on_progress=on_progress,
                executor=gallery.backends.executor_factory(),
            ).run()
        finally:
            self.last_report = report
            status = rows.get(engine, started.id)
            gov.record(
                who.username,
                ACTION,
                {
                    "phase": "finished",
                    "migration": started.id,
                    "target": target,
                    **(report.counts() if report else {"state": status.state if status else ""}),
                },
            )
        assert status is not None
        self.last_moves = []
        if status.state == "ready":
            self.last_moves = StandingMoves(ctx).prepare(who, target, on_progress=on_standing)
        return status


def report_summary(status: MigrationStatus, report: MigrationReport | None) -> dict[str, object]:
    """What the CLI and the API print after a pass: the row's figures and this run's rate."""
    out: dict[str, object] = dataclasses.asdict(status)
    if report is not None:
        out |= {
            "made_now": report.made,
            "seconds": round(report.seconds, 2),
            "faces_per_second": round(report.faces_per_second, 1),
            "executor": report.executor,
        }
    return out
