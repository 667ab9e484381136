"""Where each face's second vector is made: in the ingest workers, or in the pass after ingest.

The choice is a typed setting (``Settings.second_vectors``, env ``FACESEARCH_SECOND_VECTORS``,
``facesearch ingest --second-vectors``), resolved once per run by :func:`resolve`:

- ``ingest``: the workers describe every face with the second recognizer too, in batches, and
  its vector is stored with the face in the same transaction (no chip, nothing queued);
- ``pass``: the workers queue each face's chip (aligned on the photo) and the second-vector
  pass (``ingest/second_pass.py``) describes them after ingest;
- ``auto`` (the default): ``ingest`` when the runtime chosen for the second recognizer is a
  fast one (its ONNX graph on ONNX Runtime, OpenVINO or OpenCV, a few ms per face), ``pass``
  when it is dlib's own code (about 120 ms per face on one core: ingest would be several times
  slower).

Whatever the choice, a face whose second vector could not be made at ingest (the runtime
failed on its batch) is queued for the pass, which stays for such faces and for galleries
ingested before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facesearch.engine.embed import DLIB_ENGINE
from facesearch.models.manifest import RuntimeSpec

SecondVectors = Literal["auto", "ingest", "pass"]
SECOND_VECTORS_CHOICES: tuple[SecondVectors, ...] = ("auto", "ingest", "pass")
#: Runtimes too slow for ingest: dlib's own code on its .dat file.
SLOW_ENGINES = frozenset({DLIB_ENGINE})


@dataclass(frozen=True)
class SecondVectorsPlan:
    """The resolved choice: ``at`` is "ingest", "pass" or "off" (no second recognizer)."""

    at: Literal["ingest", "pass", "off"]
    reason: str

    @property
    def in_workers(self) -> bool:
        return self.at == "ingest"


def resolve(mode: SecondVectors, runtime: RuntimeSpec | None) -> SecondVectorsPlan:
    """Resolve ``mode`` for the second recognizer's ``runtime`` (None: it is off)."""
    if mode not in SECOND_VECTORS_CHOICES:
        raise ValueError(
            f"second vectors {mode!r}: choose one of {', '.join(SECOND_VECTORS_CHOICES)}"
        )
    if runtime is None:
        return SecondVectorsPlan("off", "the second recognizer is off")
    if mode == "ingest":
        return SecondVectorsPlan("ingest", "asked for (second vectors at ingest)")
    if mode == "pass":
        return SecondVectorsPlan("pass", "asked for (second vectors in the pass after ingest)")
    if runtime.engine in SLOW_ENGINES:
        return SecondVectorsPlan(
            "pass", f"runtime {runtime.name} is dlib's own code (slow): chips queued for the pass"
        )
    return SecondVectorsPlan("ingest", f"runtime {runtime.name} is fast: made in the workers")
