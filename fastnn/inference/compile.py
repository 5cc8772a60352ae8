"""compile(model) -> InferencePlan: fold the model, then translate its layers into a program.

Works on the model's interface (``layers``, ``loss``, ``preprocess``, ``fold``), like fastnn.fold, and imports
no model class or training code. Steps:

1. ``fastnn.fold.fold(model)``: BatchNorm into the adjacent Dense, Dropout gone, an affine preprocessor into the
   first Dense (the weights are formed in float64, then cast) but for the offsets whose folding would cancel
   digits, which stay a MeanCenter (the scale-shift step of 2.);
2. what fold left of the preprocessor (all of it when no Dense comes first) becomes the first steps, one
   preprocessor step at a time: a SampleCenter as a center step (center_std with ``with_std``); else its offset
   subtracted, then a per-feature scale-shift when its matrix is diagonal (the scalers) or a dense step
   (whitening); any other non-affine one is an error;
3. each layer: Dense -> dense (bias and activation fused; an activation layer the model fused into it is
   skipped), BatchNorm left after folding -> scale-shift, LayerNorm -> layernorm, an activation layer -> fused
   into the step before when that one has none, else an activation step;
4. the output map of the model's loss: softmax (cross_entropy), sigmoid (binary_cross_entropy), none (mse, no
   loss). A custom loss's output map cannot be compiled: a ValueError says so.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._version import __version__
from ..cancellation import offset_cancels
from ..ops.infer import ProgramLayer
from .plan import InferencePlan

_OUTPUT_MAPS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid", "mse": "none"}


def _output_map(loss: Any) -> str:
    if loss is None:
        return "none"
    name = getattr(loss, "name", None)
    if type(loss).__module__ != "fastnn.losses" or name not in _OUTPUT_MAPS:
        raise ValueError(f"cannot compile the output map of the custom loss {type(loss).__name__}; set the model's "
                         f"loss to one of {sorted(_OUTPUT_MAPS)} (or None for raw outputs) before compiling")
    return _OUTPUT_MAPS[name]


def _offset_step(m: np.ndarray, dtype: np.dtype) -> ProgramLayer:
    """x - m as a scale-shift step, x * 1 + (-m): the same rounding as the subtraction."""
    return ProgramLayer("scale_shift", w=np.ones(m.shape, dtype), b=(-m).astype(dtype))


def _preprocess_steps(pre: Any, dtype: np.dtype) -> list[ProgramLayer]:
    """(X - m) @ A + c as the preprocessor computes it: the offset m subtracted first where it has one, then a
    scale-shift (diagonal A) or a dense step, which is left out when it is the identity (a MeanCenter)."""
    centred = pre.centered_affine()
    if centred is None:
        raise ValueError(f"cannot compile the preprocessor {type(pre).__name__}: it is not affine")
    m, A, c = (np.asarray(a, np.float64) for a in centred)
    steps = [_offset_step(m, dtype)] if m.any() else []
    if A.shape[0] == A.shape[1] and np.count_nonzero(A - np.diag(np.diag(A))) == 0:
        if steps and not c.any() and np.all(np.diag(A) == 1):
            return steps
        return steps + [ProgramLayer("scale_shift", w=np.diag(A).astype(dtype), b=c.astype(dtype))]
    return steps + [ProgramLayer("dense", w=np.ascontiguousarray(A, dtype), b=c.astype(dtype))]


def _array(layer: Any, name: str, dtype: np.dtype) -> np.ndarray:
    src = layer.params[name] if name in layer.params else layer.buffers[name]
    return np.array(src, dtype=dtype, order="C")  # an owned copy: the plan never sees later training


def _layer_steps(model: Any, dtype: np.dtype) -> list[ProgramLayer]:
    from ..layers.activations import Activation
    from ..layers.dense import Dense
    from ..layers.dropout import Dropout
    from ..layers.norm import BatchNorm, LayerNorm

    steps: list[ProgramLayer] = []
    for i, layer in enumerate(model.layers):
        if layer.fused_into_previous:
            continue
        if isinstance(layer, Dense):
            b = _array(layer, "b", dtype) if layer.use_bias else np.zeros(layer.units, dtype)
            steps.append(ProgramLayer("dense", layer.runtime_activation, _array(layer, "W", dtype), b,
                                      alpha=float(layer.alpha)))
        elif isinstance(layer, BatchNorm):
            if offset_cancels(layer):  # (x - mean) * scale + beta, as the layer computes it
                mean, scale, beta = layer.centered_scale_shift()
                steps.append(_offset_step(mean, dtype))
                if np.any(scale != 1) or beta.any():  # not a pure shift (as fastnn.onnx.load imports one)
                    steps.append(ProgramLayer("scale_shift", w=scale.astype(dtype), b=beta.astype(dtype)))
            else:
                scale, shift = layer.scale_shift()
                steps.append(ProgramLayer("scale_shift", w=scale.astype(dtype), b=shift.astype(dtype)))
        elif isinstance(layer, LayerNorm):
            affine = layer.elementwise_affine
            steps.append(ProgramLayer("layernorm", w=_array(layer, "gamma", dtype) if affine else None,
                                      b=_array(layer, "beta", dtype) if affine else None, eps=float(layer.eps),
                                      width=0 if affine else layer.built_in_dim))
        elif isinstance(layer, Activation):
            prev = steps[-1] if steps else None
            if prev is not None and prev.kind != "dense" and prev.activation == "identity":
                steps[-1] = ProgramLayer(prev.kind, layer.activation, prev.w, prev.b, float(layer.alpha), prev.eps,
                                         prev.width)
            else:
                steps.append(ProgramLayer("activation", layer.activation, alpha=float(layer.alpha),
                                          width=layer.built_in_dim))
        elif isinstance(layer, Dropout):  # the identity at inference; fold keeps it only as a model's one layer
            continue
        else:
            raise TypeError(f"cannot compile layer {i} ({type(layer).__name__}): a plan runs Dense, BatchNorm, "
                            "LayerNorm, Dropout and the activation layers")
    if not steps:  # nothing but Dropout: the plan is the identity
        steps.append(ProgramLayer("activation", "identity", width=model.layers[0].built_in_dim))
    return steps


def compile(model: Any, *, threads: int = 1, small_batch_max: int | None = None,
            block_rows: int | None = None) -> InferencePlan:
    """An :class:`InferencePlan` computing ``model.predict`` (see the module docstring). The model is not
    changed and later training does not reach the plan (it holds copies). ``threads``: threads of the one-call
    C path (calls under ``THREADED_MIN_MACS`` multiply-adds stay on one); a second thread halves batch-1 latency
    for calls back to back (the pool's threads still spin from the previous call) and costs ~100 us to wake once
    asleep, so the default is 1; the gemm blocks above ``small_batch_max`` use ``fastnn.set_num_threads``'s.
    ``block_rows``: rows per kernel call or gemm block (default 256); a thread's scratch grows with the rows of
    its calls up to it, so a large value (no blocking) costs memory only on calls that large. ``threads`` is at
    most ``fastnn.inference.plan.MAX_THREADS`` (1024). Pickles and plan files (``plan.save``) keep these options
    (``plan.run_options``); ``small_batch_max`` left to the plan is resolved again by the CPU that loads it."""
    if not callable(getattr(model, "fold", None)) or not isinstance(getattr(model, "layers", None), list):
        raise TypeError(f"compile expects a fastnn Sequential model, got {type(model).__name__}")
    if not getattr(model, "built", False):
        raise ValueError("cannot compile a model that is not built (no weights yet): fit it or pass input_dim=")
    output = _output_map(model.loss)
    folded = model.fold()
    dtype = np.dtype(folded.dtype)
    steps = []
    if folded.preprocess is not None:
        for step in getattr(folded.preprocess, "steps", [folded.preprocess]):
            if step.row_centering or step.row_standardizing:
                kind = "center" if step.row_centering else "center_std"
                steps.append(ProgramLayer(kind, width=int(step.n_features_in_)))
            else:
                steps += _preprocess_steps(step, dtype)
    steps += _layer_steps(folded, dtype)
    info = {"loss": model.loss.name if model.loss is not None else None, "fastnn_version": __version__,
            "source_layers": [type(layer).__name__ for layer in model.layers],
            "preprocess": type(model.preprocess).__name__ if model.preprocess is not None else None,
            "step_count": int(getattr(model, "step_count", 0) or 0)}
    options: dict[str, Any] = {"threads": threads}
    if small_batch_max is not None:
        options["small_batch_max"] = small_batch_max
    if block_rows is not None:
        options["block_rows"] = block_rows
    return InferencePlan(steps, dtype, output, info, classes=model.classes_, **options)
