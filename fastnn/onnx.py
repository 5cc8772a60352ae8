"""ONNX export and import (the optional extra ``fastnn[onnx]``: the onnx package is imported here only).

``export(model_or_plan, path, opset=17, dynamic_batch=True)`` writes the compiled plan of a model (BatchNorm and an
affine preprocessor folded, Dropout gone) as a chain of standard nodes: Gemm (W as (in, out)), Mul + Add for a
per-feature scale-shift, a per-sample centering in double (SampleCenter: in float64, Sub of the row's first value
(Gather), ReduceMean + Sub; in float32, Cast, ReduceMean, Cast back, Sub; with_std, the float64 form then
ReduceMean of the squares, Sqrt, Less, Where, Div),
LayerNormalization, Relu / LeakyRelu (in a float64 export whose slope float32 does not hold, as LeakyRelu's
float32 alpha attribute would round it: Where(x < 0, x * alpha, x) with a double alpha, read back exactly) /
Sigmoid / Tanh, GELU as Gelu (opset >= 20) or its erf form (x * 0.5 * (1 + Erf(x / sqrt 2))), and the loss's
output map (Softmax over the last axis or Sigmoid) unless ``output_map=False``.
The file passes ``onnx.checker`` (full check) before it is written, atomically.

``load(path)`` imports a feed-forward graph, as ``torch.onnx.export`` writes it from an ``nn.Sequential`` MLP,
into a :class:`fastnn.Sequential` whose ``predict`` gives the graph's output: Gemm or MatMul (+ Add) -> Dense,
Relu, LeakyRelu, Sigmoid, Tanh, Gelu (and its erf form, of constants exactly sqrt(2) in the input's type, 1 and
0.5) -> activation layers, BatchNormalization -> BatchNorm (evaluation statistics), LayerNormalization ->
LayerNorm, Flatten / Identity / Dropout / Reshape to a batch of rows -> nothing, a final Softmax -> the model's
loss becomes cross_entropy (whose predict is the softmax).
Only a node's first output is imported: its others must be by-products no node reads (Dropout's mask,
LayerNormalization's Mean and InvStdDev); a BatchNormalization in training mode (training_mode=1, or in opsets 9 to
13 naming its outputs after Y) normalizes by the batch's statistics and is refused, as is a Dropout whose
training_mode input (opset 12 on) is true: it drops at random.
A Mul / Add by a per-feature constant is a constant that ``fit`` must not change (a scaler, as export writes a
StandardScaler): before any layer it becomes a step of the model's fitted preprocessor computing it as the nodes
do (x * scale with scale > 0 a MinMaxScaler of data_min 0, the shift a MeanCenter after it), elsewhere a
``BatchNorm(frozen=True)`` of variance 1 (fit runs it in its evaluation form and trains nothing; a shift alone as
its mean, which compiling keeps as an offset where folding it would cancel digits, as export's plan did); the
per-sample centering or standardization export writes (the forms above, and the float64 centering
ReduceMean(axes=[1], keepdims=1) + Sub(x, mean) earlier versions wrote; matched node for node), before any layer
-> a SampleCenter step of the preprocessor; a Gemm without bias nor activation just before it that the file's
metadata marks as a whitening (``WHITENING_GEMMS_KEY``, which export writes for a whitening before a centering),
with the Add before that, is that whitening's offset and matrix -> a fitted ZCAWhitening (a symmetric matrix) or
PCAWhitening (orthogonal columns) step before it (``ZCAWhitening.of``, ``PCAWhitening.of``, which refuses a
matrix it does not rebuild to the file dtype's rounding); an unmarked Gemm there is a trainable layer, after which
the centering is refused.
A tensor of rank > 2, (batch, d1, d2, ...), is seen flattened in C order: ``predict`` takes the input as rows
``x.reshape(n, -1)`` and gives the output flattened the same way. An op on such a tensor is imported only where
it computes the same function of those rows: elementwise ops, a Mul / Add constant that broadcasts against the
tensor without changing its shape, BatchNormalization (per channel, axis 1), Flatten / Reshape to a batch of rows,
and MatMul, LayerNormalization or Softmax when the axes they leave out all have size 1; Gemm takes a matrix only.
The graph's declared output shape, where it gives one, must be the one its nodes compute.
Only ops of the default ONNX domain ('' or 'ai.onnx') are read, in opsets MIN_OPSET to MAX_OPSET (9 to 28, the
versions of the imported ops checked; Softmax before opset 13 normalizes over the axes from ``axis`` on, as
it did then; Gelu needs opset 20, LayerNormalization 17).
Anything else, or a graph that is not a chain, raises :class:`OnnxImportError` naming the node, its op (and
domain) and what is supported. The file is read hardened: its size is checked first, every tensor's declared
shape against the bytes that hold it before anything is allocated, the input's width (its dims after the batch,
at most rank 8) against the largest tensor, or against MAX_FREE_WIDTH (65,536, the bound of plan files) when no
tensor is that large, the values its constants broadcast into beyond those it stores against MAX_SYNTHESIZED
(1,048,576), and external data must lie inside the file's folder.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any

import numpy as np

from ._optional import optional_import
from .formats import ModelFileError
from .formats.common import atomic_write_bytes, open_regular
from .inference import InferencePlan
from .inference import compile as compile_plan
from .inference.files import MAX_FREE_WIDTH, width_allowed
from .models import Sequential
from .preprocessing import SampleCenter
from .preprocessing.scalers import ROW_STD_FLOOR
from .validation import check_scalar

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Mul", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Softmax",
                 "BatchNormalization", "LayerNormalization", "Flatten", "Identity", "Dropout", "Reshape", "Constant")
MAX_FILE_BYTES = 2 << 30  # protobuf's own limit for one message
MAX_RANK = 8
# Values a file makes without storing them (a Mul by a scalar is a width-sized scale): a 6 KB file of 300 such
# nodes at width 65,536 loaded into 900 MB. Beyond what its stored tensors hold, a file may make this many.
MAX_SYNTHESIZED = 16 * MAX_FREE_WIDTH
# The default-domain opsets the import is checked against: every version of the imported ops these opsets hold
# was read (onnx.defs' history). Below 9, BatchNormalization has a `spatial` attribute and Erf (the GELU
# pattern) does not exist (below 7, Add, Mul and Gemm do not broadcast like numpy); Softmax's meaning changes at 13
# and Reshape gains allowzero at 14 (both read here); 28 is the newest opset onnx 1.23 knows: a later one may
# change an op unseen.
MIN_OPSET, MAX_OPSET = 9, 28
DEFAULT_DOMAINS = ("", "ai.onnx")
_OP_SINCE = {"Gelu": 20, "LayerNormalization": 17}  # the opset that gave the default domain these ops
#: ops whose outputs after the first are by-products that leave the first as it is (Dropout's mask,
#: LayerNormalization's Mean and InvStdDev): import ignores them where no node reads them
_BY_PRODUCT_OUTPUTS = ("Dropout", "LayerNormalization")
_BN_TRAINING = ("normalizes by the batch's statistics; fastnn imports the evaluation form (export the network in "
                "eval mode)")
#: the int64 constants a _row_step_nodes pattern names: ReduceMean's axes (an input from opset 18), and the index
#: Gather takes a row's first value at
_ROW_STEP_INDICES = {"axes": [1], "first": [0]}
#: the metadata_props key under which export lists (a JSON list) the names of the Gemm nodes that are a fitted
#: whitening of the preprocessor, not a layer: load makes a whitening of a Gemm before a centering only then, so a
#: trainable bias-free Linear of another file is never frozen into a preprocessor
WHITENING_GEMMS_KEY = "fastnn.whitening_gemms"


#: the forms of a per-sample step _row_step_nodes writes: "std" standardizes (SampleCenter(with_std=True)),
#: "deviations" centres by the deviations from the row's first value (a float64 SampleCenter()), "mean" subtracts
#: the row mean rounded to the input's type (a float32 SampleCenter(), and the float64 files of earlier fastnn;
#: load reads them all), longest first: import tries them in this order, "deviations" starting as "std" does
ROW_STEP_FORMS = ("std", "deviations", "mean")


def _row_step_nodes(form: str, double_input: bool, opset: int) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """The nodes of a per-sample centering (SampleCenter) or standardization (with_std) in one of ROW_STEP_FORMS,
    in double and rounded once to the input's type, as export writes them and load reads them back node for
    node: "mean", each row minus its mean rounded to the input's type; "deviations", as scalers.centered_rows,
    the deviations from the row's first value less their mean; "std", as scalers.standardized_rows, those divided
    by their population std (1 below ROW_STD_FLOOR). A node is (op, inputs, attributes), an input being "x" (the
    step's input), the index of an earlier node (its output), a name of _ROW_STEP_INDICES ("axes": ReduceMean's
    [1] from opset 18, when the axes became an input; "first": Gather's [0]) or a float (a double constant)."""
    from onnx import TensorProto

    axes_in, axes_attr = (["axes"], {}) if opset >= 18 else ([], {"axes": [1]})
    nodes: list[tuple[str, list[Any], dict[str, Any]]] = []

    def add(op: str, inputs: list[Any], **attrs: Any) -> int:
        nodes.append((op, inputs, attrs))
        return len(nodes) - 1

    def reduce(op: str, src: Any) -> int:
        return add(op, [src, *axes_in], **axes_attr, keepdims=1)

    src = "x" if double_input else add("Cast", ["x"], to=TensorProto.DOUBLE)
    if form == "mean":  # the mean rounded to the input's type, then subtracted in it
        m = reduce("ReduceMean", src)
        add("Sub", ["x", m if double_input else add("Cast", [m], to=TensorProto.FLOAT)])
        return nodes
    shifted = add("Sub", [src, add("Gather", [src, "first"], axis=1)])
    z = c = add("Sub", [shifted, reduce("ReduceMean", shifted)])
    if form == "std":
        sd = add("Sqrt", [reduce("ReduceMean", add("Mul", [c, c]))])
        z = add("Div", [c, add("Where", [add("Less", [sd, ROW_STD_FLOOR]), 1.0, sd])])
    if not double_input:
        add("Cast", [z], to=TensorProto.FLOAT)
    return nodes


def _leaky_nodes(alpha: float) -> list[tuple[str, list[Any], dict[str, Any]]]:
    """LeakyReLU as Where(x < 0, x * alpha, x) with alpha a double constant, in the form of _row_step_nodes: a
    float64 export whose slope float32 does not hold (LeakyRelu's alpha is a float32 attribute)."""
    return [("Less", ["x", 0.0], {}), ("Mul", ["x", alpha], {}), ("Where", [0, 1, "x"], {})]


class OnnxImportError(ValueError):
    """An ONNX graph fastnn cannot import (an unsupported op, not a chain), or a damaged or hostile file."""


def _onnx() -> Any:
    return optional_import("onnx", "fastnn.onnx", "fastnn[onnx]")


# ---- export ------------------------------------------------------------------------------------------------------
def export(model_or_plan: Sequential | InferencePlan, path: str | os.PathLike[str], opset: int = 17,
           dynamic_batch: bool = True, output_map: bool = True, batch_size: int = 1) -> None:
    """Write a model (compiled first) or an InferencePlan to ``path`` as ONNX (see the module docstring).
    ``dynamic_batch=False`` fixes the batch dimension to ``batch_size`` (an int >= 1); ``dynamic_batch`` and
    ``output_map`` are bools (a truthy string such as "no" is refused, not taken for True)."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    dynamic_batch = check_scalar(dynamic_batch, "dynamic_batch", bool)
    output_map = check_scalar(output_map, "output_map", bool)
    batch_size = check_scalar(batch_size, "batch_size", numbers.Integral, min_val=1)
    plan = model_or_plan if isinstance(model_or_plan, InferencePlan) else compile_plan(model_or_plan)
    newest = min(onnx.defs.onnx_opset_version(), MAX_OPSET)  # a file fastnn.onnx.load reads back, and onnx knows
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= newest:
        raise ValueError(f"opset must be an int in [13, {newest}], got {opset!r}")
    if opset < 17 and any(layer.kind == "layernorm" for layer in plan.layers):
        raise ValueError("LayerNormalization needs opset >= 17")
    for layer in plan.layers:  # LayerNormalization's epsilon is a float32 attribute whatever the tensor type
        with np.errstate(over="ignore"):
            eps32 = np.float32(layer.eps)
        if layer.kind == "layernorm" and not 0 < eps32 < np.inf:
            raise ValueError(f"LayerNorm eps={layer.eps!r} becomes {float(eps32)} in ONNX's float32 epsilon attribute, "
                             "which would change the model's outputs (a NaN for a constant row at 0); use an eps "
                             "between 1e-45 and 3e38 to export")
    elem = TensorProto.FLOAT if plan.dtype == np.float32 else TensorProto.DOUBLE
    nodes: list[Any] = []
    inits: list[Any] = []
    current = "x"

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, plan.dtype), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> None:
        nonlocal current
        current = f"t{len(nodes)}_{op}"
        nodes.append(helper.make_node(op, inputs, [current], name=f"n{len(nodes)}_{op}", **attrs))

    def activation(i: int, act: str, alpha: float) -> None:
        x = current
        if act == "relu":
            node("Relu", [x])
        elif act == "leaky_relu" and elem == TensorProto.DOUBLE and float(np.float32(alpha)) != alpha:
            nodes_of(f"l{i}.leaky", _leaky_nodes(float(alpha)))
        elif act == "leaky_relu":
            node("LeakyRelu", [x], alpha=float(alpha))
        elif act == "sigmoid":
            node("Sigmoid", [x])
        elif act == "tanh":
            node("Tanh", [x])
        elif act == "gelu" and opset >= 20:
            node("Gelu", [x])
        elif act == "gelu":  # the erf form torch writes below opset 20
            node("Div", [x, const(f"l{i}.sqrt2", math.sqrt(2.0))])
            node("Erf", [current])
            node("Add", [current, const(f"l{i}.one", 1.0)])
            node("Mul", [x, current])
            node("Mul", [current, const(f"l{i}.half", 0.5)])

    def nodes_of(prefix: str, pattern: list[tuple[str, list[Any], dict[str, Any]]]) -> None:
        """The nodes of a pattern (_row_step_nodes) on the current tensor, its constants named after ``prefix``."""
        names: dict[str | int, str] = {"x": current, **{key: f"{prefix}.{key}" for key in _ROW_STEP_INDICES}}
        inits.extend(numpy_helper.from_array(np.array(value, np.int64), names[key])
                     for key, value in _ROW_STEP_INDICES.items() if any(key in inputs for _, inputs, _ in pattern))
        for k, (op, inputs, attrs) in enumerate(pattern):
            args = [names[a] if isinstance(a, (str, int)) else f"{prefix}.c{k}" for a in inputs]
            inits.extend(numpy_helper.from_array(np.array(a, np.float64), f"{prefix}.c{k}")
                         for a in inputs if isinstance(a, float))
            node(op, args, **attrs)
            names[k] = current

    # the preprocessor's steps come first in a plan, and a centering is one: a dense step before it is a whitening
    last_center = max((i for i, layer in enumerate(plan.layers) if layer.kind in ("center", "center_std")), default=-1)
    whitening_gemms = []
    for i, layer in enumerate(plan.layers):
        if layer.kind == "dense":
            node("Gemm", [current, const(f"l{i}.W", layer.w), const(f"l{i}.b", layer.b)])
            if i < last_center:
                whitening_gemms.append(nodes[-1].name)
        elif layer.kind == "scale_shift":
            node("Mul", [current, const(f"l{i}.scale", layer.w)])
            node("Add", [current, const(f"l{i}.shift", layer.b)])
        elif layer.kind in ("center", "center_std"):  # SampleCenter, per row in double (_row_step_nodes)
            double = elem == TensorProto.DOUBLE
            form = "std" if layer.kind == "center_std" else "deviations" if double else "mean"
            nodes_of(f"l{i}", _row_step_nodes(form, double, opset))
        elif layer.kind == "layernorm":
            n = layer.n_out
            w = layer.w if layer.w is not None else np.ones(n, plan.dtype)
            b = layer.b if layer.b is not None else np.zeros(n, plan.dtype)
            node("LayerNormalization", [current, const(f"l{i}.gamma", w), const(f"l{i}.beta", b)], axis=-1,
                 epsilon=float(layer.eps))
        activation(i, layer.activation, layer.alpha)
    if output_map and plan.output_map == "softmax":
        node("Softmax", [current], axis=-1)
    elif output_map and plan.output_map == "sigmoid":
        node("Sigmoid", [current])
    if nodes:
        nodes[-1].output[0] = current = "y"
    else:  # nothing to compute (a model of Dropout only, without its output map)
        nodes.append(helper.make_node("Identity", ["x"], ["y"], name="n0_Identity"))
    batch: Any = "batch" if dynamic_batch else batch_size
    graph = helper.make_graph(nodes, "fastnn", [helper.make_tensor_value_info("x", elem, [batch, plan.n_features_in])],
                              [helper.make_tensor_value_info("y", elem, [batch, plan.n_outputs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="fastnn",
                              producer_version=str(plan.info.get("fastnn_version", "")))
    model.ir_version = min(model.ir_version, 8 if opset <= 17 else model.ir_version)
    if whitening_gemms:
        helper.set_model_props(model, {WHITENING_GEMMS_KEY: json.dumps(whitening_gemms)})
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    atomic_write_bytes(path, data)


# ---- import: reading tensors hardened ----------------------------------------------------------------------------
_NP_TYPES = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}  # bool: Dropout's training_mode


def _tensor(path: str, tensor: Any, folder: str, file_size: int) -> np.ndarray:
    """A TensorProto as an array, every declared size checked against the bytes that hold it first."""
    name = tensor.name or "<unnamed>"
    dtype = _NP_TYPES.get(tensor.data_type)
    if dtype is None:
        raise OnnxImportError(f"{path}: tensor {name!r} has data type {tensor.data_type}; fastnn reads float, "
                              "double, int64/int32 and bool tensors")
    dims = list(tensor.dims)
    if len(dims) > MAX_RANK or any(d < 0 for d in dims):
        raise OnnxImportError(f"{path}: tensor {name!r} has an invalid shape {dims[:10]}")
    count = math.prod(dims)
    itemsize = np.dtype(dtype).itemsize
    if tensor.data_location == 1:  # EXTERNAL: sized against the data file below, not against the .onnx
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        target = os.path.realpath(os.path.join(folder, location))
        if not location or os.path.isabs(location) or os.path.commonpath([target, folder]) != folder:
            raise OnnxImportError(f"{path}: tensor {name!r}: external data {location!r:.80} lies outside the "
                                  f"model's folder {folder}")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", count * itemsize))
        except ValueError:
            raise OnnxImportError(f"{path}: tensor {name!r}: bad external data offset/length") from None
        if length != count * itemsize or offset < 0 or not os.path.isfile(target) or \
                offset + length > os.path.getsize(target):
            raise OnnxImportError(f"{path}: tensor {name!r}: external data ({location!r:.80}, offset {offset}, "
                                  f"length {length}) does not hold shape {dims} of {np.dtype(dtype)}")
        with open(target, "rb") as f:
            f.seek(offset)
            raw = f.read(length)
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(dims)
    if count * itemsize > max(file_size, 1) * 64:  # typed fields may pack tighter than raw bytes, never 64x
        raise OnnxImportError(f"{path}: tensor {name!r} declares {count} values, more than the file can hold")
    if tensor.HasField("raw_data") or tensor.raw_data:
        if len(tensor.raw_data) != count * itemsize:
            raise OnnxImportError(f"{path}: tensor {name!r}: shape {dims} of {np.dtype(dtype)} needs "
                                  f"{count * itemsize} bytes, it holds {len(tensor.raw_data)}")
        return np.frombuffer(tensor.raw_data, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(dims)
    field = {1: tensor.float_data, 11: tensor.double_data, 7: tensor.int64_data, 6: tensor.int32_data,
             9: tensor.int32_data}[tensor.data_type]
    if len(field) != count:
        raise OnnxImportError(f"{path}: tensor {name!r}: shape {dims} needs {count} values, it holds {len(field)}")
    return np.asarray(field, dtype).reshape(dims)


def _read(path: str) -> Any:
    onnx = _onnx()
    with open_regular(path, lambda p, problem: OnnxImportError(f"{p}: {problem}")) as f:  # a FIFO would block
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise OnnxImportError(f"{path}: {size} bytes, more than ONNX's {MAX_FILE_BYTES}-byte limit")
        data = f.read()
    try:
        return onnx.load_model_from_string(data), size
    except Exception as exc:  # protobuf's DecodeError and friends on truncated or foreign bytes
        raise OnnxImportError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None


# ---- import: the chain -------------------------------------------------------------------------------------------
def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` broadcasts to ``target`` without changing it (numpy's and ONNX's rules)."""
    try:
        return len(shape) <= len(target) and np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _shown(shape: tuple[int, ...]) -> str:
    return f"(batch, {', '.join(map(str, shape))})"


class _Chain:
    """Walks the graph's nodes as one chain from its input to its output, collecting fastnn layers.

    The chain's tensor has the graph's shape (batch, *shape); fastnn sees it flattened in C order, as rows of
    width prod(shape). A node is imported only where it computes the same function of those rows: it keeps the
    shape (elementwise ops, constants that broadcast without changing it, BatchNormalization per channel), makes
    it a batch of rows (Flatten, Reshape), or acts on the whole row (Gemm on a matrix; MatMul, LayerNormalization,
    Softmax when the axes they leave out are all of size 1). Anything else is refused by name."""

    def __init__(self, path: str, graph: Any, consts: dict[str, np.ndarray], shape: tuple[int, ...], opset: int,
                 elem: int, whitening_gemms: frozenset[str] = frozenset()):
        self.path, self.consts, self.opset, self.elem = path, consts, opset, elem  # elem: the input's tensor type
        self.whitening_gemms = whitening_gemms  # the Gemm nodes export marked as a whitening (WHITENING_GEMMS_KEY)
        self.shape = shape  # of the chain's tensor, after the batch
        kept = [(k, n) for k, n in enumerate(graph.node) if n.op_type != "Constant"]
        self.positions = [k for k, _ in kept]  # in the graph, as errors number the nodes
        self.nodes = [n for _, n in kept]
        self.read = {name for n in graph.node for name in n.input} | {v.name for v in graph.output}
        self.layers: list[Any] = []
        self.weights: list[list[np.ndarray]] = []
        self.softmax = False
        self.preprocess: list[Any] = []  # the fitted preprocessor steps the graph's first nodes make
        # values the constants may still be broadcast into (see MAX_SYNTHESIZED)
        self.synthesis_budget = MAX_SYNTHESIZED + sum(c.size for c in consts.values())

    @property
    def width(self) -> int:
        return math.prod(self.shape)

    def fail(self, i: int, what: str) -> OnnxImportError:
        n = self.nodes[i]
        return OnnxImportError(f"{self.path}: node {self.positions[i]} {n.name!r} (op {n.op_type}): {what}; fastnn "
                               "imports a "
                               f"chain of {', '.join(o for o in SUPPORTED_OPS if o != 'Constant')} (a feed-forward "
                               "nn.Sequential MLP)")

    def const(self, i: int, name: str) -> np.ndarray:
        """The constant ``name`` read by node i: a number tensor (a bool one is only a Dropout's training_mode)."""
        if name not in self.consts:
            raise self.fail(i, f"input {name!r} is not a constant (initializer): the graph is not a chain")
        value = self.consts[name]
        if value.dtype == np.bool_:
            raise self.fail(i, f"input {name!r} is a bool tensor, not numbers")
        return value

    def dropout_in_inference_mode(self, i: int) -> None:
        """Dropout (opset 12 on) takes its mode as its third input: absent or a constant false is the identity
        fastnn imports; true drops at random, and a mode fed at run time is unknown here, so both are refused."""
        n = self.nodes[i]
        ratio = n.input[1] if len(n.input) > 1 else ""
        if ratio and (ratio not in self.consts or self.consts[ratio].dtype.kind != "f" or self.consts[ratio].shape):
            raise self.fail(i, f"ratio {ratio!r} must be a constant float scalar (as the operator defines it)")
        mode = n.input[2] if len(n.input) > 2 else ""
        if not mode:
            return
        if mode not in self.consts:
            raise self.fail(i, f"training_mode {mode!r} is not a constant: fastnn imports the inference graph, "
                               "where it is absent or false")
        value = self.consts[mode]
        if value.dtype != np.bool_ or value.shape:
            raise self.fail(i, f"training_mode {mode!r} must be a bool scalar, got {value.dtype}{list(value.shape)}")
        if value.item():
            raise self.fail(i, f"training_mode {mode!r} is true: this Dropout drops at random (a training "
                               "graph); export the model in evaluation mode")

    def gelu_at(self, i: int, x: str) -> int:
        """Length of torch's erf GELU pattern starting at node i on tensor x (0 if it is not there): its constants
        are exactly sqrt(2) (rounded to the input's type), 1 and 0.5."""
        ops = [n.op_type for n in self.nodes[i:i + 5]]
        if ops != ["Div", "Erf", "Add", "Mul", "Mul"]:
            return 0
        div, erf, add, mul, half = self.nodes[i:i + 5]
        try:
            values = {name: self.consts[name] for name in (div.input[1], add.input[1], half.input[1])}
        except KeyError:
            return 0
        ok = (all(_broadcasts_to(v.shape, (1, *self.shape)) for v in values.values())
              and div.input[0] == x and self.holds(values[div.input[1]], math.sqrt(2))
              and erf.input[0] == div.output[0] and add.input[0] == erf.output[0]
              and self.holds(values[add.input[1]], 1.0)
              and set(mul.input) == {x, add.output[0]} and half.input[0] == mul.output[0]
              and self.holds(values[half.input[1]], 0.5))
        return 5 if ok else 0

    def holds(self, value: np.ndarray, constant: float) -> bool:
        """Whether ``value`` is ``constant`` rounded to the input's type in every entry, as torch and export write
        a pattern's constants: a value an ulp away is another function, which the pattern must not stand for."""
        dtype = np.dtype(_NP_TYPES[self.elem])
        return value.dtype == dtype and bool(np.all(value == dtype.type(constant)))

    def row_step_at(self, i: int, x: str) -> tuple[int, bool]:
        """(length, with_std) of a per-sample centering or standardization fastnn.onnx.export writes or wrote,
        starting at node i on tensor x ((0, False) if none is there, node for node, input for input and attribute
        for attribute: _row_step_nodes in one of ROW_STEP_FORMS)."""
        from onnx import TensorProto

        for form in ROW_STEP_FORMS:  # the longer first: "deviations" begins as "std" does
            pattern = _row_step_nodes(form, self.elem == TensorProto.DOUBLE, self.opset)
            if len(self.shape) == 1 and self.matches(i, x, pattern):
                return len(pattern), form == "std"
        return 0, False

    def leaky_at(self, i: int, x: str) -> float | None:
        """The slope of the LeakyReLU export writes as _leaky_nodes, starting at node i on tensor x, or None."""
        mul = self.nodes[i + 1] if i + 1 < len(self.nodes) else None
        alpha = self.consts.get(mul.input[-1]) if mul is not None and mul.op_type == "Mul" else None
        if alpha is None or alpha.dtype != np.float64 or alpha.size != 1:
            return None
        return alpha.item() if self.matches(i, x, _leaky_nodes(alpha.item())) else None

    def matches(self, i: int, x: str, pattern: list[tuple[str, list[Any], dict[str, Any]]]) -> bool:
        """Whether the nodes from i on tensor x are ``pattern`` (_row_step_nodes' form), node for node."""
        nodes = self.nodes[i:i + len(pattern)]
        return len(nodes) == len(pattern) and all(
            self._is_step(n, op, inputs, attrs, x, nodes) for n, (op, inputs, attrs) in zip(nodes, pattern))

    def _is_step(self, n: Any, op: str, inputs: list[Any], attrs: dict[str, Any], x: str, nodes: list[Any]) -> bool:
        """Whether node n is the step (op, inputs, attrs) of a _row_step_nodes pattern matched to ``nodes``."""
        def same(name: str, ref: Any) -> bool:
            if isinstance(ref, str) and ref == "x":
                return name == x
            if isinstance(ref, int):
                return name == nodes[ref].output[0]
            value = self.consts.get(name)
            if isinstance(ref, str):
                return value is not None and value.dtype == np.int64 and value.tolist() == _ROW_STEP_INDICES[ref]
            return value is not None and value.dtype == np.float64 and value.size == 1 and value.item() == ref

        return (n.op_type == op and len(n.output) == 1 and _attrs(n) == attrs and len(n.input) == len(inputs)
                and all(same(name, ref) for name, ref in zip(n.input, inputs)))

    def expanded(self, i: int, name: str, target: tuple[int, ...], against: str,
                 value: np.ndarray | None = None) -> np.ndarray:
        """The constant ``name`` (or ``value`` made of it) broadcast to ``target`` and flattened, one value per
        feature of the row; refused unless it broadcasts to ``target`` (described as ``against``) unchanged."""
        value = self.const(i, name) if value is None else value
        if not _broadcasts_to(value.shape, target):
            raise self.fail(i, f"constant {name!r} of shape {list(value.shape)} does not broadcast against "
                               f"{against} unchanged: it is not one value per feature nor one for all")
        self.synthesis_budget -= math.prod(target) - value.size
        if self.synthesis_budget < 0:
            raise self.fail(i, f"the graph's constants broadcast to more than {MAX_SYNTHESIZED:,} values beyond the "
                               "ones the file stores (a file must hold what its layers are made of)")
        return np.broadcast_to(value, target).reshape(-1)

    def per_feature(self, i: int, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """The constant ``name`` as one value per feature, shape (width,): it must broadcast against the tensor
        (batch, *shape) (by default the chain's) without changing it, as a scalar, a (width,) vector or a row
        (1, width) does against a batch of rows, or a constant of shape (2, 1) against (batch, 2, 3)."""
        shape = self.shape if shape is None else shape
        return self.expanded(i, name, (1, *shape), _shown(shape))

    def per_channel(self, i: int, name: str) -> np.ndarray:
        """BatchNormalization's parameter ``name`` as one value per feature: on a tensor (batch, C, d1, ...) it
        holds one value per channel C, which ONNX broadcasts over d1, ...; on a batch of rows, one per feature."""
        value = self.const(i, name)
        if len(self.shape) > 1:
            if value.ndim > 1:
                raise self.fail(i, f"parameter {name!r} of shape {list(value.shape)} is not one value per channel "
                                   f"({self.shape[0]},) of {_shown(self.shape)}")
            value = value.reshape(value.shape + (1,) * (len(self.shape) - 1))
        return self.expanded(i, name, (1, *self.shape), _shown(self.shape), value)

    def axis(self, i: int, axis: Any) -> int:
        """An op's ``axis`` attribute as an axis of (batch, *shape), refusing the batch's."""
        rank = len(self.shape) + 1
        if not isinstance(axis, int) or not -rank <= axis < rank or axis % rank == 0:
            raise self.fail(i, f"axis={axis!r} of {_shown(self.shape)}: not one of its feature axes")
        return axis % rank

    def matrix(self, i: int, name: str, transpose: bool = False) -> np.ndarray:
        W = self.const(i, name)
        if W.ndim != 2:
            raise self.fail(i, f"weight {name!r} of shape {list(W.shape)}, expected a matrix")
        return W.T if transpose else W

    def check_outputs(self, i: int) -> None:
        """Refuse node i's outputs after its first unless they are by-products no node reads (_BY_PRODUCT_OUTPUTS;
        import takes an op's first output only). A BatchNormalization's are its training mode's, refused even
        unnamed: opsets 9-13 choose that mode by them, and onnxruntime counts the unnamed ones."""
        n = self.nodes[i]
        if n.op_type == "BatchNormalization" and len(n.output) > 1:
            raise self.fail(i, f"outputs {list(n.output[1:])!s:.80} after Y are the training mode's, which "
                               + _BN_TRAINING)
        more = [name for name in n.output[1:] if name]
        read = [name for name in more if name in self.read]
        if read:
            raise self.fail(i, f"its output {read[0]!r} is read by another node (or is the graph's output): fastnn "
                               "imports an op's first output only")
        if more and n.op_type not in _BY_PRODUCT_OUTPUTS:
            raise self.fail(i, f"outputs {more!s:.80} after its first: op {n.op_type} has one")

    def walk(self, x: str, output: str) -> None:
        for i in range(len(self.nodes)):
            self.check_outputs(i)
        i = 0
        while i < len(self.nodes):
            try:
                x, i = self._visit(i, x, output)
            except OnnxImportError:
                raise
            except (ValueError, TypeError, IndexError, KeyError) as exc:  # values the layers refuse (epsilon 0...)
                raise self.fail(i, f"cannot import it ({type(exc).__name__}: {exc})") from None
        if x != output:
            raise OnnxImportError(f"{self.path}: the chain ends at {x!r}, not at the graph output {output!r}")

    def _visit(self, i: int, x: str, output: str) -> tuple[str, int]:
        """Import node i (and the nodes it fuses with) on the chain's tensor x: (the chain's new tensor, the next
        node)."""
        from .layers import GELU, BatchNorm, LayerNorm, LeakyReLU, ReLU, Sigmoid, Tanh

        n = self.nodes[i]
        a = _attrs(n)
        if self.softmax:
            raise self.fail(i, "follows the Softmax, which must be the last node")
        if n.op_type in ("Div", "Erf") and self.gelu_at(i, x):
            self.layers.append(GELU())
            self.weights.append([])
            return self.nodes[i + 4].output[0], i + 5
        length, with_std = self.row_step_at(i, x) if n.op_type in ("Cast", "ReduceMean", "Gather") else (0, False)
        if length:
            if self.layers:
                self._whitening_before_row_step(i)
            self.preprocess.append(SampleCenter(with_std=with_std).fit(np.zeros((1, self.width))))
            return self.nodes[i + length - 1].output[0], i + length
        if n.op_type == "Less" and (alpha := self.leaky_at(i, x)) is not None:
            self.layers.append(LeakyReLU(alpha))
            self.weights.append([])
            return self.nodes[i + 2].output[0], i + 3
        if n.op_type == "Identity" and n.input and n.input[0] in self.consts:  # a constant's alias, as torch writes
            self.consts[n.output[0]] = self.consts[n.input[0]]
            return x, i + 1
        if not n.input or n.input[0] != x:
            raise self.fail(i, f"its data input is {list(n.input)[:1]}, not the previous node's output {x!r}: "
                               "the graph is not a chain")
        if n.op_type == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise self.fail(i, "Gemm with alpha, beta != 1 or transA is not supported")
            if len(self.shape) != 1:
                raise self.fail(i, f"Gemm takes a matrix (batch, features), not {_shown(self.shape)}; Flatten "
                                   "before it")
            W = self.matrix(i, n.input[1], transpose=bool(a.get("transB", 0)))
            b = self.per_feature(i, n.input[2], W.shape[1:]) if len(n.input) > 2 and n.input[2] else \
                np.zeros(W.shape[1])
            self._dense(i, W, b, W.shape[1:])
        elif n.op_type == "MatMul":
            if math.prod(self.shape[:-1]) != 1:  # (batch, d1, .., dk) @ W multiplies each row of length dk
                raise self.fail(i, f"MatMul of {_shown(self.shape)} multiplies its last axis only, not the whole "
                                   "row; Flatten before it")
            W = self.matrix(i, n.input[1])
            shape = (*self.shape[:-1], W.shape[1])
            nxt = self.nodes[i + 1] if i + 1 < len(self.nodes) else None
            b = np.zeros(W.shape[1])
            if nxt is not None and nxt.op_type == "Add" and n.output[0] in nxt.input:
                other = [s for s in nxt.input if s != n.output[0]]
                if len(other) != 1:
                    raise self.fail(i + 1, "an Add after MatMul must add one constant bias")
                b = self.per_feature(i + 1, other[0], shape)
                n, i = nxt, i + 1
            self._dense(i, W, b, shape)
        elif n.op_type in ("Mul", "Add"):  # a constant per-feature scale [and shift]
            if len(n.input) > 1 and n.input[1] not in self.consts:
                raise self.fail(i, f"combines the chain's tensor with {n.input[1]!r}, not with a constant: an "
                                   "elementwise function of the tensor fastnn does not import (torch's "
                                   "tanh-approximate GELU below opset 20 is one), or a graph that is not a chain")
            scale, shift = np.ones(self.width), np.zeros(self.width)
            if n.op_type == "Mul":
                scale = self.per_feature(i, n.input[1])
                nxt = self.nodes[i + 1] if i + 1 < len(self.nodes) else None
                if nxt is not None and nxt.op_type == "Add" and nxt.input[0] == n.output[0]:
                    shift = self.per_feature(i + 1, nxt.input[1])
                    n, i = nxt, i + 1
            else:
                shift = self.per_feature(i, n.input[1])
            self._scale_shift(scale, shift)
        elif n.op_type in ("Relu", "Sigmoid", "Tanh"):
            self.layers.append({"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}[n.op_type]())
            self.weights.append([])
        elif n.op_type == "LeakyRelu":
            self.layers.append(LeakyReLU(float(a.get("alpha", 0.01))))
            self.weights.append([])
        elif n.op_type == "Gelu":
            if a.get("approximate", b"none") not in (b"none", "none"):
                raise self.fail(i, "only the exact (erf) Gelu is supported, not approximate='tanh'")
            self.layers.append(GELU())
            self.weights.append([])
        elif n.op_type == "BatchNormalization":
            if a.get("training_mode", 0):
                raise self.fail(i, "training_mode=1 " + _BN_TRAINING)
            gamma, beta, mean, var = (self.per_channel(i, s) for s in n.input[1:5])
            if not np.all(var >= 0):  # refused here, by node, rather than by fastnn's layer index in set_weights
                raise self.fail(i, f"variance {n.input[4]!r} holds {float(var[~(var >= 0)][0]):.6g}: a variance is "
                                   ">= 0")
            self.layers.append(BatchNorm(eps=float(a.get("epsilon", 1e-5))))
            self.weights.append([gamma, beta, mean, var])
        elif n.op_type == "LayerNormalization":  # normalizes over the axes from `axis` on
            axis = self.axis(i, a.get("axis", -1))
            if math.prod(self.shape[:axis - 1]) != 1:
                raise self.fail(i, f"LayerNormalization over axis {axis} of {_shown(self.shape)} normalizes groups "
                                   "of the row, not the whole row; Flatten before it")
            normalized = self.shape[axis - 1:]
            against = f"the normalized axes {list(normalized)}"
            gamma = self.expanded(i, n.input[1], normalized, against)
            beta = self.expanded(i, n.input[2], normalized, against) if len(n.input) > 2 and n.input[2] else \
                np.zeros(self.width)
            self.layers.append(LayerNorm(eps=float(a.get("epsilon", 1e-5))))
            self.weights.append([gamma, beta])
        elif n.op_type == "Softmax":
            if n.output[0] != output:
                raise self.fail(i, "Softmax must be the last node")
            axis = self.axis(i, a.get("axis", -1 if self.opset >= 13 else 1))
            if self.opset >= 13:  # along that axis alone: the whole row when the others have size 1
                whole_row, over = self.shape[axis - 1] == self.width, "that axis alone"
            else:  # over the tensor flattened to 2-D at that axis: the whole row when the axes before it are 1
                whole_row, over = math.prod(self.shape[:axis - 1]) == 1, "the axes from it on"
            if not whole_row:
                raise self.fail(i, f"Softmax of a rank-{len(self.shape) + 1} tensor {_shown(self.shape)} at axis "
                                   f"{axis} normalizes over {over} in opset {self.opset}: groups of the row, not "
                                   "the whole row; Flatten before it")
            self.softmax = True
        elif n.op_type == "Reshape":
            target = self.const(i, n.input[1])
            allowzero = a.get("allowzero", 0)  # opset 14: a 0 is then a zero-length axis, not the batch's copy
            if target.shape != (2,) or target.dtype.kind != "i" or target[0] not in ((-1,) if allowzero else (-1, 0)) \
                    or target[1] not in (-1, self.width) or target.tolist() == [-1, -1]:
                raise self.fail(i, f"Reshape to {target.tolist()!s:.60}{' with allowzero=1' if allowzero else ''}: "
                                   f"only a reshape to the batch of rows (-1, {self.width}) is imported")
            self.shape = (self.width,)
        elif n.op_type == "Flatten":
            if a.get("axis", 1) not in (1, -len(self.shape)):  # the axis after the batch, counted from either end
                raise self.fail(i, f"Flatten with axis={a.get('axis')!r} of {_shown(self.shape)}: only at axis 1, "
                                   "to the batch of rows")
            self.shape = (self.width,)
        elif n.op_type in ("Div", "Erf"):
            raise self.fail(i, f"op {n.op_type} is imported only as part of GELU's erf form, as torch writes it below "
                               "opset 20: Mul(Mul(x, Add(Erf(Div(x, sqrt2)), one)), half), its constants exactly "
                               "sqrt(2) rounded to the input's type, 1 and 0.5")
        elif n.op_type in ("Less", "Where"):
            raise self.fail(i, f"op {n.op_type} is imported only as part of the LeakyReLU a float64 export writes "
                               "for a slope float32 does not hold: Where(Less(x, 0.0), Mul(x, alpha), x), double "
                               "constants")
        elif n.op_type in ("Cast", "ReduceMean", "Sub", "Sqrt", "Gather"):
            raise self.fail(i, f"op {n.op_type} is imported only as part of the per-sample centering or "
                               "standardization fastnn.onnx.export writes for a SampleCenter, node for node (the "
                               "float32 centering: Cast(to=DOUBLE) ReduceMean(axes=[1], keepdims=1) Cast(to=FLOAT) "
                               "Sub(x, mean); the float64 one: Sub(x, Gather(x, [0], axis=1)), less its ReduceMean), "
                               "before any layer")
        elif n.op_type == "Dropout":
            self.dropout_in_inference_mode(i)
        elif n.op_type != "Identity":
            raise self.fail(i, f"op {n.op_type} is not supported")
        return n.output[0], i + 1

    def _whitening_before_row_step(self, i: int) -> None:
        """The graph's one layer before the per-sample step at node i, a Gemm without bias nor activation after
        the preprocessor's steps that export marked as a whitening (WHITENING_GEMMS_KEY), becomes a fitted
        whitening step of it, with the MeanCenter just before as its mean (PCAWhitening.of, ZCAWhitening.of for a
        symmetric matrix). Anything else is refused: the centering is the preprocessor's, and an unmarked Gemm is a
        trainable layer, which must not become a constant."""
        from .layers import Dense
        from .preprocessing import MeanCenter, PCAWhitening, PreprocessingError, ZCAWhitening

        refused = ("a per-sample centering is imported as the model's preprocessor (SampleCenter), so only among "
                   "the graph's first steps, before any layer")
        gemm = self.nodes[i - 1]
        if gemm.op_type != "Gemm" or gemm.name not in self.whitening_gemms:
            raise self.fail(i, f"{refused} (or after a Gemm that fastnn's export marks as a whitening in the "
                               f"metadata {WHITENING_GEMMS_KEY!r})")
        marked = f"{refused}; the Gemm {gemm.name!r} before it, marked as a whitening in the metadata, "
        if len(self.layers) != 1 or not isinstance(self.layers[0], Dense) or self.weights[0][1].any():
            raise self.fail(i, marked + "is not one without bias after the preprocessor's steps")
        W = self.weights[0][0]
        offset = self.preprocess.pop().mean_ if self.preprocess and type(self.preprocess[-1]) is MeanCenter else \
            np.zeros(W.shape[0])
        whitening = ZCAWhitening if W.shape[0] == W.shape[1] and np.array_equal(W, W.T) else PCAWhitening
        try:
            self.preprocess.append(whitening.of(offset, W))
        except PreprocessingError as exc:
            raise self.fail(i, f"{marked}is not a whitening's ({exc})") from None
        self.layers.clear()
        self.weights.clear()

    def _scale_shift(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """x * scale + shift, a constant that training must not change: before any layer, a step of the model's
        fitted preprocessor that computes it as the nodes do; elsewhere (or with a scale <= 0) a frozen BatchNorm
        of variance 1, which fit runs in its evaluation form and does not train."""
        from .layers import BatchNorm
        from .preprocessing import MeanCenter, MinMaxScaler, PreprocessingError

        shift_only = bool(np.all(scale == 1))
        if not self.layers:
            try:  # x * scale exactly (MinMaxScaler.of), then x - (-shift), which is x + shift exactly: Mul, Add
                steps = [] if shift_only else [MinMaxScaler.of(scale)]
                self.preprocess.extend(steps + ([MeanCenter.of(-shift)] if shift_only or shift.any() else []))
                return
            except PreprocessingError:  # a scale <= 0 or subnormal, which a scaler does not hold
                pass
        mean = np.zeros(self.width)
        if shift_only:  # x - (-shift): compiling keeps an offset whose folding cancels digits (data far from the
            mean, shift = -shift, mean  # origin, as export's plan kept it), fastnn.cancellation
        # variance 1 and an eps that 1 + eps rounds away: the layer's 1 / sqrt(var + eps) is exactly 1 in both dtypes
        self.layers.append(BatchNorm(eps=1e-30, frozen=True))
        self.weights.append([scale, shift, mean, np.ones(self.width)])

    def _dense(self, i: int, W: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> None:
        """A Dense layer of W (width, n) and b, after which the chain's tensor has ``shape`` (of width n)."""
        from .layers import Dense

        if W.shape[0] != self.width:
            raise self.fail(i, f"weight of shape {W.shape} does not take the {self.width} features before it")
        self.layers.append(Dense(int(W.shape[1])))
        self.shape = tuple(int(d) for d in shape)
        self.weights.append([W, b])

    def check_output(self, value_info: Any) -> None:
        """The graph's declared output shape, where it gives one, is the chain's (batch, *shape)."""
        tt = value_info.type.tensor_type
        if not tt.HasField("shape"):
            return
        declared = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
        if len(declared) != len(self.shape) + 1 or any(d not in (None, c) for d, c in zip(declared[1:], self.shape)):
            raise OnnxImportError(f"{self.path}: the graph declares its output {value_info.name!r} of shape "
                                  f"{declared[:MAX_RANK + 1]}, its nodes compute {_shown(self.shape)}")


def _default_opset(path: str, model: Any) -> int:
    """The model's opset of the default ONNX domain, checked to lie in [MIN_OPSET, MAX_OPSET], after checking that
    every node is an op of that domain (not a function the model defines) which the opset holds."""
    versions = sorted({imp.version for imp in model.opset_import if imp.domain in DEFAULT_DOMAINS})
    if len(versions) != 1:
        raise OnnxImportError(f"{path}: the model declares {'no opset' if not versions else f'opsets {versions}'} "
                              "of the default ONNX domain ('' or 'ai.onnx'); fastnn imports models of one")
    opset = versions[0]
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise OnnxImportError(f"{path}: opset {opset} of the default ONNX domain: fastnn imports opsets {MIN_OPSET} "
                              f"to {MAX_OPSET}, whose ops it has been checked against (onnx.version_converter "
                              "converts a model to another opset)")
    functions = {f.name for f in model.functions if f.domain in DEFAULT_DOMAINS}
    for k, n in enumerate(model.graph.node):
        if n.domain not in DEFAULT_DOMAINS or n.op_type in functions:
            raise OnnxImportError(f"{path}: node {k} {n.name!r} (op {n.op_type}, domain {n.domain!r}): fastnn "
                                  "imports ops of the default ONNX domain ('' or 'ai.onnx') only"
                                  + (", not the model's own functions" if n.op_type in functions else ""))
        if _OP_SINCE.get(n.op_type, MIN_OPSET) > opset:
            raise OnnxImportError(f"{path}: node {k} {n.name!r} (op {n.op_type}): the default ONNX domain has it "
                                  f"from opset {_OP_SINCE[n.op_type]}; the model imports opset {opset}")
    return opset


def _whitening_gemms(path: str, model: Any) -> frozenset[str]:
    """The names of the Gemm nodes the file's metadata marks as a whitening (WHITENING_GEMMS_KEY, a JSON list of
    strings, as export writes it); none when the key is absent."""
    value = next((p.value for p in model.metadata_props if p.key == WHITENING_GEMMS_KEY), None)
    if value is None:
        return frozenset()
    try:
        names = json.loads(value)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise OnnxImportError(f"{path}: metadata {WHITENING_GEMMS_KEY!r} must be a JSON list of node names, got "
                              f"{value!r:.80}")
    return frozenset(names)


def load(path: str | os.PathLike[str]) -> Sequential:
    """A fastnn Sequential from an ONNX file (see the module docstring); its ``predict`` gives the graph's output."""
    path = os.fspath(path)
    model, size = _read(path)
    graph = model.graph
    opset = _default_opset(path, model)
    folder = os.path.dirname(os.path.realpath(path))
    consts = {t.name: _tensor(path, t, folder, size) for t in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            attr = {a.name: a for a in n.attribute}
            if "value" not in attr:
                raise OnnxImportError(f"{path}: Constant node {n.name!r} without a tensor value is not supported")
            consts[n.output[0]] = _tensor(path, attr["value"].t, folder, size)
    inputs = [v for v in graph.input if v.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise OnnxImportError(f"{path}: fastnn imports graphs with one input and one output, got "
                              f"{len(inputs)} and {len(graph.output)}")
    tt = inputs[0].type.tensor_type
    if tt.elem_type not in (1, 11):
        raise OnnxImportError(f"{path}: input {inputs[0].name!r} has element type {tt.elem_type}; fastnn runs "
                              "float and double")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    if not 2 <= len(dims) <= MAX_RANK or any(d is None or d < 1 for d in dims[1:]):
        raise OnnxImportError(f"{path}: input shape {dims[:MAX_RANK + 1]} is not (batch, features...) with known "
                              f"features, of rank at most {MAX_RANK}")
    n_features = math.prod(int(d or 0) for d in dims[1:])
    # width-sized arrays are built for it (a Mul by a scalar, BatchNormalization parameters of shape (1,)): bounded
    # like a plan file's width unless a tensor of the file backs it
    if not width_allowed(n_features, consts.values()):
        raise OnnxImportError(f"{path}: input {inputs[0].name!r} of shape {dims} declares {n_features} features, "
                              f"more than any tensor in the file holds, and more than the {MAX_FREE_WIDTH} fastnn "
                              "takes without one")
    chain = _Chain(path, graph, consts, tuple(int(d or 0) for d in dims[1:]), opset, tt.elem_type,
                   _whitening_gemms(path, model))
    chain.walk(inputs[0].name, graph.output[0].name)
    chain.check_output(graph.output[0])
    if not chain.layers and chain.preprocess:  # a graph that only scales its input: that, then the identity
        from .layers import Dropout

        chain.layers.append(Dropout(0.0))
        chain.weights.append([])
    if not chain.layers:
        raise OnnxImportError(f"{path}: the graph has no layer fastnn can run (no Gemm, MatMul or activation)")
    dtype = "float32" if tt.elem_type == 1 else "float64"
    seq = Sequential(chain.layers, input_dim=n_features, dtype=dtype, loss="cross_entropy" if chain.softmax else None,
                     preprocess=chain.preprocess[0] if len(chain.preprocess) == 1 else chain.preprocess or None)
    try:
        seq.set_weights([np.asarray(w, dtype) for ws in chain.weights for w in ws])
    except ValueError as exc:
        raise OnnxImportError(f"{path}: the graph's weights do not fit a chain of layers ({exc})") from None
    return seq


__all__ = ["OnnxImportError", "export", "load", "ModelFileError", "MIN_OPSET", "MAX_OPSET"]
