"""Fold a trained model for inference: BatchNorm merged into the adjacent Dense layers, Dropout removed.

In evaluation mode a BatchNorm is a fixed per-feature affine map, ``bn(z) = z * s + t`` with
``s = gamma / sqrt(running_var + eps)`` and ``t = beta - running_mean * s``. Next to a Dense ``z = x W + b``
it disappears into the Dense's weights (computed in float64, then cast to the model dtype):

    Dense -> BatchNorm   (the Dense has no activation):  W' = W * s (each column j times s_j),  b' = b * s + t
    BatchNorm -> Dense   (any activation on the Dense):   W' = s[:, None] * W (row i times s_i),  b' = t @ W + b

An affine preprocessor (``transform(X) == (X - m) @ A + c``: the scalers, centering, PCA/ZCA whitening; ``m``
the offset it subtracts first, see ``Preprocessor.centered_affine``) folds into the first Dense the same way:
``W' = A @ W``, ``b' = (c - m @ A) @ W + b``, and the folded model takes raw rows with no preprocessor
(``fold(model, preprocess=False)`` keeps it instead). Folding an offset into the bias trades ``x_k - m_k`` for
terms ``x_k A_kj`` that the bias cancels: on data far from the origin (mean 100, std 1e-3: terms 1e5 times the
outputs) float32 would lose that many digits. So a feature whose cancellation (fastnn.cancellation) exceeds
``KEEP_OFFSET_ABOVE`` keeps its offset: the folded model subtracts it first (a MeanCenter holding those offsets,
zeros elsewhere, so a zero input stays zero where nothing is kept) and only the rest folds into the bias; a
later step of a Pipeline whose own offset would cancel so (a shift after a scale) is folded from, the steps
before it kept as they are. A step that is not affine, or that subtracts each row's own mean (SampleCenter: its
cancellation depends on the rows), does not fold: the folded model keeps it and everything before it, and folds
the steps after it. The folded weights are formed in float64 and cast to the model dtype.

A Dense with an activation followed by a BatchNorm cannot absorb it (the BN acts after the nonlinearity), so
the BatchNorm is folded forward into the next Dense when there is one, unless its running mean would cancel
digits there (fastnn.cancellation.offset_cancels: a BatchNorm normalizing raw features far from the origin).
Dropout is the identity in evaluation and is dropped. A BatchNorm with no Dense to fold into (e.g. the last
layer right after an activation) stays; in evaluation mode it costs one fused pass. Predictions of the folded
model equal the original's (evaluation mode) up to float rounding.
"""
from __future__ import annotations

import copy

import numpy as np

from .cancellation import KEEP_OFFSET_ABOVE, cancellation, offset_cancels
from .layers.dense import Dense
from .layers.dropout import Dropout
from .layers.norm import BatchNorm
from .preprocessing.pipeline import Pipeline
from .preprocessing.scalers import MeanCenter

F64 = np.float64


class _Item:
    """One layer of the folded model under construction: its config and its arrays (float64, by name)."""

    def __init__(self, config: dict, arrays: dict, layer):
        self.config, self.arrays, self.layer = config, arrays, layer

    @property
    def is_dense(self) -> bool:
        return isinstance(self.layer, Dense)


def _foldable(step) -> bool:
    """Whether a preprocessor step can fold into a Dense: affine, with no offset of its own per row."""
    return step.centered_affine() is not None and not step.row_centering


def _offset_cancels(step) -> bool:
    """Whether folding a (foldable) step's own offset into a bias would cancel digits (fastnn.cancellation)."""
    m, A, _ = (np.asarray(a, F64) for a in step.centered_affine())
    return bool(np.any(cancellation(m, A) > KEEP_OFFSET_ABOVE))


def _fold_preprocessor(pre, dense: _Item) -> list | None:
    """Fold the steps after the last one that cannot fold into ``dense``, or from a later step whose own offset
    would cancel digits (a shift after a scale, as fastnn.onnx.load imports x * scale + shift: the steps before
    it stay as they are); return the steps the folded model still runs (those, then a MeanCenter of the offsets
    kept apart), or None when no step folds."""
    steps = list(getattr(pre, "steps", [pre]))
    cut = max((i + 1 for i, s in enumerate(steps) if not _foldable(s)), default=0)
    cut = max((i for i, s in enumerate(steps) if i > cut and _offset_cancels(s)), default=cut)
    if cut == len(steps):
        return None
    centred = Pipeline(steps[cut:]).centered_affine()  # one step: that step's own
    m, A, c = (np.asarray(a, F64) for a in centred)  # type: ignore[union-attr]  # affine: _foldable
    keep = cancellation(m, A) > KEEP_OFFSET_ABOVE  # per feature: zero inputs stay zero where folded
    _fold_into_next(dense, A, c - np.where(keep, 0.0, m) @ A)
    return steps[:cut] + ([MeanCenter.of(np.where(keep, m, 0.0))] if keep.any() else [])


