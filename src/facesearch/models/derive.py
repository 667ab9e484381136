"""Derived model files: graphs built locally from the pinned packages' weights, checksummed.

Nothing is downloaded. Each derived file is described in the manifest (``derived`` of a model:
file name, SHA-256, recipe, source) and built on first use into the model cache directory
(``Settings.model_cache_dir``), then checked against its recorded SHA-256 every time it is
opened. A file that does not match is rebuilt once; if the rebuilt file still does not match
(another version of the building tools), it is refused with a message saying what differs.

Recipes:

* ``dequantize``: the shipped block-quantized ONNX file (int8 weights with a scale per block of
  64, DequantizeLinear nodes) with its weights dequantized to float32 once, the constant
  DequantizeLinear/Reshape nodes folded, dangling inputs dropped and the batch (or image) axes
  made dynamic. The arithmetic is OpenCV's: ``(q - zero_point) * scale`` in float32.
* ``dlib-to-onnx``: dlib's ResNet weight file converted by :mod:`facesearch.models.dlib_onnx`.
* ``quantize-int8``: static int8 quantization (ONNX Runtime's QDQ format: per-channel int8
  weights, uint8 activations) of another derived float32 file, with activation ranges that
  ship with facesearch (``models/calibration/*.json``, made by :func:`calibrate` on aligned
  faces of ``../shared/faces``: ``python benchmarks/inference.py --calibrate``). The weights
  keep 8 bits (``reduce_range`` false in the manifest): on AVX512-VNNI 7-bit weights were no
  faster and further from float32; on AVX2 without VNNI, ONNX Runtime's u8 x s8 kernels can
  saturate with 8-bit weights, so int8 vectors are less accurate on such CPUs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelFileError
from facesearch.models.digest import sha256_file, verified_once

DEQUANTIZE = "dequantize"
DLIB_TO_ONNX = "dlib-to-onnx"
QUANTIZE_INT8 = "quantize-int8"
RECIPES = (DEQUANTIZE, DLIB_TO_ONNX, QUANTIZE_INT8)
SHIPPED = "shipped"  # the source of a recipe: the model's own file in its package


@dataclass(frozen=True)
class DerivedSpec:
    """One derived file of a model, as recorded in the manifest."""

    name: str  # e.g. "fp32", "int8"
    file: str  # file name in the cache directory
    sha256: str
    recipe: str
    source: str = SHIPPED  # SHIPPED or the name of another derived file of the same model
    dynamic_axes: tuple[tuple[int, str], ...] = ()  # input axes made dynamic (dequantize)
    calibration: str | None = None  # package resource with activation ranges (quantize-int8)
    reduce_range: bool = False  # quantize-int8: weights in 7 bits (for AVX2 without VNNI)

    @classmethod
    def parse(cls, name: str, raw: dict[str, Any]) -> DerivedSpec:
        recipe = raw["recipe"]
        if recipe not in RECIPES:
            raise ModelFileError(f"derived file {name!r}: unknown recipe {recipe!r}")
        return cls(
            name=name,
            file=raw["file"],
            sha256=raw["sha256"],
            recipe=recipe,
            source=raw.get("source", SHIPPED),
            dynamic_axes=tuple((int(a), str(n)) for a, n in raw.get("dynamic_axes", [])),
            calibration=raw.get("calibration"),
            reduce_range=bool(raw.get("reduce_range", False)),
        )


# --------------------------------------------------------------------- recipes


def dequantize_model(model: Any, dynamic_axes: Sequence[tuple[int, str]] = ()) -> Any:
    """Fold every constant DequantizeLinear (per tensor, per axis or per block) and constant
    Reshape into float32 initializers; drop graph inputs nothing reads; make ``dynamic_axes``
    of the (first) input and every output's matching axes symbolic."""
    from onnx import numpy_helper

    g = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    kept = []
    for node in g.node:
        inputs = [i for i in node.input if i]
        if node.op_type == "DequantizeLinear" and all(i in consts for i in inputs):
            attrs = {a.name: a for a in node.attribute}
            axis = attrs["axis"].i if "axis" in attrs else 1
            block = attrs["block_size"].i if "block_size" in attrs else 0
            zero = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            consts[node.output[0]] = _dequantize(consts[node.input[0]], consts[node.input[1]],
                                                 zero, axis, block)  # fmt: skip
        elif node.op_type == "Reshape" and all(i in consts for i in inputs):
            consts[node.output[0]] = consts[node.input[0]].reshape(consts[node.input[1]])
        else:
            kept.append(node)
    used = {i for n in kept for i in n.input}
    del g.node[:]
    g.node.extend(kept)
    del g.initializer[:]
    g.initializer.extend(
        numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in consts.items() if k in used
    )
    initializer_names = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name in used and i.name not in initializer_names]
    del g.input[:]
    g.input.extend(inputs)
    del g.value_info[:]
    for axis, symbol in dynamic_axes:
        g.input[0].type.tensor_type.shape.dim[axis].dim_param = symbol
    batch = dict(dynamic_axes).get(0)
    for out in g.output if dynamic_axes else ():
        # outputs: the batch axis follows the input's, the axes between it and the last
        # (features) follow the image size
        dims = out.type.tensor_type.shape.dim
        for i, dim in enumerate(dims):
            if i == 0 and batch:
                dim.dim_param = batch
            elif 0 < i < len(dims) - 1:
                dim.dim_param = f"{out.name}_{i}"
    return model


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int
) -> np.ndarray:
    x = q.astype(np.float32)
    if zero is not None:
        zero = zero.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        z = zero.reshape(()) if zero is not None else np.float32(0)
        return ((x - z) * scale.reshape(())).astype(np.float32)
    axis = axis % q.ndim
    if block:  # one scale per block of ``block`` elements along ``axis``
        scale = np.repeat(scale, block, axis=axis).take(range(q.shape[axis]), axis=axis)
        if zero is not None:
            zero = np.repeat(zero, block, axis=axis).take(range(q.shape[axis]), axis=axis)
    else:  # one scale per slice along ``axis``
        shape = [1] * q.ndim
        shape[axis] = q.shape[axis]
        scale = scale.reshape(shape)
        zero = zero.reshape(shape) if zero is not None else None
    return ((x - (zero if zero is not None else 0)) * scale).astype(np.float32)


