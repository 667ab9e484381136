"""Which runtime runs each model, and where its (verified) file is.

Each model in the manifest lists the runtimes it can run on (engine, precision, file) and the
one chosen by measurement on this project's reference CPU (``runtime``; benchmarks/inference.py
measures them side by side). :class:`InferenceSettings` carries the model cache directory for
derived files and any runtime chosen instead (``FACESEARCH_DETECTOR_RUNTIME``,
``FACESEARCH_RECOGNIZER_RUNTIME``, ``FACESEARCH_SECOND_RUNTIME``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facesearch.errors import ModelFileError
from facesearch.models.derive import SHIPPED, DerivedFiles
from facesearch.models.manifest import ModelSpec, RuntimeSpec
from facesearch.settings import Settings, default_model_cache_dir

# model kind -> the Settings field that overrides its runtime
KIND_SETTINGS = {
    "detector": "detector_runtime",
    "recognizer": "recognizer_runtime",
    "recognizer-secondary": "second_runtime",
}


def _stderr(message: str) -> None:
    print(f"facesearch: {message}", file=sys.stderr, flush=True)


# /proc/cpuinfo flags of an int8 dot-product instruction (x86 VNNI, Arm's dot product)
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "asimddp"})


def cpu_has_int8_dot(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether this CPU has an int8 dot-product instruction (None where it cannot be read).

    Without one (an AVX2-only x86 CPU), ONNX Runtime's and OpenVINO's u8 x s8 kernels add
    pairs of products in 16 bits and can saturate with 8-bit weights, so int8 files made on a
    VNNI CPU give vectors much further from the reference than the manifest records."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.partition(":")[2].split())
    return bool(flags & INT8_DOT_FLAGS)


def _warn_differs(model: str, runtime: RuntimeSpec, say: Callable[[str], None]) -> None:
    """Say that a chosen runtime's vectors are not the reference's."""
    say(
        f"warning: runtime {runtime.name} of {model} makes vectors that differ from the "
        f"reference runtime's (lowest cosine {runtime.min_cosine:.4f} on real faces) but are "
        f"stored under the same model key with the same bands; use it to measure, not for a "
        f"gallery made with another runtime"
    )
    if runtime.precision == "int8" and cpu_has_int8_dot() is False:
        say(
            f"warning: this CPU has no int8 dot-product instruction (VNNI): {runtime.name}'s "
            f"int8 kernels can saturate here, and its vectors are further from the reference "
            f"than the recorded cosine"
        )


@dataclass(frozen=True)
class InferenceSettings:
    """The models' runtimes and derived-file cache. ``InferenceSettings()`` is the manifest's
    choices and the default cache, never the environment: callers pass
    :meth:`from_settings` of the one :class:`~facesearch.settings.Settings` they were given."""

    cache_dir: Path = field(default_factory=default_model_cache_dir)
    # (model kind, runtime name) pairs that replace the manifest's choice
    overrides: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> InferenceSettings:
        overrides = tuple(
            (kind, str(getattr(settings, field)))
            for kind, field in KIND_SETTINGS.items()
            if getattr(settings, field, None)
        )
        return cls(settings.resolved_model_cache_dir, overrides)

    def with_runtime(self, kind: str, runtime: str) -> InferenceSettings:
        kept = tuple((k, r) for k, r in self.overrides if k != kind)
        return InferenceSettings(self.cache_dir, (*kept, (kind, runtime)))

    def runtime_for(self, spec: ModelSpec) -> RuntimeSpec:
        chosen = dict(self.overrides).get(spec.kind)
        return spec.runtime_spec(chosen)

    def model_file(
        self,
        spec: ModelSpec,
        runtime: RuntimeSpec,
        shipped: Callable[[], Path],
        progress: Callable[[str], None] | None = _stderr,
    ) -> Path:
        """The verified file ``runtime`` runs: the shipped one, or a derived one (built into
        the cache on first use). Loading a runtime whose vectors differ from the reference
        runtime's is said on ``progress``."""
        if not runtime.same_vectors and progress is not None:
            _warn_differs(spec.key, runtime, progress)
        source = shipped()  # always verified: it is what every derived file is built from
        if runtime.file == SHIPPED:
            return source
        if runtime.file not in spec.derived:
            raise ModelFileError(f"model {spec.key}: runtime {runtime.name} needs an unrecorded "
                                 f"derived file {runtime.file!r}")  # fmt: skip
        cache = DerivedFiles(self.cache_dir, progress)
        return cache.path(spec.key, spec.derived[runtime.file], spec.derived, lambda: source)