def _layer_config(layer) -> dict:
    try:
        return dict(layer.get_config())
    except ValueError:  # a Dense with a custom init callable cannot describe itself; the folded weights replace it
        portable = copy.copy(layer)
        portable.init = "auto"
        return dict(portable.get_config())


def _items(model) -> list[_Item]:
    items = []
    for layer in model.layers:
        arrays = {name: np.array(model._layer_array(layer, name), dtype=F64) for name in layer.weight_names()}
        config = _layer_config(layer)
        items.append(_Item(config, arrays, layer))
    return items


def _fold_into_previous(dense: _Item, scale: np.ndarray, shift: np.ndarray) -> None:
    """Dense (no activation) followed by the affine map z * scale + shift."""
    W = dense.arrays["W"]
    b = dense.arrays.get("b", np.zeros(W.shape[1]))
    dense.arrays = {"W": W * scale[None, :], "b": b * scale + shift}
    dense.config["use_bias"] = True


def _fold_into_next(dense: _Item, scale: np.ndarray, shift: np.ndarray) -> None:
    """The affine map x * scale + shift followed by the Dense (scale: a vector, or a matrix A for x @ A)."""
    W = dense.arrays["W"]
    b = dense.arrays.get("b", np.zeros(W.shape[1]))
    W_new = scale @ W if scale.ndim == 2 else scale[:, None] * W
    dense.arrays = {"W": W_new, "b": shift @ W + b}
    dense.config["use_bias"] = True


def fold(model, preprocess: bool = True):
    """Return a new model for inference: every foldable BatchNorm merged into a neighbouring Dense, Dropout
    layers removed and, with ``preprocess``, an affine preprocessor merged into the first Dense (see the module
    docstring). The original model is not changed. The new model keeps the dtype, seed and loss.

    Works on the model's interface (``layers``, ``state_arrays``, ``config_with_layers``, ``from_config``)
    and imports no model class, so ``Sequential.fold`` can call it without an import circle."""
    if not isinstance(getattr(model, "layers", None), list) or not callable(getattr(type(model), "from_config", None)):
        raise TypeError(f"fold expects a fastnn Sequential model, got {type(model).__name__}")
    if not model.built:
        raise ValueError("cannot fold a model that is not built (no weights yet): fit it or pass input_dim=")
    items = [it for it in _items(model) if not isinstance(it.layer, Dropout)]
    if not items:  # a model of dropout layers only: it is the identity, keep it as it is
        items = _items(model)

    out: list[_Item] = []
    pending: _Item | None = None  # a BatchNorm waiting for the next Dense
    for it in items:
        if pending is not None:
            if it.is_dense and not offset_cancels(pending.layer):
                _fold_into_next(it, *pending.layer.scale_shift())
                pending = None
                out.append(it)
                continue
            out.append(pending)  # no Dense right after the BatchNorm: it stays a layer
            pending = None
        if isinstance(it.layer, BatchNorm):
            prev = out[-1] if out else None
            if prev is not None and prev.is_dense and prev.config.get("activation", "identity") == "identity":
                _fold_into_previous(prev, *it.layer.scale_shift())
            else:
                pending = it
            continue
        out.append(it)
    if pending is not None:
        out.append(pending)

    pre = getattr(model, "preprocess", None)
    kept = None  # the preprocessor steps the folded model still runs, when some fold
    if preprocess and pre is not None and getattr(pre, "n_features_in_", None) is not None and out[0].is_dense:
        kept = _fold_preprocessor(pre, out[0])
    config = model.config_with_layers([it.config for it in out])
    arrays = model.state_arrays()
    if kept is not None:  # the new model takes raw rows through what is kept of the preprocessor
        arrays = {k: v for k, v in arrays.items() if not k.startswith("preprocess.")}
        config["input_dim"] = int(model.n_features_in)
        del config["preprocess"]
        if kept:
            new = kept[0] if len(kept) == 1 else Pipeline(kept)
            config["preprocess"] = new.get_config()
            config["input_dim"] = new.n_features_out_  # the first layer's width: a kept PCA may narrow the rows
            arrays.update({f"preprocess.{k}": v for k, v in new.state_arrays().items()})
    folded = type(model).from_config(config, arrays)
    folded.classes_ = model.classes_  # the labels as they are (the config's JSON list would make object strings <U)
    if not folded.built:
        folded.build(config["input_dim"])
    weights = []
    for it, layer in zip(out, folded.layers):
        for name in layer.weight_names():
            weights.append(it.arrays[name])
    folded.set_weights(weights)
    return folded
