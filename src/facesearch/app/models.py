"""The recognizers an agency adds (``facesearch models add|list|show|remove``, ``GET /models``).

An administrator adds an ONNX file with its model card (:mod:`facesearch.models.card`): the
card is checked (each wrong field said, with how to write it), the file is copied into the
data directory's model store and hashed (:mod:`facesearch.models.store`), then smoke-tested
(:mod:`facesearch.app.model_smoke`): it must run here and its vectors must tell two people
apart, or it is removed again and the figures measured are told. Every add, failed add and
removal is an audit entry with the model's name, version, SHA-256 and licence.

A model is removed only when nothing uses its vectors: not while it is the recognizer the
gallery searches with, while faces or kept vectors (``face_vectors``) carry its model key, or
while a model migration to or from it is unfinished; the refusal says which, and how to drop
them first. Administrators and auditors may read the list and each model's card, hash, smoke
figures and calibration.
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from facesearch.app.context import AppContext
from facesearch.app.model_smoke import (
    SmokeResult,
    SmokeTestFailed,
    demo_people,
    identity_photos,
    smoke_test,
)
from facesearch.app.principal import Principal
from facesearch.errors import ModelFileError
from facesearch.govern.audit import AuditLog
from facesearch.govern.errors import RefusedError
from facesearch.govern.users import Role, require_user
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import Manifest, ModelSpec, load_manifest
from facesearch.models.store import ModelStore, StoredModel
from facesearch.store.recognizers import active_recognizer, read_active
from facesearch.store.schema import FaceRow, FaceVector, ModelMigration

__all__ = [
    "AddedModel",
    "ModelView",
    "Models",
    "SmokeResult",
    "SmokeTestFailed",
    "UnknownModelError",
]

READERS = (Role.ADMINISTRATOR, Role.AUDITOR)
UNFINISHED = ("running", "interrupted", "ready")  # migrations that still need their models


class UnknownModelError(ModelFileError):
    """No recognizer of that name, shipped or in the model store."""


@dataclass(frozen=True)
class ModelView:
    """One recognizer as ``models list`` and ``GET /models`` show it."""

    name: str
    version: str
    licence: str
    source: str  # "store" (added by the agency) or "package" (shipped with facesearch)
    key: str  # the key its vectors carry (name@first 12 hex digits of the file's SHA-256)
    sha256: str
    embedding_size: int | None
    input_size: tuple[int, int]
    runtime: str
    active: bool
    calibrated: bool
    thresholds: dict[str, Any]
    fusion: dict[str, Any] | None
    description: str = ""
    added_at: str = ""
    added_by: str = ""
    smoke: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)  # as stored (empty for shipped models)
    problem: str = ""  # why a stored model cannot be read (its folder is listed all the same)

    @property
    def smoke_summary(self) -> str:
        if self.source != "store":
            return "shipped"
        if self.problem:
            return f"UNREADABLE: {self.problem}"
        if not self.smoke:
            return "not tested"
        verdict = "passed" if self.smoke.get("passed") else "FAILED"
        margin = self.smoke.get("margin")
        ms = self.smoke.get("ms_per_face")
        bits = [verdict]
        if margin is not None:
            bits.append(f"margin {margin:+.3f}")
        if ms is not None:
            bits.append(f"{ms:.1f} ms/face")
        return ", ".join(bits)


@dataclass(frozen=True)
class AddedModel:
    model: ModelView
    smoke: SmokeResult


def _bands(thresholds: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in thresholds.items() if isinstance(v, int | float)}


class Models:
    """The model store of the gallery's data directory, governed."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def store(self) -> ModelStore:
        return ModelStore.of(Path(self.ctx.settings.data_dir))

    def _active_key(self) -> str:
        active = active_recognizer(self.ctx.gallery.catalog.engine)
        return active.key if active is not None else load_manifest().default_recognizer

    # --- reading ------------------------------------------------------------------------------

    def list(self, who: Principal) -> list[ModelView]:
        """The shipped recognizers, then the store's models (administrators and auditors)."""
        self.ctx.require(who, "models.list", *READERS)
        base = load_manifest()
        active = self._active_key()
        shipped = [
            self._shipped_view(spec, active)
            for spec in base.models.values()
            if spec.kind.startswith("recognizer")
        ]
        return shipped + [self._readable_view(name, base, active) for name in self.store.names()]

    def _readable_view(self, name: str, base: Manifest, active: str) -> ModelView:
        """A stored model's view, or one saying why it cannot be read (a damaged folder
        must not hide the others)."""
        try:
            return self._view(self.store.get(name, base), active)
        except ModelFileError as exc:
            return ModelView(
                name=name, version="?", licence="?", source="store", key="?", sha256="?",
                embedding_size=None, input_size=(0, 0), runtime="?", active=name == active,
                calibrated=False, thresholds={}, fusion=None, problem=str(exc),
            )  # fmt: skip

    def show(self, who: Principal, name: str) -> ModelView:
        """One model: its card, hash, smoke figures, calibration and whether it is active."""
        self.ctx.require(who, "models.show", *READERS)
        base = load_manifest()
        if name in base.models and base.models[name].kind.startswith("recognizer"):
            return self._shipped_view(base.models[name], self._active_key())
        return self._view(self._stored(name, base), self._active_key())

    def _stored(self, name: str, base: Manifest) -> StoredModel:
        store = self.store
        if name not in store.names():
            known = ", ".join(store.names()) or "none"
            raise UnknownModelError(
                f"no model {name!r} in the model store (added models: {known}; "
                "'facesearch models list' shows the shipped ones too)"
            )
        return store.get(name, base)

    def _view(self, m: StoredModel, active: str) -> ModelView:
        spec = m.spec
        calibration = m.calibration or {}
        return ModelView(
            name=m.name,
            version=m.card.version,
            licence=m.card.licence,
            source="store",
            key=spec.model_key,
            sha256=m.sha256,
            embedding_size=m.card.embedding_size,
            input_size=m.card.input_size,
            runtime=m.card.runtime,
            active=m.name == active,
            calibrated=m.calibrated,
            thresholds=_bands(dict(calibration.get("thresholds", {}))),
            fusion=calibration.get("fusion"),
            description=m.card.description,
            added_at=m.added_at,
            added_by=m.added_by,
            smoke=dict(m.smoke),
            card=m.card.to_dict(),
        )

    def _shipped_view(self, shipped: ModelSpec, active: str) -> ModelView:
        # the gallery's own spec of it: with the bands the data directory's calibration set
        spec = self.ctx.gallery.manifest.models.get(shipped.key, shipped)
        calibration = spec.calibration or {}
        return ModelView(
            name=spec.key,
            version=spec.version,
            licence=spec.licence,
            source="package",
            key=spec.model_key,
            sha256=spec.sha256,
            embedding_size=spec.embedding_size,
            input_size=spec.input_size,
            runtime=spec.runtime,
            active=spec.key == active,
            calibrated=bool(_bands(spec.thresholds)),
            thresholds=_bands(spec.thresholds),
            fusion=calibration.get("fusion"),
            description=spec.name,
        )

    # --- adding -------------------------------------------------------------------------------

    def add(
        self, who: Principal, onnx_path: Path, card_path: Path, photos: Path | None = None
    ) -> AddedModel:
        """Check the card, copy and hash the file into the store, smoke-test it (on the demo
        photos, or ``photos``: a folder of identity folders); a model that fails is removed
        again (:class:`SmokeTestFailed` says what was measured). Administrators; audited."""
        ctx = self.ctx
        ctx.require(who, "models.add", Role.ADMINISTRATOR)
        base = load_manifest()
        card = parse_card(read_card(card_path), base)
        store = self.store
        if card.name in store.names():
            raise ModelFileError(
                f"a model named {card.name} is already in the store ({store.root / card.name}): "
                f"give a new file or version of it a name of its own in its card, e.g. name = "
                f'"{card.name}-2" (and its version in version = "..."); the old one stays until '
                f"'facesearch models remove {card.name}'"
            )
        people, source = self._photos(photos)  # before anything is copied: may need PyPI
        stored = store.add(onnx_path, card, added_by=who.username)
        asked = {
            "name": card.name,
            "version": card.version,
            "sha256": stored.sha256,
            "licence": card.licence,
            "file": onnx_path.name,
        }
        try:
            result = smoke_test(
                dataclasses.replace(base, models={**base.models, card.name: stored.spec}),
                card.name,
                people,
                source,
                ctx.gallery.pipeline_settings,
            )
        except BaseException:
            store.remove(card.name)
            raise
        if not result.passed:
            store.remove(card.name)
            ctx.governance.record(
                who.username,
                "models.add",
                {**asked, "outcome": "failed smoke test", "smoke": result.to_dict()},
            )
            raise SmokeTestFailed(card.name, result)
        store.record_smoke(card.name, result.to_dict())
        ctx.governance.record(
            who.username, "models.add", {**asked, "outcome": "added", "smoke": result.to_dict()}
        )
        view = self._view(store.get(card.name, base), self._active_key())
        return AddedModel(view, result)

    def _photos(self, photos: Path | None) -> tuple[dict[str, builtins.list[Path]], str]:
        if photos is not None:
            return identity_photos(photos), str(photos)
        cache = Path(self.ctx.settings.demo_photos_dir)
        return demo_people(cache), "demo photos (face_recognition 1.3.0 sdist, MIT)"

    # --- removing -----------------------------------------------------------------------------

    def remove(self, who: Principal, name: str) -> ModelView:
        """Remove a model from the store, unless anything still uses its vectors (the refusal
        says what, and how to drop it first). Administrators; audited."""
        base = load_manifest()
        stored = self._stored(name, base)
        view = self._view(stored, self._active_key())
        asked = {"name": name}

        def fn(s: Session, audit: AuditLog) -> ModelView:
            require_user(s, who.username, "models.remove", {Role.ADMINISTRATOR})
            uses = uses_of(s, name, view.key)
            if uses:
                raise RefusedError(
                    "models.remove", f"{name} ({view.key}) is in use: {'; '.join(uses)}"
                )
            audit.record(
                who.username,
                "models.remove",
                {
                    "name": name,
                    "version": view.version,
                    "sha256": view.sha256,
                    "licence": view.licence,
                    "smoke": view.smoke_summary,
                    "calibrated": view.calibrated,
                },
            )
            self.store.remove(name)
            return view

        found: ModelView = self.ctx.governance.run(who.username, "models.remove", asked, fn)
        return found


