"""The switch of a gallery to another recognizer, the switch back, and dropping kept vectors.

A model migration (``facesearch models migrate NEW``, :mod:`facesearch.app.model_migration`)
fills ``face_vectors`` with the target model's vector of every face while searches go on with
the active model. :meth:`ModelSwitch.switch` then moves the gallery in ONE transaction, with
the data directory's writer lock and the engine's write lock held (no ingest commits and no
search runs meanwhile in this process; other processes pick the switch up before their next
search: ``search/recognizer_reload.py``):

* the vectors are swapped by set-based SQL (``store/switch.py``): every face with a target
  vector answers with it, its old vector is kept in ``face_vectors``;
* the active recognizer is recorded (``store/recognizers.set_active``, with the previous one);
* the catalog's generation is raised (every process holding the index notices);
* each standing move (``app/model_moves.py``: standing queries, media persons, suppression
  entries...) moves its items in the same transaction;
* the migration is marked switched, and the audit log records who switched, from which model
  key to which, and the counts.

It refuses, with what to do, unless the target has its own calibrated bands (a packaged model,
or a store model with ``calibration.json``), every searchable face has a target vector and no
standing move reports a blocker. :meth:`ModelSwitch.switch_back` is the same swap to the
previous recognizer (its vectors are still kept); :meth:`ModelSwitch.drop` deletes a model's
kept vectors (never the active model's). Administrators only; every act is audited.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import update
from sqlalchemy.orm import Session

from facesearch.app.context import AppContext
from facesearch.app.model_moves import StandingMove
from facesearch.app.principal import Principal
from facesearch.engine.pipeline import embedding_model_key
from facesearch.errors import ModelFileError
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role, require_user
from facesearch.models.manifest import STORE, Manifest, ModelSpec
from facesearch.models.store import verified_store_file
from facesearch.search.calibration import gallery_manifest
from facesearch.store import generation
from facesearch.store import model_migrations as migration_rows
from facesearch.store import switch as switch_sql
from facesearch.store.model_migrations import MigrationStatus
from facesearch.store.recognizers import ActiveRecognizer, read_active, set_active
from facesearch.store.schema import ModelMigration
from facesearch.store.switch import latest_migration

__all__ = [
    "DropReport",
    "ModelSwitch",
    "ModelsStatus",
    "SwitchRefusedError",
    "SwitchReport",
]

RECOGNIZER_KINDS = ("recognizer",)


class SwitchRefusedError(RefusedError):
    """A switch, switch back or drop refused for the gallery's state (not ready, nothing to
    go back to, the active model...), not for who asked: logged like every refusal (the HTTP
    API answers 409)."""


@dataclass(frozen=True)
class Recognizer:
    key: str  # the model's key (manifest or model store)
    model_key: str  # name, version and hash prefix: what recognizer_state records
    vectors_key: str  # the key its vectors carry (with the embedding variant)


@dataclass(frozen=True)
class SwitchReport:
    action: str  # "models.switch" or "models.switch_back"
    source: str
    source_model_key: str
    target: str
    target_model_key: str
    moved: int  # faces now answering with the target's vectors
    kept: int  # faces left on the source model (none searchable)
    standing: dict[str, int]  # standing move kind -> items moved
    migration_id: int | None
    audit_seq: int


@dataclass(frozen=True)
class DropReport:
    model_key: str
    vectors: int
    standing: dict[str, int]
    audit_seq: int


@dataclass(frozen=True)
class ModelsStatus:
    active: str
    active_model_key: str
    switched_at: datetime | None
    switched_by: str | None
    previous: str | None
    previous_model_key: str | None
    can_switch_back: bool
    switch_back_blockers: list[str]
    migration: MigrationStatus | None  # the latest model migration
    can_switch: bool  # the latest migration is open and its target covers every face
    switch_blockers: list[str]


class ModelSwitch:
    """Switch, switch back, drop, and the status the web app shows (see the module doc)."""

    def __init__(self, ctx: AppContext, moves: Sequence[StandingMove] | None = None) -> None:
        self.ctx = ctx
        self._moves = moves  # None: the context's (filled by the composition root)

    @property
    def moves(self) -> Sequence[StandingMove]:
        return self.ctx.moves if self._moves is None else self._moves

    # --- what the gallery knows -------------------------------------------------------------

    def _manifest(self) -> Manifest:
        gallery = self.ctx.gallery
        return gallery_manifest(gallery.data_dir, gallery.catalog, gallery.base_manifest)

    def _recognizer(self, manifest: Manifest, key: str) -> Recognizer:
        spec = manifest.models[key]
        chosen = dataclasses.replace(manifest, default_recognizer=key)
        vectors = embedding_model_key(chosen, self.ctx.gallery.pipeline_settings)
        return Recognizer(key, spec.model_key, vectors)

    def _active(self) -> Recognizer:
        gallery = self.ctx.gallery
        spec = gallery.manifest.recognizer
        return Recognizer(spec.key, spec.model_key, gallery.model_key)

    def _refuse(self, who: Principal, action: str, reason: str, asked: dict[str, Any]) -> NoReturn:
        self.ctx.governance.log_refusal(who.username, action, reason, asked)
        raise SwitchRefusedError(action, reason)

    def _uncalibrated(self, manifest: Manifest, spec: ModelSpec) -> str | None:
        """Why ``spec`` may not be searched with (None: it may)."""
        if spec.kind not in RECOGNIZER_KINDS:
            return f"{spec.key} is a {spec.kind}, not a primary recognizer"
        if spec.source != STORE:
            return None  # a packaged recognizer: the manifest's bands or the data directory's
        if {"match", "strong"} <= spec.thresholds.keys():  # its calibration.json's
            return None
        return (
            f"{spec.key} has no calibration of its own (its bands are never borrowed from "
            f"another model): run 'facesearch calibrate --model {spec.key}' on labelled photos, "
            f"then switch"
        )

    # --- switching ----------------------------------------------------------------------------

    def switch(self, who: Principal, target: str) -> SwitchReport:
        """Move the gallery to the recognizer ``target`` (see the module doc)."""
        action, asked = "models.switch", {"target": target}
        self.ctx.require(who, action, Role.ADMINISTRATOR)
        with self.ctx.writing("model switch"):  # the gallery caught up with the catalog first
            manifest = self._manifest()
            if target not in manifest.models:
                known = [k for k, s in manifest.models.items() if s.kind in RECOGNIZER_KINDS]
                self._refuse(
                    who, action, f"no recognizer {target!r} (known: {', '.join(known)})", asked
                )
            spec = manifest.models[target]
            why = self._uncalibrated(manifest, spec)
            if why:
                self._refuse(who, action, why, asked)
            if spec.source == STORE:  # its file as added (else every search would fail after)
                verified_store_file(spec)
            source = self._active()
            goal = self._recognizer(manifest, target)
            if goal.model_key == source.model_key:
                self._refuse(who, action, f"the gallery already searches with {target}", asked)
            return self._swap(who, action, asked, source, goal)

    def switch_back(self, who: Principal) -> SwitchReport:
        """Move the gallery back to the recognizer it searched with before the last switch
        (its vectors were kept; faces added since need one made by a migration first)."""
        action = "models.switch_back"
        asked: dict[str, Any] = {}
        self.ctx.require(who, action, Role.ADMINISTRATOR)
        with self.ctx.writing("model switch back"):
            manifest = self._manifest()
            state = self._state()
            if state is None or not state.previous:
                self._refuse(
                    who, action, "the gallery was never switched: nothing to go back to", asked
                )
            asked = {"target": state.previous}
            if state.previous not in manifest.models:
                self._refuse(
                    who,
                    action,
                    f"the previous recognizer {state.previous} is no longer installed or in the "
                    f"model store",
                    asked,
                )
            why = self._uncalibrated(manifest, manifest.models[state.previous])
            if why:
                self._refuse(who, action, why, asked)
            goal = self._recognizer(manifest, state.previous)
            if goal.model_key != state.previous_model_key:
                self._refuse(
                    who,
                    action,
                    f"{state.previous} is now {goal.model_key}, not the "
                    f"{state.previous_model_key} whose vectors were kept: restore that file",
                    asked,
                )
            return self._swap(who, action, asked, self._active(), goal)

    def _state(self) -> ActiveRecognizer | None:
        with self.ctx.governance.session() as s:
            return read_active(s)

    def _swap(
        self,
        who: Principal,
        action: str,
        asked: dict[str, Any],
        source: Recognizer,
        goal: Recognizer,
    ) -> SwitchReport:
        """The one transaction (the caller holds the writer and engine write locks)."""
        blockers = [
            f"{m.kind}: {b}"
            for m in self.moves
            for b in m.blockers(source.vectors_key, goal.vectors_key)
        ]
        if blockers:
            shown = "; ".join(blockers[:10]) + (" ..." if len(blockers) > 10 else "")
            self._refuse(
                who, action, f"{len(blockers)} standing items cannot move yet: {shown}", asked
            )
        moves = list(self.moves)

        def fn(s: Session, audit: AuditLog) -> SwitchReport:
            require_user(s, who.username, action, {Role.ADMINISTRATOR})
            running = switch_sql.running_migration(s, source.vectors_key, goal.vectors_key)
            if running is not None:
                raise SwitchRefusedError(
                    action,
                    f"migration {running} to {goal.key} is still running (or its process was "
                    f"killed): wait for it to end, or run 'facesearch models migrate {goal.key}' "
                    f"again to finish it",
                )
            missing = switch_sql.missing_vectors(s, source.vectors_key, goal.vectors_key)
            if missing:
                raise SwitchRefusedError(
                    action,
                    f"{missing} searchable faces of {source.model_key} have no vector of "
                    f"{goal.model_key} yet: run 'facesearch models migrate {goal.key}' (it "
                    f"resumes where it stopped) and switch once it is ready",
                )
            counts = switch_sql.swap_vectors(s, source.vectors_key, goal.vectors_key)
            set_active(
                s,
                goal.key,
                goal.model_key,
                previous=source.key,
                previous_model_key=source.model_key,
                by=who.username,
            )
            generation.bump(s)
            standing = {
                m.kind: int(m.switch(s, source.vectors_key, goal.vectors_key)) for m in moves
            }
            migration = (
                switch_sql.record_switch(
                    s,
                    target=goal.key,
                    target_model_key=goal.vectors_key,
                    source_model_key=source.vectors_key,
                    by=who.username,
                    moved=counts.moved,
                )
                if action == "models.switch"
                else None
            )
            entry = audit.record(
                who.username,
                action,
                {
                    "from": source.key,
                    "from_model_key": source.model_key,
                    "to": goal.key,
                    "to_model_key": goal.model_key,
                    "faces_moved": counts.moved,
                    "faces_kept_on_source": counts.kept,
                    "standing": standing,
                    "migration": migration,
                },
            )
            return SwitchReport(
                action=action,
                source=source.key,
                source_model_key=source.model_key,
                target=goal.key,
                target_model_key=goal.model_key,
                moved=counts.moved,
                kept=counts.kept,
                standing=standing,
                migration_id=migration,
                audit_seq=entry.seq,
            )

        report: SwitchReport = self.ctx.governance.run(who.username, action, asked, fn)
        # this process at once: model, scoring, pipeline and index (search/recognizer_reload.py)
        self.ctx.gallery.refresh_index()
        return report

    # --- dropping kept vectors ------------------------------------------------------------------

    def drop(self, who: Principal, model: str) -> DropReport:
        """Delete the kept vectors of ``model`` (a model key, or a model's name), and the
        standing moves' kept vectors of it; refused for the active model."""
        action, asked = "models.drop", {"model": model}
        self.ctx.require(who, action, Role.ADMINISTRATOR)
        with self.ctx.writing("model drop"):
            key = model
            if "@" not in model:
                manifest = self._manifest()
                if model not in manifest.models:
                    self._refuse(who, action, f"no model {model!r}: give its model key", asked)
                key = self._recognizer(manifest, model).vectors_key
            active = self._active()
            if key in (active.vectors_key, active.model_key):
                self._refuse(
                    who,
                    action,
                    f"{key} is the model the gallery searches with: switch to another first",
                    asked,
                )
            moves = list(self.moves)

            def fn(s: Session, audit: AuditLog) -> DropReport:
                require_user(s, who.username, action, {Role.ADMINISTRATOR})
                running = switch_sql.running_migration(s, active.vectors_key, key)
                if running is not None:
                    raise SwitchRefusedError(
                        action,
                        f"migration {running} to {key} is still running: stop it (Ctrl-C), "
                        f"then drop its vectors",
                    )
                dropped = switch_sql.drop_vectors(s, key)
                standing = {m.kind: int(m.drop(s, key)) for m in moves}
                s.execute(  # a migration to it can no longer be switched to
                    update(ModelMigration)
                    .where(
                        ModelMigration.target_model_key == key,
                        ModelMigration.state.in_(switch_sql.OPEN_STATES),
                    )
                    .values(state="cancelled")
                )
                entry = audit.record(
                    who.username,
                    action,
                    {"model_key": key, "vectors": dropped, "standing": standing},
                )
                return DropReport(key, dropped, standing, entry.seq)

            report: DropReport = self.ctx.governance.run(who.username, action, asked, fn)
            return report

    # --- the status the web app and the CLI show -----------------------------------------------

    def status(self, who: Principal) -> ModelsStatus:
        """The active recognizer, the previous one (and whether the gallery can go back to
        it), the latest migration with its progress and whether it can be switched to
        (administrators, auditors)."""
        self.ctx.require(who, "models.status", Role.ADMINISTRATOR, Role.AUDITOR)
        self.ctx.catch_up()
        manifest = self._manifest()
        active = self._active()
        with self.ctx.governance.session() as s:
            state = read_active(s)
            migration = migration_rows.status_of(row) if (row := latest_migration(s)) else None
            back = self._back_blockers(s, manifest, state, active)
            ahead = self._switch_blockers(s, manifest, migration, active)
        return ModelsStatus(
            active=active.key,
            active_model_key=active.model_key,
            switched_at=None if state is None else state.switched_at,
            switched_by=None if state is None else state.switched_by,
            previous=None if state is None else state.previous,
            previous_model_key=None if state is None else state.previous_model_key,
            can_switch_back=state is not None and bool(state.previous) and not back,
            switch_back_blockers=back,
            migration=migration,
            can_switch=migration is not None and not ahead,
            switch_blockers=ahead,
        )

    def _back_blockers(
        self, s: Session, manifest: Manifest, state: ActiveRecognizer | None, active: Recognizer
    ) -> list[str]:
        if state is None or not state.previous:
            return ["the gallery was never switched"]
        if state.previous not in manifest.models:
            return [f"{state.previous} is no longer installed or in the model store"]
        why = self._safe_uncalibrated(manifest, manifest.models[state.previous])
        if why:
            return [why]
        goal = self._recognizer(manifest, state.previous)
        missing = switch_sql.missing_vectors(s, active.vectors_key, goal.vectors_key)
        if missing:
            return [
                f"{missing} searchable faces have no vector of {state.previous} (added since "
                f"the switch, or its vectors were dropped): run 'facesearch models migrate "
                f"{state.previous}' first"
            ]
        return []

    def _switch_blockers(
        self,
        s: Session,
        manifest: Manifest,
        migration: MigrationStatus | None,
        active: Recognizer,
    ) -> list[str]:
        if migration is None:
            return ["no model migration was started"]
        if migration.state not in switch_sql.OPEN_STATES:
            return [f"the latest migration is {migration.state}"]
        if migration.state == "running":
            return ["the migration pass is still running"]
        if migration.source_model_key != active.vectors_key:
            return [f"the latest migration started from {migration.source_model_key}"]
        if migration.target not in manifest.models:
            return [f"{migration.target} is no longer in the model store"]
        why = self._safe_uncalibrated(manifest, manifest.models[migration.target])
        if why:
            return [why]
        missing = switch_sql.missing_vectors(s, active.vectors_key, migration.target_model_key)
        if missing:
            return [f"{missing} searchable faces have no vector of {migration.target} yet"]
        return []

    def _safe_uncalibrated(self, manifest: Manifest, spec: ModelSpec) -> str | None:
        try:
            return self._uncalibrated(manifest, spec)
        except ModelFileError as exc:
            return str(exc)