def build_dequantized(source: Path, out: Path, dynamic_axes: Sequence[tuple[int, str]]) -> None:
    import onnx

    model = dequantize_model(onnx.load(str(source)), dynamic_axes)
    onnx.checker.check_model(model)
    _save(model, out)


def build_dlib(source: Path, out: Path) -> None:
    from facesearch.models.dlib_onnx import dlib_resnet_to_onnx, read_dlib_resnet

    _save(dlib_resnet_to_onnx(read_dlib_resnet(source)), out)


def _preprocessed(source: Path, workdir: Path) -> Path:
    """ONNX Runtime's pre-quantization step (constant folding, BN into Conv, shapes)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = workdir / "preprocessed.onnx"
    quant_pre_process(str(source), str(out), skip_symbolic_shape=True)
    return out


def _quantize(
    source: Path, out: Path, ranges: Path, reader: Any = None, reduce_range: bool = False
) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="facesearch-quant-") as tmp:
        pre = _preprocessed(source, Path(tmp))
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_cache_path=str(ranges),
        )


def build_int8(source: Path, out: Path, ranges: Path, reduce_range: bool = False) -> None:
    if not ranges.is_file():
        raise ModelFileError(
            f"the activation ranges {ranges} for int8 quantization are missing from facesearch"
        )
    _quantize(source, out, ranges, reduce_range=reduce_range)


def calibrate(source: Path, ranges: Path, batches: Iterator[np.ndarray], input_name: str) -> None:
    """Measure activation ranges of the float32 graph ``source`` on real inputs and write them
    to ``ranges`` (JSON), the file ``quantize-int8`` reads. Overwrites ``ranges``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {input_name: batch}

    ranges.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="facesearch-calib-") as tmp:
        _quantize(source, Path(tmp) / "discard.onnx", ranges, Reader())


def _save(model: Any, out: Path) -> None:
    out.write_bytes(model.SerializeToString())


# --------------------------------------------------------------------- the cache


def calibration_resource(name: str) -> Path:
    return Path(str(resources.files("facesearch.models") / name))


class DerivedFiles:
    """Derived files of the manifest's models in ``cache_dir``: built once, always verified."""

    def __init__(self, cache_dir: Path, progress: Callable[[str], None] | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.progress = progress

    def path(
        self,
        model_key: str,
        spec: DerivedSpec,
        derived: dict[str, DerivedSpec],
        shipped: Callable[[], Path],
    ) -> Path:
        """The verified file of ``spec`` (building it, and its sources, when needed)."""
        path = self.cache_dir / spec.file
        if path.is_file() and verified_once(path, spec.sha256):
            return path
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache_dir / f".{spec.file}.lock"):
            if path.is_file():  # another process may have built it meanwhile
                digest = sha256_file(path)
                if digest == spec.sha256:
                    return path
                self._say(
                    f"{path} does not match its recorded SHA-256 (expected {spec.sha256}, "
                    f"got {digest}); rebuilding it"
                )
            source = (
                shipped()
                if spec.source == SHIPPED
                else self.path(model_key, derived[spec.source], derived, shipped)
            )
            self._say(f"building {spec.file} ({spec.recipe} of {source.name}) in {self.cache_dir}")
            fd, tmp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=f".{spec.file}.")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                self._build(spec, source, tmp)
                digest = sha256_file(tmp)
                if digest != spec.sha256:
                    raise ModelFileError(
                        f"the derived model file {spec.file} of {model_key} ({spec.recipe} of "
                        f"{source.name}) built here has SHA-256 {digest}, but the manifest "
                        f"records {spec.sha256}. The building tools differ from the ones it "
                        f"was recorded with ({_tool_versions()}); install the versions pinned "
                        f"in facesearch's pyproject.toml, or choose another runtime "
                        f"(FACESEARCH_*_RUNTIME)."
                    )
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return path

    def _build(self, spec: DerivedSpec, source: Path, out: Path) -> None:
        if spec.recipe == DEQUANTIZE:
            build_dequantized(source, out, spec.dynamic_axes)
        elif spec.recipe == DLIB_TO_ONNX:
            build_dlib(source, out)
        else:
            if spec.calibration is None:
                raise ModelFileError(f"derived file {spec.file}: no activation ranges recorded")
            build_int8(source, out, calibration_resource(spec.calibration), spec.reduce_range)

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (ingest workers build a file only once)."""
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _tool_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("onnx", "onnxruntime", "numpy", "protobuf"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} missing")
    return ", ".join(out)
