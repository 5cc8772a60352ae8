"""The inference program (kernels in csrc/infer.c): a compiled forward pass run in one C call.

A :class:`Program` is a list of :class:`ProgramLayer` in the plain layout (Dense W of shape (in, out)), checked
once and turned into the kernel's layout: Dense weights packed into panels of ``panel_width(dtype)`` columns,
each an aligned contiguous (in, panel) block, bias padded to match (csrc/infer.h). The plain arrays stay too:
the BLAS path of large batches multiplies by them (``epilogue`` then applies the rest of the layer), and the
kernel's batch-1 row GEMV reads them (kept 64-byte aligned, each row padded to whole cache lines, for it).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .._config import check_gil_spin, explicit_threads, gil_spin_default, threads_for
from .._ext import infer as _infer
from ._checks import FLOAT_DTYPES, apart, out_array, real_array, resolve_threads, writeable

# scalar helpers (codes, sizes, the SIMD cap): no kernel, no threads; every other function is a kernel entry point
# one_call builds a callable (no arrays in): what it runs is forward's kernel, checked by forward's twin
HELPERS = ("panel_width", "simd_level", "set_simd_cap", "set_skip_zeros", "set_gil_spin", "gil_spin", "one_call")

KINDS = {"dense": 0, "scale_shift": 1, "layernorm": 2, "activation": 3, "center": 4, "center_std": 5}
ACTIVATIONS = {"identity": 0, "relu": 1, "leaky_relu": 2, "sigmoid": 3, "tanh": 4, "gelu": 5}  # csrc/dense.h
OUTPUTS = {"none": 0, "softmax": 1, "sigmoid": 2}


@dataclasses.dataclass(frozen=True, eq=False)
class ProgramLayer:
    """One step of a program. ``dense``: y = act(x @ w + b), w (in, out), b (out,). ``scale_shift``:
    y = act(x * w + b) per feature. ``layernorm``: y = act((x - mean) / sqrt(var + eps) * w + b) over each row
    (w, b None: no affine). ``activation``: y = act(x). ``center``: y = act(x - mean) over each row (the mean
    summed in double, rounded to the dtype once). ``center_std``: y = act((x - mean) / std) over each row, std the
    population one, 1 where it is 0, all in double and rounded once, the sums over the deviations from the row's
    first value: a constant row maps to 0 exactly, a nearly constant one to within rounding of its spread
    (SampleCenter(with_std=True)). ``alpha``: LeakyReLU's slope."""
    kind: str
    activation: str = "identity"
    w: np.ndarray | None = None
    b: np.ndarray | None = None
    alpha: float = 0.01
    eps: float = 1e-5
    width: int = 0  # the row width of a layer without w (activation, center[_std], layernorm without affine)

    @property
    def n_in(self) -> int:
        return int(self.w.shape[0]) if self.w is not None else self.width

    @property
    def n_out(self) -> int:
        return int(self.w.shape[-1]) if self.w is not None else self.width


def panel_width(dtype) -> int:
    """Columns per packed panel (csrc/infer.h FNN_INFER_PANEL_BYTES)."""
    return int(_infer.PANEL_BYTES) // np.dtype(dtype).itemsize


def _aligned_empty(n: int, dtype: np.dtype, align: int | None = None) -> np.ndarray:
    """n elements starting at a multiple of ``align`` bytes (default the panel size: one panel row is whole cache
    lines)."""
    align = int(_infer.PANEL_BYTES) if align is None else align
    raw = np.empty(n * dtype.itemsize + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n * dtype.itemsize].view(dtype)