def uses_of(s: Session, name: str, key: str) -> list[str]:
    """What still uses the model ``name`` (its vectors carry ``key``), each said with how
    to end that use."""
    uses = []
    active = read_active(s)
    if active is not None and (active.key == name or active.model_key == key):
        how = (
            f"switch back first ('facesearch models switch-back', to {active.previous})"
            if active.previous
            else "switch the gallery to another model first ('facesearch models switch MODEL')"
        )
        uses.append(f"it is the recognizer the gallery searches with; {how}")

    def of_key(column: Any) -> Any:
        return or_(column == key, column.like(f"{key}+%"))

    faces = s.scalar(select(func.count()).select_from(FaceRow).where(of_key(FaceRow.model)))
    if faces:
        uses.append(
            f"{faces} faces in the gallery carry its vectors; switch the gallery to "
            f"another model first ('facesearch models migrate MODEL', then "
            f"'facesearch models switch MODEL')"
        )
    kept = s.scalar(select(func.count()).select_from(FaceVector).where(of_key(FaceVector.model)))
    if kept:
        uses.append(
            f"{kept} of its vectors are kept for switching back; drop them first "
            f"('facesearch models drop {key}')"
        )
    moving = s.scalars(
        select(ModelMigration.id).where(
            ModelMigration.state.in_(UNFINISHED),
            or_(
                ModelMigration.target == name,
                ModelMigration.target_model_key == key,
                ModelMigration.source_model_key == key,
            ),
        )
    ).all()
    if moving:
        ids = ", ".join(f"#{i}" for i in moving)
        uses.append(
            f"model migration {ids} to or from it is unfinished; cancel or finish it first "
            "('facesearch models status')"
        )
    return uses
