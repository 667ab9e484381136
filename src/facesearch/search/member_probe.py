"""A probe face's vectors by the other members of an N-recognizer fusion
(:class:`facesearch.engine.fusion.MultiFusion`): each member's recognizer
(``engine/recognizers.make_recognizer``) on the probe's face aligned on its detected landmarks
with that member's own template and input size (no second detection: the same face).

The gallery's vectors of those members are read from ``face_vectors``
(``store/member_vectors.py``); search re-ranks its shortlist with both (``search/searcher.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from facesearch.engine.align import align_face
from facesearch.engine.recognizers import make_recognizer
from facesearch.errors import ConfigError

if TYPE_CHECKING:
    from facesearch.engine.fusion import MultiFusion
    from facesearch.engine.recognizers import Recognizer
    from facesearch.models.inference import InferenceSettings
    from facesearch.models.manifest import Manifest, ModelSpec


def member_specs(manifest: Manifest, fusion: MultiFusion) -> dict[str, ModelSpec]:
    """The spec of every member beyond the primary, by its model key (the key its vectors are
    stored under); a member the manifest no longer holds is an error that says so."""
    by_key = {spec.model_key: spec for spec in manifest.models.values()}
    out = {}
    for key in fusion.extra_models:
        spec = by_key.get(key)
        if spec is None:
            raise ConfigError(
                f"the fusion recorded for {fusion.primary} names {key}, which is not among the "
                "models of this data directory (a store model removed or added again?): run "
                "`facesearch calibrate --model NAME --fuse ...` again"
            )
        if spec.alignment_template is None:
            raise ConfigError(f"fusion member {spec.key} has no alignment template")
        out[key] = spec
    return out


class MemberRecognizers:
    """The fusion's other members, loaded on first use."""

    def __init__(
        self,
        manifest: Manifest,
        fusion: MultiFusion,
        inference: InferenceSettings | None = None,
        batch_size: int = 8,
    ) -> None:
        self.specs = member_specs(manifest, fusion)
        self.inference = inference
        self.batch_size = batch_size
        self._embedders: dict[str, Recognizer] = {}

    def _embedder(self, key: str) -> Recognizer:
        if key not in self._embedders:
            self._embedders[key] = make_recognizer(
                self.specs[key], batch_size=self.batch_size, inference=self.inference
            )
        return self._embedders[key]

    def vectors(self, pixels: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's unit vector of the face with these landmarks in ``pixels`` (BGR)."""
        out = {}
        for key, spec in self.specs.items():
            assert spec.alignment_template is not None  # checked in member_specs
            template = np.asarray(spec.alignment_template, np.float32)
            chip = align_face(pixels, np.asarray(landmarks, np.float32), template, spec.input_size)
            out[key] = np.asarray(self._embedder(key).predict(chip[None])[0], np.float32)
        return out