def _row_layout(w: np.ndarray) -> np.ndarray:
    """W (in, out) in a 64-byte aligned buffer whose rows are padded with zeros to whole cache lines: the batch-1
    row GEMV reads it (csrc/infer.h ``w_rows``, ``ld_rows``). Returns the (in, out) view; ``.strides[0]`` is the
    padded row."""
    n_in, n_out = w.shape
    ld = -(-n_out * w.dtype.itemsize // 64) * 64 // w.dtype.itemsize
    rows = _aligned_empty(n_in * ld, w.dtype, 64).reshape(n_in, ld)
    rows[:, n_out:] = 0
    rows[:, :n_out] = w
    return rows[:, :n_out]


def _pack(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W (in, out) -> panels (n_panels, in, P) zero-padded, and b padded to n_panels * P."""
    n_in, n_out = w.shape
    p = panel_width(w.dtype)
    n_panels = -(-n_out // p)
    packed = _aligned_empty(n_panels * n_in * p, w.dtype).reshape(n_panels, n_in, p)
    padded = np.zeros((n_in, n_panels * p), w.dtype)
    padded[:, :n_out] = w
    packed[...] = padded.reshape(n_in, n_panels, p).transpose(1, 0, 2)
    bias = np.zeros(n_panels * p, w.dtype)
    bias[:n_out] = b
    return packed, bias


class Program:
    """A checked program over one dtype and its compiled form; immutable once built (shared by threads)."""

    def __init__(self, layers: list[ProgramLayer], dtype) -> None:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"program dtype must be float32 or float64, got {dtype}")
        if not layers:
            raise ValueError("a program needs at least one layer")
        self.dtype, self.layers = dtype, list(layers)
        compiled, width = [], None
        for i, layer in enumerate(self.layers):
            entry, self.layers[i] = self._compile_layer(i, layer, width)
            compiled.append(entry)
            width = layer.n_out
        self.n_in, self.n_out = self.layers[0].n_in, self.layers[-1].n_out
        self.widest = max((layer.n_out for layer in self.layers[:-1]), default=0)
        self._keep = compiled  # the arrays the packed structs point into
        self._program = _infer.pack_program(compiled)

    def _compile_layer(self, i: int, layer: ProgramLayer, width: int | None) -> tuple[tuple, ProgramLayer]:
        """(the kernel's entry for the layer, the layer; a dense layer's w replaced by its aligned copy with padded
        rows, which the row GEMV reads: that copy then serves every reader of w, no second one is kept)."""
        where = f"program layer {i} ({layer.kind})"
        if layer.kind not in KINDS:
            raise ValueError(f"{where}: unknown kind; expected one of {sorted(KINDS)}")
        if layer.activation not in ACTIVATIONS:
            raise ValueError(f"{where}: unknown activation {layer.activation!r}; expected one of {sorted(ACTIVATIONS)}")
        for name in ("w", "b"):
            a = getattr(layer, name)
            if a is not None:
                # a dense layer's arrays are copied into the kernel's layouts, so any strides do
                real_array(f"{where} {name}", a, dtype=self.dtype, contiguous=layer.kind != "dense")
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"{where}: {name} holds NaN or inf")
        w, b, w_rows, ld_rows = layer.w, layer.b, None, 0
        if layer.kind == "dense":
            if w is None or w.ndim != 2 or b is None or b.shape != (w.shape[1],):
                raise ValueError(f"{where}: needs w (in, out) and b (out,)")
            w_rows = _row_layout(w)
            ld_rows = w_rows.strides[0] // w_rows.itemsize
            w, b = _pack(w, b)
        elif layer.kind == "scale_shift" or (layer.kind == "layernorm" and w is not None):
            if w is None or b is None or w.ndim != 1 or b.shape != w.shape:
                raise ValueError(f"{where}: needs w and b of one shape (features,)")
        elif w is not None or b is not None:
            raise ValueError(f"{where}: takes no arrays (layernorm: both or neither)")
        if layer.n_in < 1 or layer.n_out < 1:
            raise ValueError(f"{where}: sizes must be >= 1, got {layer.n_in} -> {layer.n_out}")
        if width is not None and layer.n_in != width:
            raise ValueError(f"{where}: takes {layer.n_in} features, the previous layer gives {width}")
        entry = (KINDS[layer.kind], ACTIVATIONS[layer.activation], layer.n_in, layer.n_out, w, b, w_rows, ld_rows,
                 float(layer.alpha), float(layer.eps))
        return entry, layer if w_rows is None else dataclasses.replace(layer, w=w_rows)

    def scratch_size(self, rows: int) -> int:
        """Elements of scratch ``forward`` needs for ``rows`` rows: two buffers of ``rows`` x the widest hidden
        layer, which the layers take in turn (see :meth:`scratch_buffers`)."""
        return 2 * rows * self.widest

    def scratch_buffers(self, scratch: np.ndarray | None, rows: int) -> list[np.ndarray]:
        """The two buffers of ``scratch`` (sized by :meth:`scratch_size`) for a call of ``rows`` rows: hidden
        layer i writes buffer i % 2 (none when the program has no hidden layer)."""
        size = rows * self.widest
        return [] if scratch is None else [scratch[:size], scratch[size:2 * size]]

    def __reduce__(self):
        return type(self), (self.layers, self.dtype)


def _check_x(program: Program, x: np.ndarray, name: str = "x", width: int | None = None) -> None:
    real_array(name, x, ndim=2, dtype=program.dtype)
    want = program.n_in if width is None else width
    if x.shape[1] != want:
        raise ValueError(f"{name} must have {want} columns, got shape {x.shape}")


def forward(program: Program, x: np.ndarray, y_out: np.ndarray, scratch: np.ndarray | None, output: str = "none",
            n_threads: int | None = None, check_args: bool = True) -> np.ndarray:
    """y_out = the program applied to the rows of x, then the output map (``"none"``, ``"softmax"`` over each
    row, ``"sigmoid"``), in one C call without the GIL. ``scratch``: at least ``program.scratch_size(rows)``
    elements of the program's dtype (None when that is 0). A ValueError when x holds NaN or inf.
    ``check_args=False`` skips the argument checks, for a caller that made them (an InferencePlan: a batch-1 call
    costs microseconds, and they are a third of them)."""
    rows = x.shape[0]
    if check_args:
        _check_x(program, x)
        out_array("y_out", y_out, (rows, program.n_out), program.dtype)
        need = program.scratch_size(rows)
        if need:
            scratch = real_array("scratch", scratch, ndim=1, dtype=program.dtype)
            if scratch.size < need:
                raise ValueError(f"scratch must hold {need} elements for {rows} rows, got {scratch.size}")
            writeable("scratch", scratch)
        _check_apart(x, y_out, scratch if need else None)
    if rows == 0:
        return y_out
    threads = 1 if n_threads == 1 else explicit_threads(n_threads) if n_threads else threads_for(0)
    if _infer.forward(program._program, x, y_out, scratch, OUTPUTS[output], threads):
        raise ValueError("x contains NaN or infinite values")
    return y_out


def _check_apart(x: np.ndarray, y_out: np.ndarray, scratch: np.ndarray | None) -> None:
    """The kernel writes y_out and scratch while it still reads x (and scratch's layers while it writes y_out):
    overlapping buffers gave wrong outputs without a word."""
    apart("y_out", y_out, x=x)
    if scratch is not None:
        apart("scratch", scratch, x=x, y_out=y_out)


def one_call(program: Program, max_rows: int) -> _infer.OneCall:
    """A callable ``f(X, out, scratch, scratch_rows, output_code, n_threads, in_flight)`` running calls of at most
    ``max_rows`` rows, and of at most the ``scratch_rows`` its scratch holds, with its own argument tests in C
    (forward's checks, for exactly the arrays the kernel reads; it returns None for anything else, which takes
    the checked path). A batch-1 call of a plan costs about a microsecond,
    most of it the checks and calls of the Python path."""
    return _infer.OneCall(program._program, np.dtype(program.dtype).num, program.n_in, program.n_out, max_rows,
                          program.widest)


def all_finite(x: np.ndarray, n_threads: int | None = None) -> bool:
    """True when every element of the float array x is finite (one vectorized C scan)."""
    real_array("x", x)
    return _infer.all_finite(x)


def epilogue(program: Program, index: int, x: np.ndarray, y_out: np.ndarray, n_threads: int | None = None
             ) -> np.ndarray:
    """Layer ``index`` after its matmul: for a dense layer y_out = act(x + b), x = the rows times w (y_out may
    be x); for any other kind the whole layer applied to x."""
    if not 0 <= index < len(program.layers):
        raise ValueError(f"index must lie in [0, {len(program.layers)}), got {index}")
    layer = program.layers[index]
    _check_x(program, x, width=layer.n_out if layer.kind == "dense" else layer.n_in)
    out_array("y_out", y_out, (x.shape[0], layer.n_out), program.dtype)
    # ``is`` first: the plan's in-place call (epilogue(..., dst, dst)) then builds no ctypes objects (~1.6 us)
    in_place = y_out is x or (y_out.ctypes.data == x.ctypes.data and y_out.shape == x.shape)
    if not in_place and np.may_share_memory(y_out, x):  # a shifted overlap overwrites rows it has still to read
        raise ValueError("y_out must be x itself or not overlap it")
    _infer.epilogue(program._program, index, x, y_out, resolve_threads(n_threads, x.size))
    return y_out


def output_map(y: np.ndarray, output: str = "none", n_threads: int | None = None) -> np.ndarray:
    """y mapped in place: softmax over each row, an elementwise sigmoid, or left as it is."""
    out_array("y", y, y.shape, y.dtype)
    if y.ndim != 2:
        raise ValueError(f"y must be 2-D, got shape {y.shape}")
    _infer.output_map(y, OUTPUTS[output], resolve_threads(n_threads, y.size))
    return y


def simd_level() -> int:
    """The SIMD level the dense panels run at: 0 SSE2, 1 AVX2, 2 AVX-512 (capped by ``set_simd_cap``)."""
    return int(_infer.simd_level())


def set_simd_cap(max_level: int) -> None:
    """Cap the SIMD level (tests compare the levels; benchmarks measure them)."""
    _infer.simd_set_cap(int(max_level))


def set_skip_zeros(on: bool) -> bool:
    """Whether the batch-1 row GEMV skips the weight rows of zero inputs (True, the default) or reads them
    (False): the result is the same; tests compare the two, benchmarks measure them. Returns the setting
    before."""
    return bool(_infer.skip_zeros(int(bool(on))))


def gil_spin() -> float:
    """The GIL spin's bound in microseconds (``set_gil_spin``)."""
    return _infer.gil_spin(-1) / 1000


def set_gil_spin(us: float) -> float:
    """Set how many microseconds a thread whose plan call has finished may spin for another calling thread to
    release the GIL before it waits for it the usual way (0: never spin; csrc/infer.c, "The GIL hand-off"). Results
    do not change, only who waits how. Returns the bound before, in microseconds. A build without the hand-off (a
    C runtime without a fine clock) takes 0 only."""
    us = check_gil_spin(us, "the GIL spin (microseconds)")
    if us and not _infer.gil_spin_supported():
        raise ValueError("this build of fastnn has no GIL hand-off (its C runtime has no fine clock): the spin "
                         "stays 0")
    return _infer.gil_spin(round(us * 1000)) / 1000


if _infer.gil_spin_supported():
    set_gil_spin(gil_spin_default())
