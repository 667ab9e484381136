"""The standing data that moves with the gallery to another recognizer, as
:class:`~facesearch.app.model_moves.StandingMove` objects (issue 25, item 3):
:func:`standing_moves` lists them for an application context, in the order they are prepared
(media faces first: a media person's standing query is the mean of its faces' vectors).

* :class:`MediaFaceMove`: media faces, re-embedded from their stored crops
  (``media/model_moves.py``); persons keep their ids and members;
* :class:`StandingQueryMove`: active standing queries, re-embedded from their kept probe photo
  (``govern/standing_moves.py``);
* :class:`SuppressionMove`: suppression entries, which keep no image: each one blocks the
  switch until a photo of the person is enrolled with the target model
  (:meth:`StandingMoves.enrol_suppression`, ``facesearch suppress enrol-model``).

Cross-case media alerts and multi-probe search records are records of past comparisons and
hold no vector to move (see the two modules).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.app.context import AppContext
from facesearch.app.model_moves import MoveProgress, MoveReport, StandingMove
from facesearch.app.principal import Principal
from facesearch.engine.pipeline import FacePipeline
from facesearch.errors import FacesearchError
from facesearch.govern import standing_moves as gsm
from facesearch.govern.standing_moves import Enrolment
from facesearch.govern.users import Role
from facesearch.media import model_moves as mm
from facesearch.media.access import MEDIA_BLOBS
from facesearch.models.manifest import load_manifest
from facesearch.search.calibration import gallery_manifest
from facesearch.store.blobs import FileBlobStore
from facesearch.store.crypto import Cipher
from facesearch.store.schema import ModelMigration

__all__ = [
    "Enrolment",
    "MediaFaceMove",
    "StandingMoves",
    "StandingQueryMove",
    "SuppressionMove",
    "standing_moves",
]

Sessions = Callable[[], AbstractContextManager[Session]]
BATCH = 64  # media faces embedded and committed per step


@dataclass
class MediaFaceMove:
    sessions: Sessions
    cipher: Cipher | None
    crop_of: mm.CropReader
    kind: str = "media faces"

    def prepare(
        self,
        pipeline: FacePipeline,
        source_model_key: str,
        on_progress: MoveProgress | None = None,
    ) -> MoveReport:
        target = pipeline.model_key
        report = MoveReport(self.kind)
        with self.sessions() as s:
            report.already = mm.count_media_faces(s, source_model_key, target)
            total = mm.count_media_faces(s, source_model_key) - report.already
        last, done = 0, 0
        while True:
            with self.sessions() as s:
                jobs = mm.pending_media_faces(s, source_model_key, target, last, BATCH)
            if not jobs:
                break
            last = jobs[-1].face_id
            made = mm.embed_crops(pipeline, jobs, self.crop_of)
            with self.sessions() as s:
                mm.store_media_vectors(s, self.cipher, target, made.vectors)
            report.moved += len(made.vectors)
            report.failed.update((f"media face {i}", why) for i, why in made.errors.items())
            done += len(jobs)
            if on_progress is not None:
                on_progress(done, total)
        return report

    def blockers(self, source_model_key: str, target_model_key: str) -> list[str]:
        with self.sessions() as s:
            return mm.media_blockers(s, source_model_key, target_model_key)

    def switch(self, session: Session, source_model_key: str, target_model_key: str) -> int:
        return mm.switch_media_faces(session, source_model_key, target_model_key)

    def drop(self, session: Session, model_key: str) -> int:
        return mm.drop_media_vectors(session, model_key)


@dataclass
class StandingQueryMove:
    sessions: Sessions
    cipher: Cipher | None
    person_vector: gsm.PersonVector | None = None
    kind: str = "standing queries"

    def prepare(
        self,
        pipeline: FacePipeline,
        source_model_key: str,
        on_progress: MoveProgress | None = None,
    ) -> MoveReport:
        target = pipeline.model_key
        report = MoveReport(self.kind)
        with self.sessions() as s:
            report.already = gsm.ready_queries(s, source_model_key, target)
            ids = [q.id for q in gsm.pending_queries(s, source_model_key, target)]
        for done, query_id in enumerate(ids, start=1):
            with self.sessions() as s:
                try:
                    vec = gsm.query_target_vector(
                        s, self.cipher, query_id, pipeline, self.person_vector
                    )
                except (ValueError, FacesearchError) as exc:  # unreadable probe, or face not found
                    report.failed[f"standing query {query_id}"] = str(exc)
                    vec = None
                if vec is not None:
                    gsm.store_query_vector(s, self.cipher, query_id, target, vec)
                    report.moved += 1
            if on_progress is not None:
                on_progress(done, len(ids))
        return report

    def blockers(self, source_model_key: str, target_model_key: str) -> list[str]:
        with self.sessions() as s:
            return gsm.query_blockers(s, source_model_key, target_model_key)

    def switch(self, session: Session, source_model_key: str, target_model_key: str) -> int:
        return gsm.switch_queries(session, source_model_key, target_model_key)

    def drop(self, session: Session, model_key: str) -> int:
        return gsm.drop_query_vectors(session, model_key)


@dataclass
class SuppressionMove:
    sessions: Sessions
    kind: str = "suppression entries"

    def prepare(
        self,
        pipeline: FacePipeline,
        source_model_key: str,
        on_progress: MoveProgress | None = None,
    ) -> MoveReport:
        """Nothing is re-embedded (an entry keeps no image): the entries enrolled for the
        target model are counted, the others named with how to enrol them."""
        target = pipeline.model_key
        report = MoveReport(self.kind)
        with self.sessions() as s:
            missing = gsm.missing_entries(s, source_model_key, target)
            report.already = gsm.entries_of(s, source_model_key) - len(missing)
            for e in missing:
                report.failed[f"suppression entry {e.id}"] = gsm.enrol_hint(e, target)
        if on_progress is not None:
            on_progress(report.already, report.already + len(missing))
        return report

    def blockers(self, source_model_key: str, target_model_key: str) -> list[str]:
        with self.sessions() as s:
            return gsm.suppression_blockers(s, source_model_key, target_model_key)

    def switch(self, session: Session, source_model_key: str, target_model_key: str) -> int:
        return gsm.switch_suppressions(session, source_model_key, target_model_key)

    def drop(self, session: Session, model_key: str) -> int:
        return gsm.drop_suppression_vectors(session, model_key)


def standing_moves(ctx: AppContext) -> list[StandingMove]:
    """Every kind of standing data holding vectors of the active recognizer, in the order
    they are prepared: media faces, standing queries, suppression entries."""
    gov, gallery = ctx.governance, ctx.gallery
    media_blobs = FileBlobStore(gallery.data_dir / MEDIA_BLOBS, cipher=gallery.blobs.cipher)
    crop_of = media_blobs.get
    media_cipher = gallery.cipher  # media faces are sealed with the gallery's (media/access.py)

    def person_vector(session: Session, search_id: int, pipeline: FacePipeline) -> np.ndarray:
        return mm.person_query_vector(session, media_cipher, crop_of, pipeline, search_id)

    return [
        MediaFaceMove(gov.session, media_cipher, crop_of),
        StandingQueryMove(gov.session, gov.cipher, person_vector),
        SuppressionMove(gov.session),
    ]


def policy_threshold_on(ctx: AppContext, model: str) -> float | None:
    """The policy's suppression threshold carried to the scale of ``model`` when that is the
    gallery's recognizer and not the shipped one the policy's threshold is for (None: the
    policy's applies as it is). Refused (ValueError) when that model has no bands."""
    gallery = ctx.gallery
    shipped = load_manifest()
    if (
        model != gallery.model_key
        or gallery.manifest.default_recognizer == shipped.default_recognizer
    ):
        return None
    return gsm.carried_threshold(
        ctx.governance.policy.suppression.threshold,
        shipped.recognizer.thresholds,
        gallery.manifest.recognizer.thresholds,
    )


def model_pipeline(ctx: AppContext, name: str) -> FacePipeline:
    """A pipeline running model ``name`` of the gallery's manifest (packaged or in the model
    store) as its only recognizer, with the gallery's detector and quality settings."""
    gallery = ctx.gallery
    manifest = gallery_manifest(gallery.data_dir, gallery.catalog)
    if name not in manifest.models:
        raise ValueError(
            f"no model {name!r} in the gallery's manifest or model store "
            f"(known: {', '.join(sorted(manifest.models))})"
        )
    settings = dataclasses.replace(
        gallery.pipeline_settings, second_model=False, inference=gallery.pipeline_inference
    )
    pipeline = FacePipeline(dataclasses.replace(manifest, default_recognizer=name), settings)
    pipeline.load_models()
    return pipeline


class StandingMoves:
    """The standing moves of the service's gallery, and the enrolment of suppression entries
    for the model the gallery moves to."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def moves(self) -> list[StandingMove]:
        return standing_moves(self.ctx)

    def migration_target(self) -> str | None:
        """The model the gallery is moving to: the latest migration's, unless it ended."""
        with self.ctx.governance.session() as s:
            row = s.scalars(
                select(ModelMigration).order_by(ModelMigration.id.desc()).limit(1)
            ).first()
            if row is None or row.state in ("switched", "cancelled", "failed"):
                return None
            return row.target

    def prepare(
        self,
        who: Principal,
        model: str | None = None,
        *,
        pipeline: FacePipeline | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> list[MoveReport]:
        """Make ``model``'s vectors (default: the model the gallery is moving to) of every
        kind of standing data, for the switch: run after (or with) the migration pass of the
        gallery's faces, again after a resumed pass (done items are skipped). Administrators;
        audited (``models.standing_prepare``, with each kind's counts and what it could not
        move). ``on_progress(kind, done, total)``; ``pipeline``: the model's, already loaded."""
        action = "models.standing_prepare"
        ctx = self.ctx
        ctx.require(who, action, Role.ADMINISTRATOR)
        name = model or self.migration_target()
        if name is None:
            ctx.refuse(who, action, "no model named and no migration under way")
        try:
            target = pipeline or model_pipeline(ctx, name)
        except ValueError as exc:
            ctx.refuse(who, action, str(exc))
        source = ctx.gallery.model_key
        reports = []
        for move in self.moves():
            kind = move.kind

            def progress(done: int, total: int, kind: str = kind) -> None:
                if on_progress is not None:
                    on_progress(kind, done, total)

            reports.append(move.prepare(target, source, progress))
        ctx.governance.record(
            who.username,
            action,
            {
                "source": source,
                "target": target.model_key,
                "moves": {
                    r.kind: {"moved": r.moved, "already": r.already, "failed": len(r.failed)}
                    for r in reports
                },
                "failed": dict(list(((k, v) for r in reports for k, v in r.failed.items()))[:50]),
            },
        )
        return reports

    def enrol_suppression(
        self,
        who: Principal,
        entry_id: int,
        photo: bytes,
        model: str | None = None,
        *,
        pipeline: FacePipeline | None = None,
    ) -> Enrolment:
        """Enrol a photo of suppression entry ``entry_id``'s person with ``model`` (default:
        the model the gallery is moving to): the photo must match the entry with the entry's
        own model (the gallery's) at or above the suppression threshold. Administrators;
        audited. ``pipeline``: the target model's, already loaded (tests)."""
        action = "suppression.enrol_model"
        ctx, gov = self.ctx, self.ctx.governance
        ctx.require(who, action, Role.ADMINISTRATOR)
        name = model or self.migration_target()
        if name is None:
            ctx.refuse(who, action, "no model named and no migration under way: give --model")
        with gov.session() as s:
            old_model, old_threshold = gsm.entry_model(s, gov.policy, entry_id)
        if old_model != ctx.gallery.model_key:
            ctx.refuse(
                who,
                action,
                f"suppression entry {entry_id} is of {old_model}, not of the gallery's "
                f"recognizer {ctx.gallery.model_key}: the photo cannot be checked against it",
            )
        try:
            target = pipeline or model_pipeline(ctx, name)
        except ValueError as exc:
            ctx.refuse(who, action, str(exc))
        try:
            threshold = gsm.carried_threshold(
                old_threshold,
                ctx.gallery.manifest.recognizer.thresholds,
                target.manifest.recognizer.thresholds,
            )
        except ValueError as exc:
            ctx.refuse(
                who,
                action,
                f"{exc}: calibrate {name} first (facesearch calibrate --model {name}); the "
                "entry's threshold on its scale comes from its bands",
            )
        old_faces = ctx.pool.run(lambda: ctx.embed(photo))
        new_faces = target.process_image(ctx.gallery.decode(photo)).faces
        if [f.bbox for f in old_faces] != [f.bbox for f in new_faces]:
            ctx.refuse(who, action, "the two models' pipelines found different faces")
        old = np.stack([f.embedding for f in old_faces]) if old_faces else np.zeros((0, 1))
        new = np.stack([f.embedding for f in new_faces]) if new_faces else np.zeros((0, 1))
        done: Enrolment = gov.run(
            who.username,
            action,
            {"suppression_id": entry_id, "model": target.model_key},
            lambda s, a: gsm.enrol_entry(
                s, a, gov.policy, gov.cipher, who.username, entry_id, old, new,
                target.model_key, threshold, gov.clock(),
            ),
        )  # fmt: skip
        return done
